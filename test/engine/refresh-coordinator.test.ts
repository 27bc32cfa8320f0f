/**
 * The refresh coordinator on the in-memory store: single flight within one registry, the lease between
 * registries (as between processes), waiting for another holder, the refresh deadline inside the lease, writes
 * the store refused; and the one helper that decides a write again after a version conflict. The "provider" is
 * a step that counts its calls; tokens are plain text (the coordinator never decrypts anything itself).
 */
import {
	LeaseTimeoutError,
	NeedsReauthorizationError,
	StoreError,
	VersionConflictError,
} from '../../engine/errors';
import {
	RefreshCoordinator,
	RefreshRegistry,
	type RefreshSteps,
} from '../../engine/refresh/coordinator';
import { leaseSettings, type LeaseSettings } from '../../engine/refresh/lease';
import type { TokenStore } from '../../engine/store';
import { MemoryTokenStore } from '../../engine/stores/memory';
import type { Connection, NewConnection, StoredConnection } from '../../engine/types';
import { WRITE_ATTEMPTS, writeFromLatest } from '../../engine/versioned-write';
import { sleep } from '../../tools/sleep';

const APP = 'v1:app-a';
let store: MemoryTokenStore;
let n = 0;

beforeEach(() => {
	store = new MemoryTokenStore();
});

function coordinator(
	options: {
		registry?: RefreshRegistry;
		store?: TokenStore;
		app?: string;
		lease?: Partial<LeaseSettings>;
		saveRetries?: number;
	} = {},
) {
	return new RefreshCoordinator({
		store: options.store ?? store,
		appFingerprint: options.app ?? APP,
		registry: options.registry ?? new RefreshRegistry(),
		lease: leaseSettings({ ttlMs: 1000, pollIntervalMs: 5, ...options.lease }),
		saveRetries: options.saveRetries ?? 0,
		refreshTokenOf: (row) => row.refreshToken,
	});
}

/** A connection whose access token expired a second ago. */
function expired(connectionId = `coordinated:${++n}`): NewConnection {
	return {
		connectionId,
		provider: 'pipedrive',
		accessToken: 'access-0',
		refreshToken: 'refresh-0',
		tokenType: 'Bearer',
		scope: null,
		expiresAt: new Date(Date.now() - 1000),
		metadata: {},
		status: 'active',
		lastRefreshedAt: null,
		refreshCount: 0,
		lastError: null,
		appFingerprint: APP,
		tokenIssuedAt: null,
	};
}

const expiredConnection = (): Promise<StoredConnection> => store.insert(expired());

/**
 * A provider that issues access-N / refresh-N after 20 ms, and the steps of a refresh through `via` that is
 * needed while no refresh completed since `started` was read.
 */
function provider() {
	const deadlines: number[] = [];
	const steps = (via: RefreshCoordinator, started: Connection): RefreshSteps => ({
		read: async () => (await store.get(started.connectionId))!,
		stillNeeded: async (c) => c.refreshCount === started.refreshCount,
		refresh: async (leased, deadline) => {
			deadlines.push(deadline);
			await sleep(20);
			const count = leased.refreshCount + 1;
			return via.saveRefreshed(leased, {
				accessToken: `access-${count}`,
				refreshToken: `refresh-${count}`,
				refreshCount: count,
			});
		},
	});
	return { deadlines, steps };
}

describe('one refresh per connection', () => {
	test('20 concurrent callers through two coordinators of one registry join one refresh and get its token', async () => {
		const started = await expiredConnection();
		const registry = new RefreshRegistry();
		let leaseAttempts = 0;
		const counting = new Proxy(store, {
			get(target, name, receiver) {
				const value = Reflect.get(target, name, receiver);
				if (name === 'acquireLease') leaseAttempts += 1;
				return typeof value === 'function' ? value.bind(target) : value;
			},
		});
		const [a, b] = [
			coordinator({ registry, store: counting }),
			coordinator({ registry, store: counting }),
		];
		const { deadlines, steps } = provider();
		const results = await Promise.all(
			Array.from({ length: 20 }, (_, i) =>
				(i % 2 ? a : b).refresh(started, steps(i % 2 ? a : b, started)),
			),
		);
		expect(deadlines).toHaveLength(1);
		// The 19 others joined the flight in this process: only one caller asked the store for the lease.
		expect(leaseAttempts).toBe(1);
		expect(results.map((r) => [r.connection.accessToken, r.refreshed])).toEqual(
			Array.from({ length: 20 }, () => ['access-1', true]),
		);
	});

	test('registries of their own share nothing but the store, as two processes: the lease and the re-check under it still make one refresh', async () => {
		const started = await expiredConnection();
		const { deadlines, steps } = provider();
		const coordinators = Array.from({ length: 4 }, () => coordinator());
		const results = await Promise.all(
			coordinators.flatMap((c) =>
				Array.from({ length: 5 }, () => c.refresh(started, steps(c, started))),
			),
		);
		expect(deadlines).toHaveLength(1);
		expect(new Set(results.map((r) => r.connection.accessToken))).toEqual(new Set(['access-1']));
		expect((await store.get(started.connectionId))!).toMatchObject({
			refreshToken: 'refresh-1',
			refreshCount: 1,
			leaseHolder: null,
		});
	});

	test('lock, then re-check: a caller that read the connection before another refresh completed finds it done under the lease', async () => {
		const started = await expiredConnection();
		const { deadlines, steps } = provider();
		const other = coordinator();
		await other.refresh(started, steps(other, started));
		// The lease is free at once; what decides is the read under it.
		const late = coordinator();
		expect(await late.refresh(started, steps(late, started))).toMatchObject({
			refreshed: true,
			connection: { accessToken: 'access-1', refreshCount: 1 },
		});
		expect(deadlines).toHaveLength(1);
	});

	test('the refresh deadline counts from when the lease was asked for and ends before the lease does', async () => {
		const started = await expiredConnection();
		const c = coordinator({ lease: { ttlMs: 3000, refreshDeadlineMs: 1200 } });
		let leaseUntil = 0;
		const before = Date.now();
		await c.refresh(started, {
			...provider().steps(c, started),
			refresh: async (leased, deadline) => {
				leaseUntil = (await store.get(leased.connectionId))!.leaseUntil!.getTime();
				expect(deadline).toBeGreaterThanOrEqual(before + 1200);
				expect(deadline).toBeLessThanOrEqual(Date.now() + 1200);
				expect(deadline).toBeLessThan(leaseUntil);
				return c.saveRefreshed(leased, { accessToken: 'access-1', refreshCount: 1 });
			},
		});
		expect(leaseUntil).toBeGreaterThan(0);
	});

	test('waits while another holder has the lease and takes the token it wrote, without a refresh of its own', async () => {
		const started = await expiredConnection();
		const id = started.connectionId;
		expect(await store.acquireLease(id, 'other-process', 10_000)).toBe(true);
		const c = coordinator({ lease: { ttlMs: 10_000 } });
		const { deadlines, steps } = provider();
		const waiting = c.refresh(started, steps(c, started));
		await sleep(50);
		await store.update(id, started.version, {
			accessToken: 'access-from-other',
			refreshToken: 'refresh-from-other',
			refreshCount: 1,
		});
		expect(await waiting).toMatchObject({
			refreshed: true,
			connection: { accessToken: 'access-from-other' },
		});
		expect(deadlines).toHaveLength(0);
	});

	test('gives up after the wait with a LeaseTimeoutError when the holder neither finishes nor lets go', async () => {
		const started = await expiredConnection();
		expect(await store.acquireLease(started.connectionId, 'stuck-process', 10_000)).toBe(true);
		const c = coordinator({ lease: { ttlMs: 10_000, waitMs: 150 } });
		const { deadlines, steps } = provider();
		const startedAt = Date.now();
		await expect(c.refresh(started, steps(c, started))).rejects.toThrow(LeaseTimeoutError);
		expect(Date.now() - startedAt).toBeGreaterThanOrEqual(150);
		expect(deadlines).toHaveLength(0);
		expect((await store.get(started.connectionId))!.leaseHolder).toBe('stuck-process');
	});
});

describe('writes the store refused', () => {
	/** The store, refusing every update while `refusing` is set. */
	function refusingStore() {
		const state = { refusing: false, refused: 0 };
		const wrapped = new Proxy(store, {
			get(target, name, receiver) {
				const value = Reflect.get(target, name, receiver);
				if (name !== 'update' || typeof value !== 'function')
					return typeof value === 'function' ? value.bind(target) : value;
				return async (...args: Parameters<TokenStore['update']>) => {
					if (state.refusing) {
						state.refused += 1;
						throw new StoreError('the table refused the write');
					}
					return target.update(...args);
				};
			},
		});
		return { state, store: wrapped };
	}

	test('a refused write is retried, then kept; written first on the next call; only its own registry, table and app see it', async () => {
		const started = await expiredConnection();
		const id = started.connectionId;
		const registry = new RefreshRegistry();
		const refusing = refusingStore();
		const c = coordinator({ registry, store: refusing.store, saveRetries: 1 });
		refusing.state.refusing = true;
		const error = await c.refresh(started, provider().steps(c, started)).catch((e) => e);
		expect(error).toBeInstanceOf(StoreError);
		expect(error.message).toBe(
			`The provider issued new tokens for connection "${id}" but ${store.description} did not accept the write (the table refused the write).`,
		);
		expect(refusing.state.refused).toBe(2);
		refusing.state.refusing = false;

		// Another registry, another app, another table: none of them has the kept write.
		await coordinator({ registry: new RefreshRegistry() }).writeRefused(id);
		await coordinator({ registry, app: 'v1:app-b' }).writeRefused(id);
		await coordinator({ registry, store: new MemoryTokenStore() }).writeRefused(id);
		expect((await store.get(id))!).toMatchObject({
			refreshToken: 'refresh-0',
			version: started.version,
		});

		await coordinator({ registry, store: store.share() }).writeRefused(id);
		expect((await store.get(id))!).toMatchObject({
			accessToken: 'access-1',
			refreshToken: 'refresh-1',
			refreshCount: 1,
		});
		// Written once: the next call has nothing left to write.
		const version = (await store.get(id))!.version;
		await c.writeRefused(id);
		expect((await store.get(id))!.version).toBe(version);
	});

	test('a kept write is dropped, not applied, once another refresh token is stored (a new grant replaced it)', async () => {
		const started = await expiredConnection();
		const id = started.connectionId;
		const registry = new RefreshRegistry();
		const refusing = refusingStore();
		const c = coordinator({ registry, store: refusing.store });
		refusing.state.refusing = true;
		await expect(c.refresh(started, provider().steps(c, started))).rejects.toThrow(StoreError);
		refusing.state.refusing = false;
		const regranted = await store.update(id, started.version, {
			accessToken: 'access-regranted',
			refreshToken: 'refresh-regranted',
		});
		await c.writeRefused(id);
		expect((await store.get(id))!).toMatchObject({
			accessToken: 'access-regranted',
			refreshToken: 'refresh-regranted',
			version: regranted.version,
		});
	});

	test('a still-refusing store: the kept write stays kept and the call says so', async () => {
		const started = await expiredConnection();
		const refusing = refusingStore();
		const c = coordinator({ store: refusing.store });
		refusing.state.refusing = true;
		await expect(c.refresh(started, provider().steps(c, started))).rejects.toThrow(StoreError);
		await expect(c.writeRefused(started.connectionId)).rejects.toThrow(
			`Tokens that the provider issued for connection "${started.connectionId}" are still waiting to be saved: ${store.description} did not accept the write (the table refused the write).`,
		);
		refusing.state.refusing = false;
		await c.writeRefused(started.connectionId);
		expect((await store.get(started.connectionId))!.refreshToken).toBe('refresh-1');
	});

	test('a newer grant stored while the provider answered wins: saveRefreshed returns it and writes nothing', async () => {
		const started = await expiredConnection();
		const regranted = await store.update(started.connectionId, started.version, {
			refreshToken: 'refresh-regranted',
		});
		const saved = await coordinator().saveRefreshed(started, {
			accessToken: 'access-1',
			refreshToken: 'refresh-1',
		});
		expect(saved).toEqual(regranted);
		expect(await store.get(started.connectionId)).toEqual(regranted);
	});
});

describe('writeFromLatest: one way to write after another writer changed the row first', () => {
	test('a version conflict makes it decide again from the row as it is now', async () => {
		const row = await expiredConnection();
		const seen: Array<string | null> = [];
		const written = await writeFromLatest(store, row.connectionId, async (latest) => {
			seen.push(latest!.lastError);
			// The first time, another writer gets in between this read and this write.
			if (seen.length === 1)
				await store.update(row.connectionId, latest!.version, { lastError: 'written by another' });
			return store.update(row.connectionId, latest!.version, {
				metadata: { seen: String(latest!.lastError) },
			});
		});
		expect(seen).toEqual([null, 'written by another']);
		expect(written).toMatchObject({
			lastError: 'written by another',
			metadata: { seen: 'written by another' },
		});
	});

	test('an insert that finds the id taken becomes an update of the row that took it', async () => {
		const id = `coordinated:${++n}`;
		const calls: Array<StoredConnection | null> = [];
		const written = await writeFromLatest(store, id, async (latest) => {
			calls.push(latest);
			if (!latest) {
				// Another writer inserts the same id between this read and this insert.
				await store.share().insert(expired(id));
				return store.insert(expired(id));
			}
			return store.update(id, latest.version, { lastError: 'updated' });
		});
		expect(calls[0]).toBeNull();
		expect(calls[1]).toMatchObject({ connectionId: id, version: 1 });
		expect(written).toMatchObject({ lastError: 'updated', version: 2 });
	});

	test(`gives up after ${WRITE_ATTEMPTS} conflicts in a row with a StoreError naming the connection`, async () => {
		const row = await expiredConnection();
		let calls = 0;
		const error = await writeFromLatest(store, row.connectionId, async () => {
			calls += 1;
			throw new VersionConflictError(row.connectionId, row.version);
		}).catch((e) => e);
		expect(calls).toBe(WRITE_ATTEMPTS);
		expect(error).toBeInstanceOf(StoreError);
		expect(error.message).toBe(
			`Connection "${row.connectionId}" kept changing while it was being written (${WRITE_ATTEMPTS} attempts)`,
		);
	});

	test('any other error passes through at once', async () => {
		const row = await expiredConnection();
		let calls = 0;
		const refused = new NeedsReauthorizationError(
			row.connectionId,
			'the provider rejected its refresh token (invalid_grant)',
		);
		await expect(
			writeFromLatest(store, row.connectionId, async () => {
				calls += 1;
				throw refused;
			}),
		).rejects.toBe(refused);
		expect(calls).toBe(1);
	});
});
