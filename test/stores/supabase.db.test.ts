import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import nock from 'nock';
import { TokenCipher } from '../../engine/crypto';
import { StoreError } from '../../engine/errors';
import type { TokenStore } from '../../engine/store';
import { SupabaseTokenStore } from '../../engine/stores/supabase';
import { TokenManager } from '../../engine/token-manager';
import { ICU_COLLATION, type TemporaryPostgresDatabase } from '../../tools/temporary-database';
import { sqlFile, supabaseDatabase } from '../helpers/supabase';
import { postgrestOverPostgres } from '../helpers/postgrest';
import { rotatingTokenEndpoint, testClient } from '../helpers/provider';
import { describeStoreContract, newConnection, stateOrder } from './contract';
import { legacySchemaSql, tokensTableSql } from './legacy-schema';
import { describePostgres } from './servers';

const ORIGIN = 'https://project.supabase.test';
const SERVICE_ROLE_KEY = 'SENTINEL-service-role-key';

/** sql/supabase.sql as it was before the states table existed. */
const legacySupabaseSql = () =>
	sqlFile('supabase.sql')
		.split('\n')
		.filter((line) => !line.includes('oauth2_tokens_states'))
		.join('\n');

beforeAll(() => nock.disableNetConnect());
afterAll(() => {
	nock.enableNetConnect();
});

describePostgres()('Supabase store', () => {
	describe('the shipped SQL, on a real PostgreSQL', () => {
		let db: TemporaryPostgresDatabase;
		beforeAll(async () => {
			db = await supabaseDatabase();
		});
		afterAll(async () => db?.drop());

		test('turns row level security on with no policy and leaves the API roles no privilege', async () => {
			const [table] = await db.sql<{ rls: boolean; policies: number }>(
				`select relrowsecurity as rls, (select count(*)::int from pg_policies where tablename = 'oauth2_tokens') as policies
				   from pg_class where relname = 'oauth2_tokens'`,
			);
			expect(table).toEqual({ rls: true, policies: 0 });
			const [privileges] = await db.sql(
				`select has_table_privilege('anon', 'oauth2_tokens', 'select') as anon_select,
				        has_table_privilege('authenticated', 'oauth2_tokens', 'update') as authenticated_update,
				        has_function_privilege('anon', 'oauth2_token_manager_acquire_lease(text,text,text,integer)', 'execute') as anon_lease,
				        has_function_privilege('authenticated', 'oauth2_token_manager_now()', 'execute') as authenticated_clock`,
			);
			expect(privileges).toEqual({
				anon_select: false,
				authenticated_update: false,
				anon_lease: false,
				authenticated_clock: false,
			});
		});

		test('the states table too: row level security on with no policy, no privilege for the API roles', async () => {
			await db.sql('grant select on all tables in schema public to anon');
			await db.sql(sqlFile('supabase.sql'));
			const [table] = await db.sql<{ rls: boolean; policies: number }>(
				`select relrowsecurity as rls, (select count(*)::int from pg_policies where tablename = 'oauth2_tokens_states') as policies
				   from pg_class where relname = 'oauth2_tokens_states'`,
			);
			expect(table).toEqual({ rls: true, policies: 0 });
			const [privileges] = await db.sql(
				`select has_table_privilege('anon', 'oauth2_tokens_states', 'select') as anon_select,
				        has_table_privilege('authenticated', 'oauth2_tokens_states', 'insert') as authenticated_insert`,
			);
			expect(privileges).toEqual({ anon_select: false, authenticated_insert: false });
		});

		test('the lease functions take a free or expired lease on the database clock, and only its holder releases it', async () => {
			await db.sql(
				`insert into oauth2_tokens (connection_id, provider) values ('lease', 'pipedrive')`,
			);
			const acquire = async (holder: string, ttlMs: number) =>
				(
					await db.sql<{ taken: boolean }>(
						`select oauth2_token_manager_acquire_lease('public.oauth2_tokens', 'lease', $1, $2) as taken`,
						[holder, ttlMs],
					)
				)[0].taken;
			expect(await acquire('a', 300)).toBe(true);
			expect(await acquire('b', 300)).toBe(false);
			expect(await acquire('a', 300)).toBe(true);
			await db.sql(
				`select oauth2_token_manager_release_lease('public.oauth2_tokens', 'lease', 'b')`,
			);
			expect(await acquire('b', 300)).toBe(false);
			await db.sql('select pg_sleep(0.35)');
			expect(await acquire('b', 10_000)).toBe(true);
			await db.sql(
				`select oauth2_token_manager_release_lease('public.oauth2_tokens', 'lease', 'b')`,
			);
			const [row] = await db.sql(
				`select lease_holder, lease_until from oauth2_tokens where connection_id = 'lease'`,
			);
			expect(row).toEqual({ lease_holder: null, lease_until: null });
			expect(await acquire('c', 300)).toBe(true);
		});

		test('the lease functions refuse a table name that is not a table', async () => {
			await expect(
				db.sql(
					`select oauth2_token_manager_acquire_lease('oauth2_tokens; drop table oauth2_tokens', 'x', 'h', 1)`,
				),
			).rejects.toThrow(/does not exist|invalid name syntax/);
			expect(await db.sql(`select 1 from oauth2_tokens limit 1`)).toBeDefined();
		});

		test('updated_at follows every update', async () => {
			await db.sql(
				`insert into oauth2_tokens (connection_id, provider, created_at, updated_at) values ('touch', 'p', now() - interval '1 hour', now() - interval '1 hour')`,
			);
			await db.sql(`update oauth2_tokens set scope = 'x' where connection_id = 'touch'`);
			const [row] = await db.sql<{ fresh: boolean }>(
				`select updated_at > created_at + interval '59 minutes' as fresh from oauth2_tokens where connection_id = 'touch'`,
			);
			expect(row.fresh).toBe(true);
		});
	});

	describe('a table created before app_fingerprint and token_issued_at', () => {
		const origin = 'https://legacy.supabase.test';
		let db: TemporaryPostgresDatabase;
		let rest: ReturnType<typeof postgrestOverPostgres>;
		beforeAll(async () => {
			db = await supabaseDatabase(legacySchemaSql('postgres'), legacySupabaseSql());
			rest = postgrestOverPostgres(origin, db, { serviceRoleKey: SERVICE_ROLE_KEY });
		});
		afterAll(async () => {
			rest?.stop();
			await db?.drop();
		});

		test('is reported with the statements that add the columns; running sql/postgres.sql again upgrades it, rows kept', async () => {
			await db.sql(
				`insert into oauth2_tokens (connection_id, provider, access_token) values ('old:1', 'pipedrive', 'ct:old')`,
			);
			const store = new SupabaseTokenStore({ url: origin, serviceRoleKey: SERVICE_ROLE_KEY });
			try {
				const failure = await store.verifySchema().catch((e) => e);
				expect(failure).toBeInstanceOf(StoreError);
				expect(failure.message).toMatch(
					/^Supabase table public\.oauth2_tokens at https:\/\/legacy\.supabase\.test lacks a column: .*app_fingerprint/,
				);
				expect(failure.description).toContain('run sql/postgres.sql again');
				expect(failure.description).toContain(
					'alter table "public"."oauth2_tokens" add column if not exists app_fingerprint text; alter table "public"."oauth2_tokens" add column if not exists token_issued_at timestamptz;',
				);
				// Reading still works; a write that carries the new columns is refused with the same guidance.
				expect(await store.get('old:1')).toMatchObject({
					accessToken: 'ct:old',
					appFingerprint: null,
					tokenIssuedAt: null,
				});
				const write = await store.update('old:1', 1, { tokenIssuedAt: new Date() }).catch((e) => e);
				expect(write).toBeInstanceOf(StoreError);
				expect(write.description).toContain('run sql/postgres.sql again');

				await db.sql(sqlFile('postgres.sql'));
				await expect(store.verifySchema()).resolves.toBeUndefined();
				const issuedAt = new Date(Date.UTC(2030, 0, 1, 0, 0, 0, 1));
				const updated = await store.update('old:1', 1, {
					appFingerprint: 'v1:abc host',
					tokenIssuedAt: issuedAt,
				});
				expect(updated).toMatchObject({
					accessToken: 'ct:old',
					appFingerprint: 'v1:abc host',
					tokenIssuedAt: issuedAt,
					version: 2,
				});
			} finally {
				await store.close();
			}
		});
	});

	describe('tables created before the states table', () => {
		const origin = 'https://prestates.supabase.test';
		let db: TemporaryPostgresDatabase;
		let rest: ReturnType<typeof postgrestOverPostgres>;
		beforeAll(async () => {
			db = await supabaseDatabase(tokensTableSql('postgres'), legacySupabaseSql());
			rest = postgrestOverPostgres(origin, db, { serviceRoleKey: SERVICE_ROLE_KEY });
		});
		afterAll(async () => {
			rest?.stop();
			await db?.drop();
		});

		test('serve tokens; the first state is an error giving the SQL; running both SQL files again creates the table, rows kept', async () => {
			const store = new SupabaseTokenStore({ url: origin, serviceRoleKey: SERVICE_ROLE_KEY });
			try {
				await store.insert(newConnection('old:1'));
				await expect(store.verifySchema()).resolves.toBeUndefined();
				const failure = await store
					.consumeState('old:1', stateOrder(1, 'n'), new Date(Date.now() + 60_000))
					.catch((e) => e);
				expect(failure).toBeInstanceOf(StoreError);
				expect(failure.message).toBe(
					`The table public.oauth2_tokens_states, where the node records which authorization states were used, does not exist at ${origin}/`,
				);
				expect(failure.description).toMatch(
					/^Run sql\/postgres\.sql and sql\/supabase\.sql again in Supabase's SQL editor/,
				);
				expect(failure.description).toContain(
					'create table if not exists "public"."oauth2_tokens_states" (',
				);
				await expect(store.deleteStates('old:1')).rejects.toThrow(
					/oauth2_tokens_states, where the node records/,
				);

				await db.sql(sqlFile('postgres.sql'));
				await db.sql(sqlFile('supabase.sql'));
				expect(
					await store.consumeState('old:1', stateOrder(1, 'n'), new Date(Date.now() + 60_000)),
				).toBe(true);
				expect(
					await store.consumeState('old:1', stateOrder(1, 'n'), new Date(Date.now() + 60_000)),
				).toBe(false);
				expect((await store.get('old:1'))!.accessToken).toBe('ct:access:old:1');
				const [rls] = await db.sql<{ rls: boolean }>(
					`select relrowsecurity as rls from pg_class where relname = 'oauth2_tokens_states'`,
				);
				expect(rls.rls).toBe(true);
			} finally {
				await store.close();
			}
		});
	});

	describeStoreContract('Supabase (PostgREST under nock, SQL on real PostgreSQL)', async () => {
		const origin = 'https://contract.supabase.test';
		// Under a collation that does not sort like bytes: the order comes from the column's collation "C".
		const db = await supabaseDatabase(undefined, undefined, ICU_COLLATION);
		const rest = postgrestOverPostgres(origin, db, { serviceRoleKey: SERVICE_ROLE_KEY });
		const stores: TokenStore[] = [];
		const open = () => {
			const store = new SupabaseTokenStore({ url: origin, serviceRoleKey: SERVICE_ROLE_KEY });
			stores.push(store);
			return store;
		};
		return {
			store: open(),
			openSecond: async () => open(),
			databaseNow: async () =>
				(await db.sql<{ now: Date }>('select clock_timestamp() as now'))[0].now,
			writeRawGrantType: async (id, grantType) =>
				void (await db.sql('update oauth2_tokens set grant_type = $1 where connection_id = $2', [
					grantType,
					id,
				])),
			teardown: async () => {
				rest.stop();
				await Promise.all(stores.map((s) => s.close()));
				await db.drop();
			},
		};
	});

	describe('requests to PostgREST and engine behaviour', () => {
		let db: TemporaryPostgresDatabase;
		let rest: ReturnType<typeof postgrestOverPostgres>;
		let store: SupabaseTokenStore;
		beforeAll(async () => {
			db = await supabaseDatabase();
			rest = postgrestOverPostgres(ORIGIN, db, { serviceRoleKey: SERVICE_ROLE_KEY });
			store = new SupabaseTokenStore({ url: `${ORIGIN}/`, serviceRoleKey: SERVICE_ROLE_KEY });
		});
		afterEach(() => {
			rest.requests.length = 0;
		});
		afterAll(async () => {
			rest.stop();
			nock.cleanAll();
			await store?.close();
			await db?.drop();
		});

		test('sends exactly the PostgREST requests the design relies on', async () => {
			await store.insert(newConnection('rest:1'));
			await store.get('rest:1');
			await store.acquireLease('rest:1', 'holder-1', 5000);
			await store.update('rest:1', 1, { scope: 'new-scope' });
			const summary = rest.requests.map((r) => ({
				method: r.method,
				path: r.path,
				query: r.query,
			}));
			expect(summary).toEqual([
				{ method: 'POST', path: '/rest/v1/oauth2_tokens', query: { select: '*' } },
				{
					method: 'GET',
					path: '/rest/v1/oauth2_tokens',
					query: { select: '*', connection_id: 'eq.rest:1' },
				},
				{ method: 'POST', path: '/rest/v1/rpc/oauth2_token_manager_acquire_lease', query: {} },
				{
					method: 'PATCH',
					path: '/rest/v1/oauth2_tokens',
					query: { connection_id: 'eq.rest:1', version: 'eq.1', select: '*' },
				},
			]);
			for (const request of rest.requests) {
				expect(request.headers.apikey).toBe(SERVICE_ROLE_KEY);
				expect(request.headers.authorization).toBe(`Bearer ${SERVICE_ROLE_KEY}`);
			}
			expect(rest.requests[2].body).toEqual({
				p_table: 'public.oauth2_tokens',
				p_connection_id: 'rest:1',
				p_holder: 'holder-1',
				p_ttl_ms: 5000,
			});
			// The conditional write: the next version, the lease released, nothing else but the changed field.
			expect(rest.requests[3].body).toEqual({
				scope: 'new-scope',
				version: 2,
				lease_holder: null,
				lease_until: null,
			});
		});

		test('lists with one GET of PostgREST filters: not/match for ids, is, eq, in and or/and trees, gt after the last id, order, limit; due rows after asking the database clock', async () => {
			const expiresBefore = new Date(Date.UTC(2031, 0, 1));
			const idleBefore = new Date(Date.UTC(2030, 0, 1));
			await store.insert(newConnection('acme:*_1', { expiresAt: new Date(Date.UTC(2030, 6, 1)) }));
			rest.requests.length = 0;
			const listed = await store.list({
				status: 'active',
				provider: 'pipedrive',
				idPrefix: 'acme:*_',
				due: { expiresBefore, idleBefore },
				after: 'acme:',
				limit: 50,
			});
			expect(listed.map((row) => row.connectionId)).toEqual(['acme:*_1']);
			const knownGrant =
				'or(grant_type.is.null,grant_type.in.(authorization_code,client_credentials))';
			expect(
				rest.requests.map((r) => ({ method: r.method, path: r.path, params: r.params })),
			).toEqual([
				// The end of a cooldown is decided on the database's clock, which a PostgREST filter cannot name.
				{ method: 'POST', path: '/rest/v1/rpc/oauth2_token_manager_now', params: [] },
				{
					method: 'GET',
					path: '/rest/v1/oauth2_tokens',
					params: [
						['select', '*'],
						['connection_id', 'not.match.^\\_\\_oauth2tm\\_'],
						// Each condition (row-filters.ts) is one or=(…) term; the terms are and-ed.
						['or', `(and(status.eq.active,failing_since.is.null,${knownGrant}))`],
						[
							'or',
							expect.stringMatching(
								new RegExp(
									`^${escapeRegExp(
										`(and(status.eq.active,${knownGrant},or(expires_at.lt."2031-01-01T00:00:00.000Z",last_refreshed_at.lt."2030-01-01T00:00:00.000Z",and(last_refreshed_at.is.null,created_at.lt."2030-01-01T00:00:00.000Z")),or(next_attempt_at.is.null,next_attempt_at.lte."`,
									)}\\d{4}-\\d\\d-\\d\\dT[^"]+"\\)\\)\\)$`,
								),
							),
						],
						['provider', 'eq.pipedrive'],
						['connection_id', 'match.^acme\\:\\*\\_'],
						['connection_id', 'gt.acme:'],
						['order', 'connection_id.asc'],
						['limit', '50'],
					],
				},
			]);
			await store.list({ status: 'needs_reauth', limit: 1 });
			expect(rest.requests[2].params).toContainEqual([
				'or',
				'(or(status.eq.needs_reauth,and(status.eq.active,not.or(grant_type.is.null,grant_type.in.(authorization_code,client_credentials)))))',
			]);
		});

		test('records a used state with a conditional PATCH, else a POST, else (taken meanwhile) the PATCH again', async () => {
			const until = new Date(Date.UTC(2031, 0, 1));
			expect(await store.consumeState('rest:state', stateOrder(5, 'n'), until)).toBe(true);
			expect(await store.consumeState('rest:state', stateOrder(5, 'n'), until)).toBe(false);
			expect(await store.consumeState('rest:state', stateOrder(6, 'n'), until)).toBe(true);
			await store.deleteStates('rest:state');
			await store.deleteExpiredStates(new Date(Date.UTC(2030, 0, 1)), 7);
			const summary = rest.requests.map((r) => ({
				method: r.method,
				path: r.path,
				query: r.query,
			}));
			const patch = (order: string) => ({
				method: 'PATCH',
				path: '/rest/v1/oauth2_tokens_states',
				query: {
					connection_id: 'eq.rest:state',
					consumed_state: `lt.${order}`,
					select: 'connection_id',
				},
			});
			const post = { method: 'POST', path: '/rest/v1/oauth2_tokens_states', query: {} };
			expect(summary).toEqual([
				patch(stateOrder(5, 'n')),
				post,
				patch(stateOrder(5, 'n')),
				post,
				patch(stateOrder(5, 'n')),
				patch(stateOrder(6, 'n')),
				{
					method: 'DELETE',
					path: '/rest/v1/oauth2_tokens_states',
					query: { connection_id: 'eq.rest:state' },
				},
				{
					method: 'DELETE',
					path: '/rest/v1/oauth2_tokens_states',
					query: {
						expires_at: 'lt.2030-01-01T00:00:00.000Z',
						order: 'connection_id.asc',
						limit: '7',
						select: 'connection_id',
					},
				},
			]);
			expect(rest.requests[1].body).toEqual({
				connection_id: 'rest:state',
				consumed_state: stateOrder(5, 'n'),
				expires_at: until.toISOString(),
			});
		});

		test('50 concurrent Get Valid Token on an expired token: one token request; tokens encrypted in the row', async () => {
			const endpoint = rotatingTokenEndpoint({ delayMs: 30 });
			const manager = () =>
				new TokenManager({
					store,
					cipher: new TokenCipher('supabase-test-encryption-key'),
					client: testClient(),
					pollIntervalMs: 10,
				});
			await manager().exchangeAuthorizationCode('rest:expired', {
				code: 'c',
				allowMissingState: true,
			});
			await db.sql(
				`update oauth2_tokens set expires_at = now() - interval '1 second' where connection_id = 'rest:expired'`,
			);
			const results = await Promise.all(
				Array.from({ length: 50 }, () => manager().getValidToken('rest:expired')),
			);
			expect(endpoint.refreshRequests()).toHaveLength(1);
			expect(new Set(results.map((r) => r.connection.accessToken))).toEqual(
				new Set(['SENTINEL-access-2']),
			);
			const [raw] = await db.sql(
				`select * from oauth2_tokens where connection_id = 'rest:expired'`,
			);
			expect(JSON.stringify(raw)).not.toContain('SENTINEL');
			expect(JSON.stringify(rest.requests)).not.toMatch(/SENTINEL-(access|refresh)/);
		});

		test('a missing table, missing lease functions or a missing clock function point at the SQL files', async () => {
			const missing = new SupabaseTokenStore({
				url: ORIGIN,
				serviceRoleKey: SERVICE_ROLE_KEY,
				tableName: 'not_created',
			});
			const error = await missing.get('x').catch((e) => e);
			expect(error).toBeInstanceOf(StoreError);
			expect(error.message).toBe(`Supabase table public.not_created at ${ORIGIN} does not exist`);
			expect(error.description).toMatch(/sql\/postgres\.sql and then sql\/supabase\.sql/);
			const functionsMissing =
				/^The functions of Supabase table public\.oauth2_tokens at \S+ are missing$/;
			// Run before this version, sql/supabase.sql created no clock function: the credential test says so, and Keep Alive too.
			await db.sql('drop function oauth2_token_manager_now()');
			await expect(store.verifySchema()).rejects.toThrow(functionsMissing);
			await expect(
				store.list({ due: { expiresBefore: new Date(), idleBefore: new Date(0) }, limit: 1 }),
			).rejects.toThrow(functionsMissing);
			await db.sql('drop function oauth2_token_manager_release_lease(text, text, text)');
			await expect(store.verifySchema()).rejects.toThrow(functionsMissing);
		});

		test('a wrong service role key is a store error that does not echo the key', async () => {
			const wrong = new SupabaseTokenStore({ url: ORIGIN, serviceRoleKey: 'SENTINEL-wrong-key' });
			const error = await wrong.get('x').catch((e) => e);
			expect(error).toBeInstanceOf(StoreError);
			expect(error.message).toMatch(/Invalid API key/);
			expect(`${error.message} ${error.description}`).not.toContain('SENTINEL');
		});
	});
});

describe('Supabase store, unreachable', () => {
	test('a host nothing answers on gives a readable store error, not "TypeError: fetch failed"', async () => {
		// a port that was just free: connecting to it is refused
		const server = createServer().listen(0, '127.0.0.1');
		await once(server, 'listening');
		const { port } = server.address() as AddressInfo;
		server.close();
		await once(server, 'close');
		nock.enableNetConnect(`127.0.0.1:${port}`);
		try {
			const store = new SupabaseTokenStore({
				url: `http://127.0.0.1:${port}`,
				serviceRoleKey: SERVICE_ROLE_KEY,
			});
			const error = await store.get('x').catch((e) => e);
			expect(error).toBeInstanceOf(StoreError);
			expect(error.message).toBe(
				`Supabase table public.oauth2_tokens at http://127.0.0.1:${port} could not be reached: connect ECONNREFUSED 127.0.0.1:${port} (ECONNREFUSED)`,
			);
			expect(error.description).toMatch(/Check the Host/);
			expect(`${error.message} ${error.description}`).not.toContain('SENTINEL');
		} finally {
			nock.disableNetConnect();
		}
	});
});

function escapeRegExp(text: string): string {
	return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
