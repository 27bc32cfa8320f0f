/**
 * The one contract every TokenStore passes. Each store's test file calls
 * `describeStoreContract(name, factory)` with a factory that opens the store on a fresh, empty database.
 *
 * The factory returns a harness rather than a bare store, so that stores reached through another layer (Supabase
 * through PostgREST under nock) can take part: they provide what they can (a second instance, the database clock)
 * and name the cases they cannot run in `options.skip`, with the reason, which the test name then shows.
 */
import { LEGACY_MARKER_PROVIDER, RESERVED_PREFIX } from '../../engine/authorization';
import {
	ConnectionExistsError,
	ConnectionNotFoundError,
	VersionConflictError,
} from '../../engine/errors';
import type { TokenStore } from '../../engine/store';
import {
	NO_FAILURES,
	reportedStatus,
	type ConnectionFields,
	type ConnectionQuery,
	type NewConnection,
	type StoredConnection,
} from '../../engine/types';
import { sleep } from '../../tools/sleep';

export interface StoreHarness {
	/** The store under test, on an empty table. Every case uses its own connection ids. */
	store: TokenStore;
	/** Another store on the same data, as a second n8n process would open it. */
	openSecond?(): Promise<TokenStore>;
	/** The database server's clock (`now()`), to show leases follow it. */
	databaseNow?(): Promise<Date>;
	/**
	 * Writes `grantType` into the row's grant_type column as it is, bypassing the engine's types: what a newer version
	 * of the node, knowing more grant types, may leave in a shared table.
	 */
	writeRawGrantType?(connectionId: string, grantType: string): Promise<void>;
	/** Closes every store the harness opened and drops the database. */
	teardown(): Promise<void>;
}

export type StoreHarnessFactory = () => Promise<StoreHarness>;

export type ContractCase =
	| 'verifySchema'
	| 'absent'
	| 'getMany'
	| 'getManyChunks'
	| 'roundTrip'
	| 'insertConflict'
	| 'reauthorization'
	| 'partialUpdate'
	| 'updateAbsent'
	| 'isolation'
	| 'versionConflict'
	| 'concurrentWriters'
	| 'updateClearsLease'
	| 'lease'
	| 'leaseAbsent'
	| 'leaseRace'
	| 'leaseExpiry'
	| 'leaseDatabaseTime'
	| 'leaseClientClock'
	| 'secondInstance'
	| 'bigUnicodeTokens'
	| 'awkwardIds'
	| 'tooLongId'
	| 'delete'
	| 'deleteExpired'
	| 'identity'
	| 'consumeState'
	| 'consumeStateRace'
	| 'deleteStates'
	| 'deleteExpiredStates'
	| 'lifecycleFields'
	| 'lifecycleDefaults'
	| 'unknownGrantType'
	| 'listOrder'
	| 'listPages'
	| 'listReserved'
	| 'listStatus'
	| 'listProviderAndPrefix'
	| 'listContains'
	| 'listDue'
	| 'listDueCooldown'
	| 'listCombined';

export interface StoreContractOptions {
	/** Cases this store cannot run, each with the reason (shown in the skipped test's name). */
	skip?: Partial<Record<ContractCase, string>>;
	/** Lease TTL for the expiry case; long enough for two round trips to the database (default 400 ms). */
	shortLeaseMs?: number;
}

let sequence = 0;
/** A connection id no other case uses. */
export function freshId(label: string): string {
	sequence += 1;
	return `contract:${label}:${sequence}:${process.pid}`;
}

/** A JWT-shaped string of at least `bytes` characters, as big provider access tokens are. */
export function bigToken(bytes = 4096, tag = 'x'): string {
	const b64 = (text: string) => Buffer.from(text).toString('base64url');
	const header = b64(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: tag }));
	const payload = b64(
		JSON.stringify({ sub: tag, pad: 'p'.repeat(Math.max(0, Math.ceil((bytes * 3) / 4))) }),
	);
	return `${header}.${payload}.${b64('signature-'.repeat(26))}`;
}

export function newConnection(
	connectionId: string,
	overrides: Partial<ConnectionFields> = {},
): NewConnection {
	return {
		connectionId,
		provider: 'pipedrive',
		accessToken: `ct:access:${connectionId}`,
		refreshToken: `ct:refresh:${connectionId}`,
		tokenType: 'Bearer',
		scope: 'base deals:read',
		expiresAt: new Date(Date.UTC(2031, 4, 6, 7, 8, 9, 123)),
		metadata: { api_domain: 'https://acme.pipedrive.com' },
		status: 'active',
		lastRefreshedAt: null,
		refreshCount: 0,
		lastError: null,
		appFingerprint: 'v1:0123456789abcdef0123456789abcdef oauth.pipedrive.com …c0ff',
		tokenIssuedAt: new Date(Date.UTC(2031, 4, 6, 6, 8, 9, 456)),
		grantType: 'authorization_code',
		...NO_FAILURES,
		...overrides,
	};
}

/** Compares two ids by their UTF-8 bytes: the order every store lists in. */
export function byteOrder(a: string, b: string): number {
	return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Every row matching `query`, read a page of `pageSize` at a time with `after`. */
async function listAll(
	store: TokenStore,
	query: Omit<ConnectionQuery, 'limit' | 'after'>,
	pageSize = 1000,
): Promise<StoredConnection[]> {
	const rows: StoredConnection[] = [];
	for (;;) {
		const after = rows.length ? rows[rows.length - 1].connectionId : undefined;
		const page = await store.list({ ...query, after, limit: pageSize });
		expect(page.length).toBeLessThanOrEqual(pageSize);
		rows.push(...page);
		if (page.length < pageSize) return rows;
	}
}

const ids = (rows: StoredConnection[]) => rows.map((row) => row.connectionId);

/** A state's order as the engine writes it: issue time, zero-padded, then the nonce. */
export function stateOrder(issuedAt: number, nonce: string): string {
	return `${String(issuedAt).padStart(15, '0')}:${nonce}`;
}

/** The engine-written fields of a stored row, for comparing with what was written. */
function written(row: StoredConnection): ConnectionFields & { connectionId: string } {
	return {
		connectionId: row.connectionId,
		provider: row.provider,
		accessToken: row.accessToken,
		refreshToken: row.refreshToken,
		tokenType: row.tokenType,
		scope: row.scope,
		expiresAt: row.expiresAt,
		metadata: row.metadata,
		status: row.status,
		lastRefreshedAt: row.lastRefreshedAt,
		refreshCount: row.refreshCount,
		lastError: row.lastError,
		appFingerprint: row.appFingerprint,
		tokenIssuedAt: row.tokenIssuedAt,
		grantType: row.grantType,
		failureCount: row.failureCount,
		firstFailureAt: row.firstFailureAt,
		nextAttemptAt: row.nextAttemptAt,
		failingSince: row.failingSince,
	};
}

/** Only Date is faked (timers stay real): the process clock says `now + offsetMs`, the database's does not. */
export function skewClientClock(offsetMs: number): void {
	jest.useFakeTimers({
		now: Date.now() + offsetMs,
		doNotFake: [
			'hrtime',
			'nextTick',
			'performance',
			'queueMicrotask',
			'requestAnimationFrame',
			'cancelAnimationFrame',
			'requestIdleCallback',
			'cancelIdleCallback',
			'setImmediate',
			'clearImmediate',
			'setInterval',
			'clearInterval',
			'setTimeout',
			'clearTimeout',
		],
	});
}

export function describeStoreContract(
	name: string,
	factory: StoreHarnessFactory,
	options: StoreContractOptions = {},
): void {
	const shortLeaseMs = options.shortLeaseMs ?? 400;

	describe(`${name}: TokenStore contract`, () => {
		let harness: StoreHarness;
		let store: TokenStore;

		beforeAll(async () => {
			harness = await factory();
			store = harness.store;
		});

		afterAll(async () => {
			jest.useRealTimers();
			await harness?.teardown();
		});

		const contractCase = (
			id: ContractCase,
			title: string,
			body: () => Promise<void>,
			timeout?: number,
		) => {
			const reason = options.skip?.[id];
			if (reason) test.skip(`${title} (not run for ${name}: ${reason})`, body);
			else test(title, body, timeout);
		};

		contractCase('verifySchema', 'verifySchema() accepts the table the store uses', async () => {
			await store.get(freshId('prepare'));
			await expect(store.verifySchema()).resolves.toBeUndefined();
		});

		contractCase('absent', 'get returns null for an id never stored', async () => {
			expect(await store.get(freshId('absent'))).toBeNull();
		});

		contractCase(
			'getMany',
			'getMany returns exactly the stored rows among the ids, as get does; awkward ids are data; none for []',
			async () => {
				const tag = `${sequence + 1}-${process.pid}`;
				sequence += 1;
				const stored = [
					`many:plain:${tag}`,
					`many:a,b(c) "q\\" \\ ${tag}`,
					`  many: lead, trail ${tag}  `,
					`many:%_*.~ ${tag}`,
					`many:Ünïcødé-🚀-${tag}`,
				];
				for (const id of stored) await store.insert(newConnection(id));
				// Ids the store must not confuse with stored ones: another case, a trimmed copy, a wildcard's match.
				const absent = [
					`MANY:PLAIN:${tag}`,
					stored[2].trim(),
					`many:%_*.~ ${tag}x`,
					`many:ab(c) "q\\" \\ ${tag}`,
				];
				const asked = [stored[0], ...absent, ...stored.slice(1), stored[0]];
				const rows = await store.getMany(asked);
				expect(rows.map((row) => row.connectionId).sort(byteOrder)).toEqual(
					[...stored].sort(byteOrder),
				);
				for (const row of rows) expect(row).toEqual(await store.get(row.connectionId));
				expect(await store.getMany([])).toEqual([]);
				expect(await store.getMany(absent)).toEqual([]);
			},
		);

		contractCase(
			'getManyChunks',
			'getMany over more ids than one statement takes (1,200 asked, 1,100 stored) returns each stored row once',
			async () => {
				const tag = `${sequence + 1}-${process.pid}`;
				sequence += 1;
				const ids = Array.from(
					{ length: 1200 },
					(_, i) => `chunks:${tag}:${String(i).padStart(4, '0')}`,
				);
				const stored = ids.filter((_, i) => i % 12 !== 5); // every 12th id has no row
				for (let i = 0; i < stored.length; i += 50)
					await Promise.all(stored.slice(i, i + 50).map((id) => store.insert(newConnection(id))));
				const rows = await store.getMany(ids);
				expect(rows).toHaveLength(stored.length);
				expect(rows.map((row) => row.connectionId).sort(byteOrder)).toEqual(stored);
				expect(rows.every((row) => row.accessToken === `ct:access:${row.connectionId}`)).toBe(true);
			},
			60_000,
		);

		contractCase(
			'roundTrip',
			'insert stores every field at version 1 and get returns it with Date fields',
			async () => {
				const id = freshId('roundtrip');
				const input = newConnection(id, {
					lastRefreshedAt: new Date(Date.UTC(2030, 0, 2, 3, 4, 5, 678)),
					refreshCount: 3,
					lastError: 'previous refresh failed: timeout',
					metadata: { api_domain: 'https://acme.pipedrive.com', company_id: '42' },
				});
				const inserted = await store.insert(input);
				expect(written(inserted)).toEqual(input);
				expect(inserted.version).toBe(1);
				expect(inserted.leaseHolder).toBeNull();
				expect(inserted.leaseUntil).toBeNull();
				expect(inserted.createdAt).toBeInstanceOf(Date);
				expect(inserted.updatedAt).toBeInstanceOf(Date);
				expect(Math.abs(inserted.createdAt.getTime() - Date.now())).toBeLessThan(60_000);

				const read = await store.get(id);
				expect(read).not.toBeNull();
				expect(written(read!)).toEqual(input);
				expect(read!.expiresAt).toBeInstanceOf(Date);
				expect(read!.expiresAt!.getTime()).toBe(input.expiresAt!.getTime());
				// The app fingerprint and the token's issue time (added after the first release) round-trip too.
				expect(read!.appFingerprint).toBe(input.appFingerprint);
				expect(read!.tokenIssuedAt).toBeInstanceOf(Date);
				expect(read!.tokenIssuedAt!.getTime()).toBe(input.tokenIssuedAt!.getTime());
				expect(read!.version).toBe(1);
				expect(read!.createdAt.getTime()).toBe(inserted.createdAt.getTime());

				const nulls = newConnection(freshId('nulls'), {
					accessToken: null,
					refreshToken: null,
					tokenType: null,
					scope: null,
					expiresAt: null,
					metadata: {},
					appFingerprint: null,
					tokenIssuedAt: null,
				});
				await store.insert(nulls);
				expect(written((await store.get(nulls.connectionId))!)).toEqual(nulls);
				expect((await store.get(nulls.connectionId))!.tokenIssuedAt).toBeNull();
			},
		);

		contractCase(
			'insertConflict',
			'insert of a taken id throws ConnectionExistsError and leaves the row alone',
			async () => {
				const id = freshId('conflict');
				await store.insert(newConnection(id));
				const attempt = store.insert(
					newConnection(id, { accessToken: 'ct:other', provider: 'other' }),
				);
				await expect(attempt).rejects.toBeInstanceOf(ConnectionExistsError);
				await expect(attempt).rejects.toMatchObject({ connectionId: id });
				const row = await store.get(id);
				expect(row!.accessToken).toBe(`ct:access:${id}`);
				expect(row!.provider).toBe('pipedrive');
				expect(row!.version).toBe(1);

				// Racing inserts of one id: exactly one wins, the rest get ConnectionExistsError.
				const raced = freshId('conflict-race');
				const results = await Promise.allSettled(
					Array.from({ length: 8 }, (_, i) =>
						store.insert(newConnection(raced, { accessToken: `ct:race-${i}` })),
					),
				);
				expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
				for (const r of results)
					if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(ConnectionExistsError);
			},
		);

		contractCase(
			'reauthorization',
			're-authorization (upsert): update replaces tokens, sets active, bumps the version',
			async () => {
				const id = freshId('reauth');
				await store.insert(newConnection(id));
				const broken = await store.update(id, 1, {
					status: 'needs_reauth',
					lastError: 'invalid_grant',
				});
				expect(broken.status).toBe('needs_reauth');
				expect(broken.version).toBe(2);

				const fields: ConnectionFields = {
					provider: 'pipedrive',
					accessToken: 'ct:access:new',
					refreshToken: 'ct:refresh:new',
					tokenType: 'Bearer',
					scope: 'base',
					expiresAt: new Date(Date.UTC(2032, 1, 3, 4, 5, 6, 7)),
					metadata: { api_domain: 'https://other.pipedrive.com' },
					status: 'active',
					lastRefreshedAt: null,
					refreshCount: 0,
					lastError: null,
					appFingerprint: 'v1:fedcba9876543210fedcba9876543210 oauth.example.test …wxyz',
					tokenIssuedAt: new Date(Date.UTC(2032, 1, 3, 3, 5, 6, 8)),
					grantType: 'authorization_code',
					...NO_FAILURES,
				};
				const again = await store.update(id, broken.version, fields);
				expect(written(again)).toEqual({ connectionId: id, ...fields });
				expect(again.version).toBe(3);
				expect(written((await store.get(id))!)).toEqual({ connectionId: id, ...fields });
				expect(again.updatedAt.getTime()).toBeGreaterThanOrEqual(again.createdAt.getTime());
			},
		);

		contractCase(
			'partialUpdate',
			'update writes only the given fields and keeps the rest',
			async () => {
				const id = freshId('partial');
				const input = newConnection(id);
				await store.insert(input);
				const updated = await store.update(id, 1, { accessToken: 'ct:access:2', refreshCount: 1 });
				expect(written(updated)).toEqual({ ...input, accessToken: 'ct:access:2', refreshCount: 1 });
				const cleared = await store.update(id, 2, {
					expiresAt: null,
					lastError: null,
					scope: null,
				});
				expect(cleared.expiresAt).toBeNull();
				expect(cleared.scope).toBeNull();
				expect(cleared.refreshToken).toBe(input.refreshToken);
				expect(cleared.version).toBe(3);
				expect(cleared.appFingerprint).toBe(input.appFingerprint);
				expect(cleared.tokenIssuedAt!.getTime()).toBe(input.tokenIssuedAt!.getTime());
				// The two later columns are written alone, set and cleared, like every other field.
				const issuedAt = new Date(Date.UTC(2033, 6, 7, 8, 9, 10, 11));
				const stamped = await store.update(id, 3, {
					tokenIssuedAt: issuedAt,
					appFingerprint: 'v1:00000000000000000000000000000000 other.test',
				});
				expect(written(stamped)).toEqual({
					...written(cleared),
					tokenIssuedAt: issuedAt,
					appFingerprint: 'v1:00000000000000000000000000000000 other.test',
				});
				const read = await store.get(id);
				expect(read!.tokenIssuedAt).toEqual(issuedAt);
				expect(read!.appFingerprint).toBe('v1:00000000000000000000000000000000 other.test');
				const unset = await store.update(id, 4, { tokenIssuedAt: null, appFingerprint: null });
				expect(unset.tokenIssuedAt).toBeNull();
				expect(unset.appFingerprint).toBeNull();
				expect(unset.accessToken).toBe('ct:access:2');
			},
		);

		contractCase(
			'updateAbsent',
			'update of an absent id throws ConnectionNotFoundError naming the store',
			async () => {
				const id = freshId('update-absent');
				await expect(store.update(id, 1, { accessToken: 'ct:x' })).rejects.toBeInstanceOf(
					ConnectionNotFoundError,
				);
				await expect(store.update(id, 1, { accessToken: 'ct:x' })).rejects.toThrow(
					`No connection "${id}" in ${store.description}`,
				);
				expect(await store.get(id)).toBeNull();
			},
		);

		contractCase(
			'isolation',
			'two connection ids never touch each other, even when they differ only by case or a trailing space',
			async () => {
				const base = freshId('iso');
				const ids = [
					`${base}:acme`,
					`${base}:ACME`,
					`${base}:acme `,
					`${base}:acmé`,
					`${base}:acme2`,
				];
				for (const id of ids) await store.insert(newConnection(id));
				await store.update(ids[0], 1, { accessToken: 'ct:changed', status: 'revoked' });
				expect(await store.acquireLease(ids[0], 'holder-a', 60_000)).toBe(true);
				for (const id of ids.slice(1)) {
					const row = await store.get(id);
					expect(row!.connectionId).toBe(id);
					expect(row!.accessToken).toBe(`ct:access:${id}`);
					expect(row!.status).toBe('active');
					expect(row!.version).toBe(1);
					expect(row!.leaseHolder).toBeNull();
					// Another id's lease is free.
					expect(await store.acquireLease(id, 'holder-b', 60_000)).toBe(true);
				}
				const first = await store.get(ids[0]);
				expect(first!.accessToken).toBe('ct:changed');
				expect(first!.leaseHolder).toBe('holder-a');
			},
		);

		contractCase(
			'versionConflict',
			'versioned writes: a writer holding a stale version gets VersionConflictError',
			async () => {
				const id = freshId('version');
				await store.insert(newConnection(id));
				const a = await store.get(id);
				const b = await store.get(id);
				const first = await store.update(id, a!.version, {
					accessToken: 'ct:from-a',
					refreshToken: 'ct:refresh-a',
				});
				expect(first.version).toBe(2);
				const stale = store.update(id, b!.version, {
					accessToken: 'ct:from-b',
					refreshToken: 'ct:refresh-b',
				});
				await expect(stale).rejects.toBeInstanceOf(VersionConflictError);
				await expect(stale).rejects.toMatchObject({ connectionId: id, expectedVersion: 1 });
				const row = await store.get(id);
				expect(row!.accessToken).toBe('ct:from-a');
				expect(row!.refreshToken).toBe('ct:refresh-a');
				expect(row!.version).toBe(2);
				// A version from the future is as wrong as one from the past.
				await expect(store.update(id, 7, { accessToken: 'ct:x' })).rejects.toBeInstanceOf(
					VersionConflictError,
				);
			},
		);

		contractCase(
			'concurrentWriters',
			'concurrent writers with the same version: exactly one write lands',
			async () => {
				const id = freshId('writers');
				await store.insert(newConnection(id));
				const writers = Array.from({ length: 10 }, (_, i) =>
					store.update(id, 1, { accessToken: `ct:writer-${i}` }),
				);
				const results = await Promise.allSettled(writers);
				const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
				expect(won).toHaveLength(1);
				for (const r of results)
					if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(VersionConflictError);
				const row = await store.get(id);
				expect(row!.version).toBe(2);
				expect(row!.accessToken).toBe(`ct:writer-${won[0]}`);
			},
		);

		contractCase(
			'updateClearsLease',
			'update clears the lease: the write is the release',
			async () => {
				const id = freshId('write-release');
				await store.insert(newConnection(id));
				expect(await store.acquireLease(id, 'holder-a', 60_000)).toBe(true);
				const leased = await store.get(id);
				expect(leased!.leaseHolder).toBe('holder-a');
				expect(leased!.leaseUntil).toBeInstanceOf(Date);
				expect(leased!.version).toBe(1);
				const saved = await store.update(id, 1, { accessToken: 'ct:refreshed' });
				expect(saved.leaseHolder).toBeNull();
				expect(saved.leaseUntil).toBeNull();
				expect(await store.acquireLease(id, 'holder-b', 60_000)).toBe(true);
			},
		);

		contractCase(
			'lease',
			'lease: acquire, contend, renew by its holder, release by its holder only',
			async () => {
				const id = freshId('lease');
				await store.insert(newConnection(id));
				expect(await store.acquireLease(id, 'holder-a', 60_000)).toBe(true);
				expect(await store.acquireLease(id, 'holder-b', 60_000)).toBe(false);
				expect(await store.acquireLease(id, 'holder-a', 60_000)).toBe(true);
				// Releasing someone else's lease does nothing.
				await store.releaseLease(id, 'holder-b');
				expect((await store.get(id))!.leaseHolder).toBe('holder-a');
				expect(await store.acquireLease(id, 'holder-b', 60_000)).toBe(false);
				await store.releaseLease(id, 'holder-a');
				const released = await store.get(id);
				expect(released!.leaseHolder).toBeNull();
				expect(released!.version).toBe(1);
				expect(await store.acquireLease(id, 'holder-b', 60_000)).toBe(true);
				expect((await store.get(id))!.leaseHolder).toBe('holder-b');
				// Releasing a free lease, or on an absent id, is harmless.
				await store.releaseLease(id, 'holder-b');
				await store.releaseLease(id, 'holder-b');
				await store.releaseLease(freshId('release-absent'), 'holder-b');
			},
		);

		contractCase('leaseAbsent', 'a lease on an absent id is never granted', async () => {
			expect(await store.acquireLease(freshId('lease-absent'), 'holder-a', 60_000)).toBe(false);
		});

		contractCase(
			'leaseRace',
			'racing acquirers (on two store instances when available): exactly one wins',
			async () => {
				const id = freshId('lease-race');
				await store.insert(newConnection(id));
				const second = harness.openSecond ? await harness.openSecond() : store;
				const attempts = Array.from({ length: 20 }, (_, i) =>
					(i % 2 ? second : store).acquireLease(id, `racer-${i}`, 60_000),
				);
				const granted = (await Promise.all(attempts)).flatMap((ok, i) =>
					ok ? [`racer-${i}`] : [],
				);
				expect(granted).toHaveLength(1);
				expect((await store.get(id))!.leaseHolder).toBe(granted[0]);
			},
		);

		contractCase(
			'leaseExpiry',
			'a lease expires by itself after its TTL, so a dead holder does not block others',
			async () => {
				const id = freshId('lease-expiry');
				await store.insert(newConnection(id));
				expect(await store.acquireLease(id, 'dead-holder', shortLeaseMs)).toBe(true);
				expect(await store.acquireLease(id, 'holder-b', 60_000)).toBe(false);
				await sleep(shortLeaseMs + 400);
				expect(await store.acquireLease(id, 'holder-b', 60_000)).toBe(true);
				// The dead holder's late release does not free holder-b's lease.
				await store.releaseLease(id, 'dead-holder');
				expect((await store.get(id))!.leaseHolder).toBe('holder-b');
				expect(await store.acquireLease(id, 'holder-c', 60_000)).toBe(false);
			},
			30_000,
		);

		contractCase(
			'leaseDatabaseTime',
			"lease_until is the database's now() plus the TTL",
			async () => {
				if (!harness.databaseNow)
					throw new Error(
						`${name}: the harness has no databaseNow(); skip this case with a reason`,
					);
				const id = freshId('lease-db-time');
				await store.insert(newConnection(id));
				const before = await harness.databaseNow();
				expect(await store.acquireLease(id, 'holder-a', 90_000)).toBe(true);
				const after = await harness.databaseNow();
				const until = (await store.get(id))!.leaseUntil!;
				expect(until).toBeInstanceOf(Date);
				expect(until.getTime()).toBeGreaterThanOrEqual(before.getTime() + 90_000 - 5);
				expect(until.getTime()).toBeLessThanOrEqual(after.getTime() + 90_000 + 5);
			},
		);

		contractCase(
			'leaseClientClock',
			'the lease ignores the process clock: a node whose clock is an hour off neither steals nor keeps a lease',
			async () => {
				const id = freshId('lease-skew');
				await store.insert(newConnection(id));
				// A process whose clock runs an hour fast takes a short lease...
				skewClientClock(3_600_000);
				try {
					expect(await store.acquireLease(id, 'fast-clock', shortLeaseMs)).toBe(true);
				} finally {
					jest.useRealTimers();
				}
				// ...which still ends after the TTL by the database's clock, not an hour later.
				expect(await store.acquireLease(id, 'holder-b', shortLeaseMs)).toBe(false);
				await sleep(shortLeaseMs + 400);
				// A process whose clock runs an hour slow cannot keep seeing the expired lease as live, nor can a
				// fast one treat a live lease as expired.
				skewClientClock(-3_600_000);
				try {
					expect(await store.acquireLease(id, 'slow-clock', 60_000)).toBe(true);
				} finally {
					jest.useRealTimers();
				}
				skewClientClock(3_600_000);
				try {
					expect(await store.acquireLease(id, 'fast-clock-2', 60_000)).toBe(false);
				} finally {
					jest.useRealTimers();
				}
				expect((await store.get(id))!.leaseHolder).toBe('slow-clock');
			},
			30_000,
		);

		contractCase(
			'secondInstance',
			'a second store instance on the same data sees writes, leases and conflicts',
			async () => {
				if (!harness.openSecond)
					throw new Error(`${name}: the harness has no openSecond(); skip this case with a reason`);
				const other = await harness.openSecond();
				const id = freshId('second');
				await store.insert(newConnection(id));
				await expect(other.insert(newConnection(id))).rejects.toBeInstanceOf(ConnectionExistsError);
				expect(await other.acquireLease(id, 'other-process', 60_000)).toBe(true);
				expect(await store.acquireLease(id, 'this-process', 60_000)).toBe(false);
				const saved = await other.update(id, 1, { accessToken: 'ct:from-other' });
				expect((await store.get(id))!.accessToken).toBe('ct:from-other');
				await expect(store.update(id, 1, { accessToken: 'ct:stale' })).rejects.toBeInstanceOf(
					VersionConflictError,
				);
				expect(await store.acquireLease(id, 'this-process', 60_000)).toBe(true);
				expect(saved.version).toBe(2);
			},
		);

		contractCase(
			'bigUnicodeTokens',
			'4 KB+ JWT access tokens and unicode text round-trip byte for byte',
			async () => {
				const id = freshId('big');
				const access = bigToken(4096, 'access');
				const refresh = bigToken(6000, 'refresh');
				expect(access.length).toBeGreaterThan(4096);
				const unicode = {
					scope: 'base deals:read ünïcödé 日本語 🚀',
					metadata: {
						api_domain: 'https://ácme.pipedrive.com',
						company_name: 'Société Générale — 株式会社 🚀',
						quote: `it's "q"`,
					},
					lastError: 'Fehler: Zugriff verweigert — 失败 ❌',
					provider: 'custom-ünï',
				};
				const inserted = await store.insert(
					newConnection(id, { accessToken: access, refreshToken: refresh, ...unicode }),
				);
				expect(inserted.accessToken).toBe(access);
				const read = await store.get(id);
				expect(read!.accessToken).toBe(access);
				expect(read!.refreshToken).toBe(refresh);
				expect(read!.scope).toBe(unicode.scope);
				expect(read!.metadata).toEqual(unicode.metadata);
				expect(read!.lastError).toBe(unicode.lastError);
				expect(read!.provider).toBe(unicode.provider);
				const bigger = `${bigToken(16_000, 'again')}🚀`;
				const updated = await store.update(id, 1, { accessToken: bigger });
				expect(updated.accessToken).toBe(bigger);
				expect((await store.get(id))!.accessToken).toBe(bigger);
			},
		);

		contractCase(
			'awkwardIds',
			'ids with quotes, SQL, backslashes, unicode and 255 characters work for every operation',
			async () => {
				const tag = `${sequence + 1}-${process.pid}`;
				const ids = [
					`it's "quoted" \`back\`; drop table oauth2_tokens; -- ${tag}`,
					`back\\slash\\' %_ ${tag}`,
					`pipedrive:Ünïcødé-日本-🚀-${tag}`,
					`${tag}-${'x'.repeat(255 - tag.length - 1)}`,
					`${tag}-${'é'.repeat(255 - tag.length - 1)}`,
				];
				sequence += 1;
				expect(ids[3]).toHaveLength(255);
				expect([...ids[4]]).toHaveLength(255);
				for (const [index, id] of ids.entries()) {
					const inserted = await store.insert(newConnection(id));
					expect(inserted.connectionId).toBe(id);
					expect((await store.get(id))!.connectionId).toBe(id);
					await expect(store.insert(newConnection(id))).rejects.toBeInstanceOf(
						ConnectionExistsError,
					);
					expect(await store.acquireLease(id, `holder:${index}`, 60_000)).toBe(true);
					expect(await store.acquireLease(id, 'other', 60_000)).toBe(false);
					const updated = await store.update(id, 1, { accessToken: `ct:new:${id}` });
					expect(updated.connectionId).toBe(id);
					expect(updated.accessToken).toBe(`ct:new:${id}`);
					expect(await store.acquireLease(id, 'other', 60_000)).toBe(true);
					await store.releaseLease(id, 'other');
					expect((await store.get(id))!.leaseHolder).toBeNull();
				}
				// The table is still there and holds exactly these rows for these ids.
				for (const id of ids) expect((await store.get(id))!.accessToken).toBe(`ct:new:${id}`);
			},
		);

		contractCase(
			'identity',
			'identity(): stable, shared by a second instance on the same table, different from its description',
			async () => {
				const identity = await store.identity();
				expect(typeof identity).toBe('string');
				expect(identity.length).toBeGreaterThan(0);
				expect(await store.identity()).toBe(identity);
				expect(identity).not.toBe(store.description);
				if (harness.openSecond)
					expect(await (await harness.openSecond()).identity()).toBe(identity);
			},
		);

		contractCase('tooLongId', 'an id over 255 characters is refused, never truncated', async () => {
			const id = `${freshId('long')}-${'y'.repeat(256)}`;
			await expect(store.insert(newConnection(id))).rejects.toThrow();
			expect(await store.get(id.slice(0, 255))).toBeNull();
		});

		contractCase(
			'delete',
			'delete removes one row, says whether there was one, and frees the id',
			async () => {
				const id = freshId('delete');
				const neighbour = `${id}:neighbour`;
				await store.insert(newConnection(id));
				await store.insert(newConnection(neighbour));
				expect(await store.acquireLease(id, 'holder-a', 60_000)).toBe(true);
				expect(await store.delete(id)).toBe(true);
				expect(await store.get(id)).toBeNull();
				expect(await store.delete(id)).toBe(false);
				expect(await store.delete(freshId('delete-absent'))).toBe(false);
				expect((await store.get(neighbour))!.accessToken).toBe(`ct:access:${neighbour}`);
				const again = await store.insert(newConnection(id, { accessToken: 'ct:again' }));
				expect(again.version).toBe(1);
				expect(again.leaseHolder).toBeNull();
			},
		);

		contractCase(
			'deleteExpired',
			"deleteExpired removes only the given provider's rows that expired, at most `limit` at a time",
			async () => {
				const provider = `contract-purge:${freshId('provider')}`;
				const now = Date.now();
				const ids = (label: string, count: number) =>
					Array.from({ length: count }, () => freshId(`purge-${label}`));
				const expired = ids('expired', 5);
				const live = ids('live', 2);
				const noExpiry = freshId('purge-no-expiry');
				const otherProvider = freshId('purge-other');
				for (const [index, id] of expired.entries()) {
					await store.insert(
						newConnection(id, { provider, expiresAt: new Date(now - 1000 - index * 60_000) }),
					);
				}
				for (const id of live)
					await store.insert(newConnection(id, { provider, expiresAt: new Date(now + 3_600_000) }));
				await store.insert(newConnection(noExpiry, { provider, expiresAt: null }));
				await store.insert(newConnection(otherProvider, { expiresAt: new Date(now - 3_600_000) }));

				expect(await store.deleteExpired(provider, new Date(now), 3)).toBe(3);
				expect(await store.deleteExpired(provider, new Date(now), 3)).toBe(2);
				expect(await store.deleteExpired(provider, new Date(now), 3)).toBe(0);
				for (const id of expired) expect(await store.get(id)).toBeNull();
				for (const id of [...live, noExpiry, otherProvider])
					expect(await store.get(id)).not.toBeNull();
			},
		);
		contractCase(
			'consumeState',
			'consumeState: a state is accepted once, an older one never, a newer one once; per connection, beside the tokens',
			async () => {
				const id = freshId('state');
				const neighbour = `${id}:neighbour`;
				const until = new Date(Date.now() + 3_600_000);
				const first = stateOrder(1_700_000_000_000, 'Aaaa');
				expect(await store.consumeState(id, first, until)).toBe(true);
				expect(await store.consumeState(id, first, until)).toBe(false);
				// Same issue time, nonces that differ only by case: compared byte by byte, so "B" < "a".
				expect(await store.consumeState(id, stateOrder(1_700_000_000_000, 'aaaa'), until)).toBe(
					true,
				);
				expect(await store.consumeState(id, stateOrder(1_700_000_000_000, 'Bbbb'), until)).toBe(
					false,
				);
				expect(await store.consumeState(id, stateOrder(1_699_999_999_999, 'zzzz'), until)).toBe(
					false,
				);
				expect(await store.consumeState(id, stateOrder(1_700_000_000_001, 'A'), until)).toBe(true);
				// Another connection has its own record; a connection's record is no row of the tokens table.
				expect(await store.consumeState(neighbour, first, until)).toBe(true);
				expect(await store.get(id)).toBeNull();
				await store.insert(newConnection(id));
				expect(await store.consumeState(id, stateOrder(1_700_000_000_001, 'A'), until)).toBe(false);
				expect((await store.get(id))!.version).toBe(1);
				if (harness.openSecond) {
					const other = await harness.openSecond();
					expect(await other.consumeState(id, stateOrder(1_700_000_000_001, 'A'), until)).toBe(
						false,
					);
					expect(await other.consumeState(id, stateOrder(1_700_000_000_002, 'A'), until)).toBe(
						true,
					);
					expect(await store.consumeState(id, stateOrder(1_700_000_000_002, 'A'), until)).toBe(
						false,
					);
				}
			},
		);

		contractCase(
			'consumeStateRace',
			'racing callbacks with one state (on two store instances when available): exactly one is accepted',
			async () => {
				const second = harness.openSecond ? await harness.openSecond() : store;
				const until = new Date(Date.now() + 3_600_000);
				// A connection without a record (the racers insert) and one with an older record (the racers update).
				const fresh = freshId('state-race');
				const recorded = freshId('state-race-recorded');
				expect(await store.consumeState(recorded, stateOrder(1, 'old'), until)).toBe(true);
				for (const id of [fresh, recorded]) {
					const order = stateOrder(1_700_000_000_000, `race-${id}`);
					const results = await Promise.all(
						Array.from({ length: 12 }, (_, i) =>
							(i % 2 ? second : store).consumeState(id, order, until),
						),
					);
					expect(results.filter(Boolean)).toHaveLength(1);
				}
				// Racing different states of one connection: the newest is always accepted (an older one may be, before it).
				const mixed = freshId('state-race-mixed');
				const orders = Array.from({ length: 6 }, (_, i) => stateOrder(1_700_000_000_000 + i, 'n'));
				const results = await Promise.all(
					orders.map((order, i) => (i % 2 ? second : store).consumeState(mixed, order, until)),
				);
				expect(results[results.length - 1]).toBe(true);
				expect(await store.consumeState(mixed, orders[orders.length - 1], until)).toBe(false);
			},
		);

		contractCase(
			'deleteStates',
			"deleteStates forgets one connection's used states and no other's",
			async () => {
				const id = freshId('state-delete');
				const neighbour = `${id}:neighbour`;
				const until = new Date(Date.now() + 3_600_000);
				const order = stateOrder(1_700_000_000_000, 'n');
				await store.consumeState(id, order, until);
				await store.consumeState(neighbour, order, until);
				await store.insert(newConnection(id));
				await store.deleteStates(id);
				expect(await store.consumeState(id, order, until)).toBe(true);
				expect(await store.consumeState(neighbour, order, until)).toBe(false);
				expect((await store.get(id))!.accessToken).toBe(`ct:access:${id}`);
				// Nothing recorded: harmless.
				await store.deleteStates(freshId('state-delete-absent'));
			},
		);

		contractCase(
			'deleteExpiredStates',
			'deleteExpiredStates removes only records that expired, at most `limit` at a time',
			async () => {
				const now = Date.now();
				// Far in the past, so records other cases left (they expire in an hour) are never among them.
				const cutoff = new Date(now - 86_400_000);
				const expired = Array.from({ length: 5 }, () => freshId('state-expired'));
				const live = freshId('state-live');
				const order = stateOrder(1_700_000_000_000, 'n');
				for (const [index, id] of expired.entries())
					expect(
						await store.consumeState(id, order, new Date(cutoff.getTime() - 1000 - index * 60_000)),
					).toBe(true);
				expect(await store.consumeState(live, order, new Date(now + 3_600_000))).toBe(true);
				const tokenRow = freshId('state-expired-token-row');
				await store.insert(
					newConnection(tokenRow, { expiresAt: new Date(cutoff.getTime() - 3_600_000) }),
				);

				expect(await store.deleteExpiredStates(cutoff, 3)).toBe(3);
				expect(await store.deleteExpiredStates(cutoff, 3)).toBe(2);
				expect(await store.deleteExpiredStates(cutoff, 3)).toBe(0);
				// Purged records accept their state again; the live one still refuses it; token rows are not touched.
				for (const id of expired)
					expect(await store.consumeState(id, order, new Date(now + 3_600_000))).toBe(true);
				expect(await store.consumeState(live, order, new Date(now + 3_600_000))).toBe(false);
				expect(await store.get(tokenRow)).not.toBeNull();
			},
		);
		contractCase(
			'lifecycleFields',
			'grant type and failure bookkeeping round-trip through insert, update and get',
			async () => {
				const id = freshId('lifecycle');
				const failing = {
					grantType: 'client_credentials' as const,
					failureCount: 4,
					firstFailureAt: new Date(Date.UTC(2031, 0, 2, 3, 4, 5, 6)),
					nextAttemptAt: new Date(Date.UTC(2031, 0, 2, 3, 9, 5, 7)),
					failingSince: new Date(Date.UTC(2031, 0, 2, 4, 4, 5, 8)),
				};
				const input = newConnection(id, { ...failing, refreshToken: null });
				expect(written(await store.insert(input))).toEqual(input);
				expect(written((await store.get(id))!)).toEqual(input);

				const recovered = await store.update(id, 1, NO_FAILURES);
				expect(written(recovered)).toEqual({ ...input, ...NO_FAILURES });
				expect(written((await store.get(id))!)).toEqual({ ...input, ...NO_FAILURES });

				// One field at a time keeps the others.
				const counted = await store.update(id, 2, {
					failureCount: 1,
					firstFailureAt: failing.firstFailureAt,
				});
				expect(written(counted)).toEqual({
					...input,
					...NO_FAILURES,
					failureCount: 1,
					firstFailureAt: failing.firstFailureAt,
				});
				const regranted = await store.update(id, 3, { grantType: 'authorization_code' });
				expect(written((await store.get(id))!)).toEqual({
					...written(counted),
					grantType: 'authorization_code',
				});
				expect(regranted.firstFailureAt).toBeInstanceOf(Date);
			},
		);

		contractCase(
			'lifecycleDefaults',
			'an insert without grant type and failure fields stores the defaults: authorization code, no failures',
			async () => {
				const id = freshId('lifecycle-defaults');
				const { grantType, failureCount, firstFailureAt, nextAttemptAt, failingSince, ...omitted } =
					newConnection(id);
				expect([grantType, failureCount, firstFailureAt, nextAttemptAt, failingSince]).toEqual([
					'authorization_code',
					0,
					null,
					null,
					null,
				]);
				const expected = { ...omitted, grantType: 'authorization_code', ...NO_FAILURES };
				expect(written(await store.insert(omitted))).toEqual(expected);
				expect(written((await store.get(id))!)).toEqual(expected);
				expect(
					(await store.list({ idPrefix: id, status: 'active', limit: 5 })).map(written),
				).toEqual([expected]);
			},
		);

		contractCase(
			'unknownGrantType',
			'a grant type this version does not know makes an active row read and list as needs_reauth, never active',
			async () => {
				const prefix = freshId('grant-unknown');
				const active = `${prefix}:active`;
				const revoked = `${prefix}:revoked`;
				const known = `${prefix}:known`;
				const expiring = new Date(Date.now() - 60_000);
				await store.insert(newConnection(active, { expiresAt: expiring }));
				await store.insert(newConnection(revoked, { status: 'revoked', expiresAt: expiring }));
				await store.insert(
					newConnection(known, { grantType: 'client_credentials', expiresAt: expiring }),
				);
				await harness.writeRawGrantType!(active, 'device_code');
				await harness.writeRawGrantType!(revoked, 'device_code');

				const read = (await store.get(active))!;
				expect(read.status).toBe('needs_reauth');
				expect(read.grantType).toBe('authorization_code');
				expect((await store.get(revoked))!.status).toBe('revoked');
				const listed = async (query: Omit<ConnectionQuery, 'limit' | 'idPrefix'>) =>
					ids(await store.list({ ...query, idPrefix: prefix, limit: 10 }));
				expect(await listed({ status: 'needs_reauth' })).toEqual([active]);
				expect(await listed({ status: 'active' })).toEqual([known]);
				expect(await listed({ status: 'revoked' })).toEqual([revoked]);
				expect(
					await listed({ due: { expiresBefore: new Date(), idleBefore: new Date(0) } }),
				).toEqual([known]);
			},
		);

		contractCase(
			'listOrder',
			'list orders by connection id byte by byte: case, non-ASCII, symbols, characters beyond U+FFFF',
			async () => {
				const prefix = freshId('list-order');
				const tails = [
					'b',
					'B',
					'a',
					'A',
					'é',
					'e',
					'Z',
					'日本',
					'～',
					'😀',
					' ',
					'~',
					'%',
					'_',
					'!',
					'0',
					'a b',
					'ab',
					'a',
					'aa',
				].filter((tail, i, all) => all.indexOf(tail) === i);
				const expected = tails.map((tail) => `${prefix}:${tail}`).sort(byteOrder);
				// '～' (U+FF5E) sorts before '😀' (U+1F600) in UTF-8 bytes, after it in UTF-16 code units.
				expect(expected.indexOf(`${prefix}:～`)).toBeLessThan(expected.indexOf(`${prefix}:😀`));
				for (const id of [...expected].reverse()) await store.insert(newConnection(id));
				expect(ids(await store.list({ idPrefix: prefix, limit: 100 }))).toEqual(expected);
				// The whole table (rows of every other case included) is in that order too.
				const everything = ids(await listAll(store, {}));
				expect(everything).toEqual([...everything].sort(byteOrder));
				expect(everything).toEqual(expect.arrayContaining(expected));
			},
		);

		contractCase(
			'listPages',
			'pages taken with `after` and `limit` never skip or repeat a row, and stop at the end',
			async () => {
				const prefix = freshId('list-pages');
				const mine = ['a', 'A', 'é', '😀', 'a_', 'a%', 'z'].map((tail) => `${prefix}:${tail}`);
				for (const id of mine) await store.insert(newConnection(id));
				const whole = ids(await store.list({ limit: 100_000 }));
				expect(whole).toEqual(expect.arrayContaining(mine));
				for (const pageSize of [1, 3])
					expect(ids(await listAll(store, {}, pageSize))).toEqual(whole);
				// `after` need not be a stored id; limit is honoured exactly.
				const afterA = whole.filter((id) => byteOrder(id, `${prefix}:a`) > 0);
				expect(ids(await store.list({ after: `${prefix}:a`, limit: 2 }))).toEqual(
					afterA.slice(0, 2),
				);
				expect(
					ids(await store.list({ idPrefix: prefix, after: `${prefix}:Ab`, limit: 100 })),
				).toEqual(mine.filter((id) => byteOrder(id, `${prefix}:Ab`) > 0).sort(byteOrder));
				expect(await store.list({ after: whole[whole.length - 1], limit: 10 })).toEqual([]);
			},
		);

		contractCase(
			'listReserved',
			'internal rows (ids starting with the reserved prefix, legacy state markers) are never listed; look-alike ids are',
			async () => {
				const tag = freshId('reserved').replace(/\W/g, '');
				const internal = [`${RESERVED_PREFIX}state:${tag}`, `${RESERVED_PREFIX}${tag}`];
				for (const id of internal)
					await store.insert(
						newConnection(id, {
							provider: LEGACY_MARKER_PROVIDER,
							accessToken: null,
							refreshToken: null,
						}),
					);
				// Each differs from the prefix at an underscore, which a LIKE pattern would take for any character.
				const lookAlikes = [
					`x_oauth2tm_${tag}`,
					`__oauth2tmX${tag}`,
					`_-oauth2tm_${tag}`,
					`__OAUTH2TM_${tag}`,
				];
				for (const id of lookAlikes) await store.insert(newConnection(id));
				const everything = ids(await listAll(store, {}));
				expect(everything.filter((id) => id.startsWith(RESERVED_PREFIX))).toEqual([]);
				expect(everything).toEqual(expect.arrayContaining(lookAlikes));
				expect(await store.list({ idPrefix: RESERVED_PREFIX, limit: 10 })).toEqual([]);
				expect(await store.list({ idPrefix: '__', limit: 10 }).then(ids)).toEqual(
					[`__OAUTH2TM_${tag}`, `__oauth2tmX${tag}`].sort(byteOrder),
				);
				expect(await store.list({ provider: LEGACY_MARKER_PROVIDER, limit: 10 })).toEqual([]);
				expect(await store.get(internal[0])).not.toBeNull();
				for (const id of [...internal, ...lookAlikes]) await store.delete(id);
			},
		);

		contractCase(
			'listStatus',
			'the status filter follows the reported status: failing is active with failingSince, active is without it',
			async () => {
				const provider = `status-${freshId('p')}`;
				const prefix = freshId('list-status');
				const since = new Date(Date.UTC(2031, 0, 1));
				const rows = {
					healthy: newConnection(`${prefix}:healthy`, { provider }),
					retrying: newConnection(`${prefix}:retrying`, {
						provider,
						failureCount: 2,
						firstFailureAt: since,
						nextAttemptAt: since,
					}),
					failing: newConnection(`${prefix}:failing`, {
						provider,
						failureCount: 9,
						firstFailureAt: since,
						failingSince: since,
					}),
					reauth: newConnection(`${prefix}:reauth`, {
						provider,
						status: 'needs_reauth',
						failingSince: since,
					}),
					revoked: newConnection(`${prefix}:revoked`, { provider, status: 'revoked' }),
				};
				for (const row of Object.values(rows)) await store.insert(row);
				const expected = {
					active: [rows.healthy, rows.retrying],
					failing: [rows.failing],
					needs_reauth: [rows.reauth],
					revoked: [rows.revoked],
				};
				for (const [status, want] of Object.entries(expected) as Array<
					[keyof typeof expected, NewConnection[]]
				>) {
					expect(ids(await store.list({ status, provider, limit: 10 }))).toEqual(
						want.map((row) => row.connectionId).sort(byteOrder),
					);
					// Alone: every row listed reports that status, and this case's rows of it are among them.
					const alone = await listAll(store, { status });
					expect(alone.filter((row) => reportedStatus(row) !== status)).toEqual([]);
					expect(ids(alone)).toEqual(expect.arrayContaining(want.map((row) => row.connectionId)));
				}
				expect(ids(await store.list({ provider, limit: 10 }))).toEqual(
					Object.values(rows)
						.map((row) => row.connectionId)
						.sort(byteOrder),
				);
			},
		);

		contractCase(
			'listProviderAndPrefix',
			'provider and id prefix filters match exactly: no wildcard, case and every byte count',
			async () => {
				const base = freshId('list-prefix');
				const tails = ['a%b', 'aXb', 'a_b', 'a!b', 'a\\b', 'a*b', 'a?b', 'a[b]', 'A%b', 'é%', 'e%'];
				const provider = `prefix-${base}`;
				for (const tail of tails)
					await store.insert(
						newConnection(`${base}:${tail}`, {
							provider: tail === 'aXb' ? `${provider}:other` : provider,
						}),
					);
				const withPrefix = async (prefix: string) =>
					ids(await store.list({ idPrefix: `${base}:${prefix}`, limit: 100 }));
				for (const prefix of ['a%', 'a_', 'a!', 'a\\', 'a*', 'a?', 'a[', 'A', 'é', 'e']) {
					expect(await withPrefix(prefix)).toEqual(
						tails
							.filter((tail) => tail.startsWith(prefix))
							.map((tail) => `${base}:${tail}`)
							.sort(byteOrder),
					);
				}
				expect(await withPrefix('a')).toHaveLength(8);
				expect(await withPrefix('%')).toEqual([]);
				expect(await withPrefix('')).toHaveLength(tails.length);
				// The whole id is a prefix of itself; one character more matches nothing.
				expect(await withPrefix('a[b]')).toEqual([`${base}:a[b]`]);
				expect(await withPrefix('a[b]x')).toEqual([]);
				// Provider alone, then with the prefix.
				const byProvider = await listAll(store, { provider });
				expect(ids(byProvider)).toEqual(
					tails
						.filter((tail) => tail !== 'aXb')
						.map((tail) => `${base}:${tail}`)
						.sort(byteOrder),
				);
				expect(
					ids(
						await store.list({ provider: `${provider}:other`, idPrefix: `${base}:a`, limit: 10 }),
					),
				).toEqual([`${base}:aXb`]);
				expect(await store.list({ provider: provider.toUpperCase(), limit: 10 })).toEqual([]);
			},
		);

		contractCase(
			'listContains',
			'the id "contains" filter (the connection picker\'s search) matches the text anywhere, exactly: no wildcard, case counts',
			async () => {
				const base = freshId('list-contains');
				const tails = [
					'acme',
					'pipedrive:acme',
					'pipedrive:acme-eu',
					'ACME',
					'globex',
					'a%c',
					'abc',
					'a_c',
					'a*c',
					'a?c',
					'a[c]',
					'a!c',
					'a\\c',
				];
				for (const tail of tails) await store.insert(newConnection(`${base}:${tail}`));
				const containing = async (text: string) =>
					ids(await store.list({ idPrefix: `${base}:`, idContains: text, limit: 100 }));
				const expected = (text: string) =>
					tails
						.filter((tail) => tail.includes(text))
						.map((tail) => `${base}:${tail}`)
						.sort(byteOrder);
				expect(await containing('acme')).toEqual(
					[`${base}:acme`, `${base}:pipedrive:acme`, `${base}:pipedrive:acme-eu`].sort(byteOrder),
				);
				for (const text of [
					'%',
					'_',
					'*',
					'?',
					'[c]',
					'!',
					'\\',
					'a%c',
					'a_c',
					'ACME',
					'me-e',
					'drive:a',
				])
					expect(await containing(text)).toEqual(expected(text));
				expect(await containing('nothing-like-it')).toEqual([]);
				// alone, and paged with `after`
				expect(ids(await store.list({ idContains: `${base}:pipedrive:`, limit: 100 }))).toEqual(
					expected('pipedrive:'),
				);
				expect(
					ids(
						await store.list({
							idContains: `${base}:pipedrive:`,
							after: `${base}:pipedrive:acme`,
							limit: 100,
						}),
					),
				).toEqual([`${base}:pipedrive:acme-eu`]);
			},
		);

		contractCase(
			'listDue',
			'the due filter: active rows (failing too) expiring before expiresBefore, or refreshed (else created) before idleBefore',
			async () => {
				const provider = `due-${freshId('p')}`;
				const prefix = freshId('list-due');
				const now = Date.now();
				const day = 86_400_000;
				const soon = new Date(now + 3_600_000);
				const far = new Date(now + 30 * day);
				// Unless a row says otherwise, its last refresh lies after every idleBefore used here.
				const row = (name: string, fields: Partial<ConnectionFields>) =>
					newConnection(`${prefix}:${name}`, {
						provider,
						expiresAt: far,
						lastRefreshedAt: new Date(now + 2 * day),
						...fields,
					});
				const rows = [
					row('expiring', { expiresAt: new Date(now + 60_000) }),
					row('idle', { lastRefreshedAt: new Date(now - 10 * day) }),
					row('fresh', {}),
					row('no-expiry', { expiresAt: null }),
					row('never-refreshed', { lastRefreshedAt: null }),
					row('failing-expiring', {
						expiresAt: new Date(now + 60_000),
						failingSince: new Date(now - day),
						failureCount: 5,
					}),
					row('reauth-expiring', { status: 'needs_reauth', expiresAt: new Date(now - day) }),
					row('revoked-idle', { status: 'revoked', lastRefreshedAt: new Date(now - 10 * day) }),
				];
				for (const r of rows) await store.insert(r);
				const due = async (
					expiresBefore: Date,
					idleBefore: Date,
					extra: Partial<ConnectionQuery> = {},
				) =>
					ids(
						await store.list({
							provider,
							due: { expiresBefore, idleBefore },
							limit: 100,
							...extra,
						}),
					).map((id) => id.slice(prefix.length + 1));
				// Expiry arm only (idleBefore far in the past).
				expect(await due(soon, new Date(now - 100 * day))).toEqual(
					['expiring', 'failing-expiring'].sort(byteOrder),
				);
				// Idle arm only (expiresBefore far in the past): refreshed 10 days ago.
				expect(await due(new Date(now - 100 * day), new Date(now - day))).toEqual(['idle']);
				// A row never refreshed counts from its creation (just now): idle once idleBefore is later.
				expect(await due(new Date(now - 100 * day), new Date(now + day))).toEqual([
					'idle',
					'never-refreshed',
				]);
				// Both arms.
				expect(await due(soon, new Date(now - day))).toEqual(
					['expiring', 'failing-expiring', 'idle'].sort(byteOrder),
				);
				expect(await due(soon, new Date(now - day), { status: 'failing' })).toEqual([
					'failing-expiring',
				]);
				expect(await due(soon, new Date(now - day), { status: 'active' })).toEqual(
					['expiring', 'idle'].sort(byteOrder),
				);
				expect(await due(soon, new Date(now - day), { limit: 1 })).toEqual(['expiring']);
			},
		);

		contractCase(
			'listDueCooldown',
			"the due filter leaves out rows in their cooldown by the database's clock, whatever the process clock says",
			async () => {
				if (!harness.databaseNow)
					throw new Error(
						`${name}: the harness has no databaseNow(); skip this case with a reason`,
					);
				const provider = `due-cooldown-${freshId('p')}`;
				const prefix = freshId('list-due-cooldown');
				const dbNow = (await harness.databaseNow()).getTime();
				const minute = 60_000;
				const expiring = new Date(dbNow + minute);
				const failed = { failureCount: 1, firstFailureAt: new Date(dbNow - 10 * minute) };
				const rows = {
					healthy: { nextAttemptAt: null },
					cooling: { ...failed, nextAttemptAt: new Date(dbNow + 10 * minute) },
					'cooling-failing': {
						...failed,
						nextAttemptAt: new Date(dbNow + 10 * minute),
						failingSince: new Date(dbNow - minute),
					},
					cooled: { ...failed, nextAttemptAt: new Date(dbNow - 10 * minute) },
					'cooled-failing': {
						...failed,
						nextAttemptAt: new Date(dbNow - 10 * minute),
						failingSince: new Date(dbNow - minute),
					},
				};
				for (const [tail, fields] of Object.entries(rows))
					await store.insert(
						newConnection(`${prefix}:${tail}`, { provider, expiresAt: expiring, ...fields }),
					);
				const due = async (extra: Partial<ConnectionQuery> = {}) =>
					ids(
						await store.list({
							provider,
							due: { expiresBefore: new Date(dbNow + 5 * minute), idleBefore: new Date(0) },
							limit: 100,
							...extra,
						}),
					).map((id) => id.slice(prefix.length + 1));
				const notCooling = ['cooled', 'cooled-failing', 'healthy'].sort(byteOrder);
				expect(await due()).toEqual(notCooling);
				// Rows left out take no place in a page.
				expect(await due({ limit: 2 })).toEqual(notCooling.slice(0, 2));
				expect(await due({ after: `${prefix}:cooled`, limit: 1 })).toEqual([notCooling[1]]);
				// A process clock an hour fast ends no cooldown; one an hour slow keeps none going.
				for (const offsetMs of [3_600_000, -3_600_000]) {
					skewClientClock(offsetMs);
					try {
						expect(await due()).toEqual(notCooling);
					} finally {
						jest.useRealTimers();
					}
				}
				// Without the due filter, rows in their cooldown are listed as any other.
				expect(ids(await store.list({ provider, limit: 100 }))).toHaveLength(
					Object.keys(rows).length,
				);
			},
		);

		contractCase(
			'listCombined',
			'filters combine: status, provider, prefix, due, after and limit at once',
			async () => {
				const provider = `combined-${freshId('p')}`;
				const prefix = freshId('list-combined');
				const now = Date.now();
				const names = ['b', 'C', 'a', 'é', 'd'];
				for (const [i, name] of names.entries()) {
					await store.insert(
						newConnection(`${prefix}:${name}`, {
							provider,
							expiresAt: new Date(now + (i % 2 ? 60_000 : 3_600_000 * 48)),
							failingSince: name === 'd' ? new Date(now) : null,
						}),
					);
				}
				await store.insert(
					newConnection(`${prefix}:other`, { provider: `${provider}-2`, expiresAt: new Date(now) }),
				);
				const query = {
					status: 'active',
					provider,
					idPrefix: `${prefix}:`,
					due: { expiresBefore: new Date(now + 3_600_000), idleBefore: new Date(0) },
				} as const;
				// Due: C and é expire soon (odd positions); d is failing, so not active.
				expect(ids(await store.list({ ...query, limit: 10 }))).toEqual([
					`${prefix}:C`,
					`${prefix}:é`,
				]);
				expect(ids(await store.list({ ...query, limit: 1 }))).toEqual([`${prefix}:C`]);
				expect(ids(await store.list({ ...query, after: `${prefix}:C`, limit: 1 }))).toEqual([
					`${prefix}:é`,
				]);
				expect(await store.list({ ...query, after: `${prefix}:é`, limit: 1 })).toEqual([]);
				expect(
					ids(await store.list({ provider, status: 'failing', idPrefix: `${prefix}:`, limit: 10 })),
				).toEqual([`${prefix}:d`]);
				// The rows listed are the stored rows.
				const [first] = await store.list({ ...query, limit: 1 });
				expect(first).toEqual(await store.get(first.connectionId));
			},
		);
	});
}
