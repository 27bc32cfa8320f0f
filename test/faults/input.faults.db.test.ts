/**
 * Fault suite, input: callback state (tampered, expired, replayed, for another connection, missing), the
 * provider's ?error=, connection ids and table names that try SQL injection, oversize values. Every refused
 * input stores nothing and calls no provider.
 */
import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nock from 'nock';
import { legacyStateMarkerId, StateCodec } from '../../engine/authorization';
import { TokenCipher } from '../../engine/crypto';
import {
	AuthorizationDeniedError,
	InvalidInputError,
	InvalidStateError,
} from '../../engine/errors';
import { MySqlTokenStore, SqliteTokenStore } from '../../engine/stores';
import { PostgresTokenStore } from '../../engine/stores/postgres';
import { SupabaseTokenStore } from '../../engine/stores/supabase';
import type { TokenStore } from '../../engine/store';
import { TokenManager } from '../../engine/token-manager';
import { createTemporaryMySqlDatabase, TEST_MYSQL_URL } from '../../tools/temporary-database';
import { PROVIDER_ORIGIN, rotatingTokenEndpoint, testClient } from '../helpers/provider';
import { IN_CI, tcpReachable } from '../stores/servers';
import {
	ENCRYPTION_KEY,
	OLD_ENCRYPTION_KEY,
	expectFailure,
	useFaultEnv,
	type FaultEnv,
} from './harness';

let env: FaultEnv;
let n = 0;
const fresh = (label: string) => `input:${label}:${++n}`;

useFaultEnv((e) => {
	env = e;
});

/** Asserts nothing was stored for `id` and the provider was not called. */
async function expectNothingStored(id: string, endpoint: { requests: unknown[] }) {
	expect(await env.store.get(id)).toBeNull();
	expect(endpoint.requests).toHaveLength(0);
}

/** States as the node issues them for the fault store, here with a key or issue time of the test's choosing. */
async function statesOf(cipher: TokenCipher): Promise<StateCodec> {
	return new StateCodec(cipher, await env.store.identity());
}

function exchange(id: string, state: string | undefined, m: TokenManager = env.manager()) {
	return m.exchangeAuthorizationCode(id, { code: `code-for-${id}`, state });
}

describe('fault suite: callback state', () => {
	it('a tampered signature is refused; nothing stored, provider not called', async () => {
		const id = fresh('tampered-signature');
		const endpoint = rotatingTokenEndpoint();
		const { state } = await env.manager().buildAuthorizationUrl(id);
		const [body, signature] = state.split('.');
		const flipped = `${body}.${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`;
		const error = await expectFailure(env.hygiene, 'tampered signature', () =>
			exchange(id, flipped),
		);
		expect(error).toBeInstanceOf(InvalidStateError);
		expect(error).toMatchObject({ reason: 'tampered', code: 'invalid_state' });
		expect(error.message).toBe(
			'The state failed its signature check: it was altered, or signed with another key',
		);
		await expectNothingStored(id, endpoint);
	});

	it('a tampered payload (another connection id, the signature kept) is refused', async () => {
		const id = fresh('tampered-payload');
		const victim = fresh('victim');
		const endpoint = rotatingTokenEndpoint();
		const { state } = await env.manager().buildAuthorizationUrl(id);
		const [body, signature] = state.split('.');
		const payload = JSON.parse(Buffer.from(body, 'base64url').toString());
		const forged = `${Buffer.from(JSON.stringify({ ...payload, cid: victim })).toString('base64url')}.${signature}`;
		const error = await expectFailure(env.hygiene, 'tampered payload', () =>
			exchange(victim, forged),
		);
		expect(error).toMatchObject({ reason: 'tampered' });
		await expectNothingStored(victim, endpoint);
	});

	it('a state signed with another key (another n8n, a guessed key) is refused', async () => {
		const id = fresh('other-key');
		const endpoint = rotatingTokenEndpoint();
		const foreign = (await statesOf(new TokenCipher('an entirely different key 0000'))).issue(id, {
			pkce: false,
		});
		const error = await expectFailure(env.hygiene, 'other key', () => exchange(id, foreign.state));
		expect(error).toMatchObject({ reason: 'tampered' });
		await expectNothingStored(id, endpoint);
	});

	it('an expired state is refused with how long ago it expired', async () => {
		const id = fresh('expired');
		const endpoint = rotatingTokenEndpoint();
		const old = (await statesOf(env.cipher)).issue(id, {
			pkce: false,
			now: Date.now() - 25 * 60_000,
		});
		const error = await expectFailure(env.hygiene, 'expired', () => exchange(id, old.state));
		expect(error).toMatchObject({ reason: 'expired' });
		expect(error.message).toBe('The state expired about 15 minute(s) ago');
		expect(error.description).toMatch(/Start the authorization again/);
		await expectNothingStored(id, endpoint);
	});

	it('a replayed state is refused; the first exchange stays intact and the provider saw one code', async () => {
		const id = fresh('replayed');
		const endpoint = rotatingTokenEndpoint();
		const { state } = await env.manager().buildAuthorizationUrl(id);
		await exchange(id, state);
		const error = await expectFailure(env.hygiene, 'replayed', () => exchange(id, state));
		expect(error).toMatchObject({ reason: 'replayed' });
		expect(error.message).toBe(
			`The state was already used for connection "${id}" (or a newer authorization of it completed)`,
		);
		expect(endpoint.requests).toHaveLength(1);
		expect(await env.stored(id)).toMatchObject({
			accessToken: 'SENTINEL-access-1',
			refreshToken: 'SENTINEL-refresh-1',
			status: 'active',
		});
	});

	it('the same state raced by two n8n processes (two store instances): exactly one exchange happens', async () => {
		const id = fresh('raced');
		const endpoint = rotatingTokenEndpoint({ delayMs: 20 });
		const { state } = await env.manager().buildAuthorizationUrl(id);
		const second = new PostgresTokenStore({ pool: env.db.pool });
		try {
			const results = await Promise.allSettled([
				exchange(id, state),
				exchange(id, state, env.manager({ store: second })),
			]);
			const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
			expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
			expect(rejected).toHaveLength(1);
			expect(rejected[0].reason).toMatchObject({ reason: 'replayed' });
			env.hygiene.record('raced', rejected[0].reason);
		} finally {
			await second.close();
		}
		expect(endpoint.requests).toHaveLength(1);
	});

	it('an older state is refused once a newer one for the same connection was used (superseded)', async () => {
		const id = fresh('superseded');
		const endpoint = rotatingTokenEndpoint();
		const older = (await statesOf(env.cipher)).issue(id, { pkce: false, now: Date.now() - 60_000 });
		const newer = await env.manager().buildAuthorizationUrl(id);
		await exchange(id, newer.state);
		const error = await expectFailure(env.hygiene, 'superseded', () => exchange(id, older.state));
		expect(error).toMatchObject({ reason: 'replayed' });
		expect(endpoint.requests).toHaveLength(1);
	});

	it('a state issued for another connection is refused', async () => {
		const id = fresh('mine');
		const other = fresh('theirs');
		const endpoint = rotatingTokenEndpoint();
		const { state } = await env.manager().buildAuthorizationUrl(other);
		const error = await expectFailure(env.hygiene, 'other connection', () => exchange(id, state));
		expect(error).toMatchObject({ reason: 'other_connection' });
		expect(error.message).toBe(`The state was issued for another connection, not "${id}"`);
		await expectNothingStored(id, endpoint);
	});

	it('a missing state is refused by default and accepted only with Allow Missing State', async () => {
		const id = fresh('missing');
		const endpoint = rotatingTokenEndpoint();
		const error = await expectFailure(env.hygiene, 'missing', () => exchange(id, undefined));
		expect(error).toMatchObject({ reason: 'missing' });
		expect(error.description).toMatch(/allow a missing state/);
		await expectNothingStored(id, endpoint);
		const { connection } = await env
			.manager()
			.exchangeAuthorizationCode(id, { code: 'c', state: '', allowMissingState: true });
		expect(connection.status).toBe('active');
		// A state that is present is still checked, even with the option on.
		const tampered = await expectFailure(env.hygiene, 'present with option', () =>
			env.manager().exchangeAuthorizationCode(id, {
				code: 'c',
				state: 'garbage.state',
				allowMissingState: true,
			}),
		);
		expect(tampered).toMatchObject({ reason: 'tampered' });
	});

	it('garbage and oversize states are refused before any parsing or store access', async () => {
		const id = fresh('garbage');
		const endpoint = rotatingTokenEndpoint();
		for (const state of [
			'pipedrive:acme',
			'{"cid":"x"}',
			'a.b.c',
			"x'; drop table oauth2_tokens; --",
			'A'.repeat(100_000),
		]) {
			const error = await expectFailure(env.hygiene, 'garbage state', () => exchange(id, state));
			expect(error).toBeInstanceOf(InvalidStateError);
		}
		const big = await expectFailure(env.hygiene, 'oversize state', () =>
			exchange(id, 'A'.repeat(100_000)),
		);
		expect(big.message).toBe(
			'The state is 100000 characters long; a state the token manager issued is far shorter',
		);
		await expectNothingStored(id, endpoint);
	});

	it('a state issued before a key rotation still verifies with the old key configured as previous', async () => {
		const id = fresh('rotated-key');
		rotatingTokenEndpoint();
		const oldCipher = new TokenCipher(OLD_ENCRYPTION_KEY);
		const issued = (await statesOf(oldCipher)).issue(id, { pkce: true });
		const rotated = env.manager({ cipher: new TokenCipher(ENCRYPTION_KEY, [OLD_ENCRYPTION_KEY]) });
		const { connection } = await exchange(id, issued.state, rotated);
		expect(connection.status).toBe('active');
	});
});

describe('fault suite: a state replayed on another store that shares the Token Encryption Key', () => {
	const otherStoreMessage =
		'The state was issued for another token store (another table, database, server or database user) than the one checking this callback';

	/** `state` refused by `m` as issued for another store; nothing stored there. */
	async function expectOtherStore(
		where: string,
		m: TokenManager,
		store: TokenStore,
		id: string,
		state: string,
	) {
		const error = await expectFailure(env.hygiene, where, () => exchange(id, state, m));
		expect(error).toBeInstanceOf(InvalidStateError);
		expect(error).toMatchObject({
			reason: 'other_store',
			code: 'invalid_state',
			message: otherStoreMessage,
		});
		expect(error.description).toBe(
			'Complete the authorization on the token store it was started on, or start it again on this one.',
		);
		expect(await store.get(id)).toBeNull();
	}

	it('PostgreSQL and SQLite: a state from one is refused by the other without calling the provider; each works on its own', async () => {
		const sqlite = new SqliteTokenStore({ filePath: ':memory:' });
		try {
			const onSqlite = env.manager({ store: sqlite });
			const id = fresh('postgres-to-sqlite');
			const endpoint = rotatingTokenEndpoint();
			const fromPostgres = await env.manager().buildAuthorizationUrl(id);
			// The identity names server, database and user: the state carries only a keyed hash of it.
			expect(Buffer.from(fromPostgres.state.split('.')[0], 'base64url').toString()).not.toContain(
				env.db.name,
			);
			await expectOtherStore('postgres state on sqlite', onSqlite, sqlite, id, fromPostgres.state);
			expect(endpoint.requests).toHaveLength(0);
			expect((await exchange(id, fromPostgres.state)).connection.status).toBe('active');
			expect(endpoint.requests).toHaveLength(1);

			const back = fresh('sqlite-to-postgres');
			const fromSqlite = await onSqlite.buildAuthorizationUrl(back);
			await expectOtherStore(
				'sqlite state on postgres',
				env.manager(),
				env.store,
				back,
				fromSqlite.state,
			);
			expect(endpoint.requests).toHaveLength(1);
			expect((await exchange(back, fromSqlite.state, onSqlite)).connection.status).toBe('active');
			expect(endpoint.requests).toHaveLength(2);
		} finally {
			await sqlite.close();
		}
	});

	it('two PostgreSQL tables in one database: a state used on one is not accepted again on the other', async () => {
		const otherTable = new PostgresTokenStore({
			pool: env.db.pool,
			tableName: 'oauth2_tokens_second',
			createTableIfMissing: true,
		});
		try {
			const id = fresh('two-tables');
			const endpoint = rotatingTokenEndpoint();
			const { state } = await env.manager().buildAuthorizationUrl(id);
			expect((await exchange(id, state)).connection.status).toBe('active');
			await expectOtherStore(
				'replayed on another table',
				env.manager({ store: otherTable }),
				otherTable,
				id,
				state,
			);
			expect(endpoint.requests).toHaveLength(1);
		} finally {
			await otherTable.close();
		}
	});

	it('a state of an earlier version, signed with the current key but bound to no store, is refused: start again', async () => {
		const id = fresh('unbound');
		const endpoint = rotatingTokenEndpoint();
		const iat = Date.now();
		const body = Buffer.from(
			JSON.stringify({ v: 1, cid: id, n: 'nonce', iat, exp: iat + 600_000 }),
		).toString('base64url');
		const signature = createHmac('sha256', env.cipher.subkeys('oauth-state/signing/v1')[0])
			.update(`oauth2tm-state.v1.${body}`)
			.digest('base64url');
		const error = await expectFailure(env.hygiene, 'unbound state', () =>
			exchange(id, `${body}.${signature}`),
		);
		expect(error).toMatchObject({ reason: 'outdated', code: 'invalid_state' });
		expect(error.message).toBe(
			'The state was issued by an earlier version of the token manager, before states were bound to their token store, and is no longer accepted',
		);
		expect(error.description).toMatch(/^Start the authorization again/);
		await expectNothingStored(id, endpoint);
	});
});

describe('fault suite: the provider error on the callback', () => {
	it('?error=access_denied: a clear message, nothing stored, provider not called', async () => {
		const id = fresh('denied');
		const endpoint = rotatingTokenEndpoint();
		const { state } = await env.manager().buildAuthorizationUrl(id);
		const error = await expectFailure(env.hygiene, 'access_denied', () =>
			env.manager().exchangeAuthorizationCode(id, {
				code: '',
				state,
				providerError: 'access_denied',
				providerErrorDescription: 'User denied access',
			}),
		);
		expect(error).toBeInstanceOf(AuthorizationDeniedError);
		expect(error.code).toBe('access_denied');
		expect(error.message).toBe(
			'The account owner declined the authorization at the provider (access_denied): User denied access',
		);
		expect(error.description).toMatch(/Nothing was stored/);
		await expectNothingStored(id, endpoint);
	});

	it('another ?error= with hostile text: cleaned of control characters and cut short', async () => {
		const id = fresh('hostile-error');
		const endpoint = rotatingTokenEndpoint();
		const error = await expectFailure(env.hygiene, 'hostile error', () =>
			env.manager().exchangeAuthorizationCode(id, {
				code: '',
				providerError: 'server_error\r\nSet-Cookie: x=1',
				providerErrorDescription: 'x'.repeat(5000),
			}),
		);
		expect(error.message).toMatch(
			/^The provider returned an error instead of an authorization code: server_error Set-Cookie: x=1 – x+$/,
		);
		expect(error.message.length).toBeLessThan(400);
		await expectNothingStored(id, endpoint);
	});
});

describe('fault suite: SQL injection and oversize values', () => {
	const hostileIds = [
		"x'); drop table oauth2_tokens; --",
		"pipedrive:acme' or '1'='1",
		'"; delete from oauth2_tokens where "1"="1',
		"\\'; update oauth2_tokens set status='revoked'; --",
		'`; drop table oauth2_tokens; #',
		'$1 $2 ? ?? :name',
		'名前:😀:ünïcødé',
	];

	async function injectionRoundTrip(store: TokenStore, count: () => Promise<number>) {
		const m = new TokenManager({
			store,
			cipher: env.cipher,
			client: testClient(),
			endpoint: { retryBaseDelayMs: 1 },
		});
		const bystander = fresh('bystander');
		rotatingTokenEndpoint();
		await m.exchangeAuthorizationCode(bystander, { code: 'c', allowMissingState: true });
		const before = await count();
		for (const id of hostileIds) {
			const { connection } = await m.exchangeAuthorizationCode(id, {
				code: 'c',
				allowMissingState: true,
			});
			expect(connection.connectionId).toBe(id);
			expect((await m.getValidToken(id)).connection.connectionId).toBe(id);
		}
		expect(await count()).toBe(before + hostileIds.length);
		expect((await m.getValidToken(bystander)).connection).toMatchObject({
			status: 'active',
			accessToken: 'SENTINEL-access-1',
		});
	}

	it('PostgreSQL: hostile connection ids are stored verbatim as data; the table and other rows are untouched', async () => {
		await injectionRoundTrip(env.store, async () =>
			Number((await env.db.sql<{ n: string }>('select count(*) as n from oauth2_tokens'))[0].n),
		);
	});

	it('SQLite: the same', async () => {
		const dir = mkdtempSync(join(tmpdir(), 'oauth2tm-faults-'));
		const store = new SqliteTokenStore({ filePath: join(dir, 't.sqlite') });
		try {
			let rows = 0;
			const countingStore = new Proxy(store, {
				get(target, name, receiver) {
					const value = Reflect.get(target, name, receiver);
					if (name === 'insert')
						return async (...a: unknown[]) => (
							(rows += 1),
							(value as (...args: unknown[]) => unknown).apply(target, a)
						);
					return typeof value === 'function' ? value.bind(target) : value;
				},
			}) as TokenStore;
			await injectionRoundTrip(countingStore, async () => rows);
			for (const id of hostileIds) expect((await store.get(id))?.connectionId).toBe(id);
		} finally {
			await store.close();
			rmSync(dir, { recursive: true, force: true });
		}
	});

	(IN_CI || tcpReachable(TEST_MYSQL_URL, 3306) ? it : it.skip)(
		'MySQL/MariaDB: the same',
		async () => {
			const db = await createTemporaryMySqlDatabase('oauth2tm_faults');
			const store = new MySqlTokenStore({ uri: db.url, createTableIfMissing: true });
			try {
				await injectionRoundTrip(store, async () =>
					Number((await db.sql<{ n: number }>('select count(*) as n from oauth2_tokens'))[0].n),
				);
			} finally {
				await store.close();
				await db.drop();
			}
		},
	);

	it('table names that try SQL injection are refused by every store, naming the field, before any query', () => {
		const hostile = [
			'oauth2_tokens; drop table users',
			'x" or "1"="1',
			'a.b.c',
			'`x`',
			"t'--",
			'tokens where 1=1',
		];
		for (const tableName of hostile) {
			const attempts: Array<() => unknown> = [
				() => new PostgresTokenStore({ tableName, pool: { host: '127.0.0.1', port: 1 } }),
				() => new MySqlTokenStore({ tableName, host: '127.0.0.1', port: 1 }),
				() => new SqliteTokenStore({ tableName, filePath: join(tmpdir(), 'never-created.sqlite') }),
				() =>
					new SupabaseTokenStore({ url: 'https://x.supabase.co', serviceRoleKey: 'k', tableName }),
			];
			for (const attempt of attempts) {
				let error: unknown;
				try {
					attempt();
				} catch (e) {
					error = e;
				}
				expect(error).toBeInstanceOf(InvalidInputError);
				expect(error).toMatchObject({ field: 'tableName' });
			}
		}
	});

	it('oversize input: connection id, authorization code; and a reserved id', async () => {
		const endpoint = rotatingTokenEndpoint();
		for (const id of ['x'.repeat(256), 'x'.repeat(1_000_000)]) {
			const error = await expectFailure(env.hygiene, 'long id', () =>
				env.manager().getValidToken(id),
			);
			expect(error).toMatchObject({ field: 'connectionId' });
			expect(error.message.length).toBeLessThan(200);
		}
		const code = await expectFailure(env.hygiene, 'long code', () =>
			env.manager().exchangeAuthorizationCode(fresh('long-code'), {
				code: 'c'.repeat(100_000),
				allowMissingState: true,
			}),
		);
		expect(code).toMatchObject({ field: 'code' });
		const reserved = await expectFailure(env.hygiene, 'reserved id', () =>
			env.manager().getValidToken(legacyStateMarkerId('x')),
		);
		expect(reserved.message).toMatch(/reserved for the token manager's own records/);
		expect(endpoint.requests).toHaveLength(0);
	});

	it('oversize tokens from the provider (64 KB): stored encrypted, read back intact', async () => {
		const id = fresh('big-token');
		const big = 'SENTINEL-access-' + 'b'.repeat(64 * 1024);
		nock(PROVIDER_ORIGIN).post('/oauth/token').reply(200, {
			access_token: big,
			refresh_token: 'SENTINEL-refresh-big',
			token_type: 'Bearer',
			expires_in: 3600,
		});
		await env.manager().exchangeAuthorizationCode(id, { code: 'c', allowMissingState: true });
		expect((await env.manager().getValidToken(id)).connection.accessToken).toBe(big);
		const [raw] = await env.db.sql<{ access_token: string }>(
			'select access_token from oauth2_tokens where connection_id = $1',
			[id],
		);
		expect(raw.access_token).toMatch(/^enc:v1:/);
		expect(createHash('sha256').update(raw.access_token).digest('hex')).not.toBe(
			createHash('sha256').update(big).digest('hex'),
		);
	});
});
