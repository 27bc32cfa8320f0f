import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { StoreError } from '../../engine/errors';
import { PostgresTokenStore } from '../../engine/stores/postgres';
import type { TokenStore } from '../../engine/store';
import {
	createTemporaryPostgresDatabase,
	ICU_COLLATION,
	type TemporaryPostgresDatabase,
} from '../../tools/temporary-database';
import { byteOrder, describeStoreContract, newConnection } from './contract';
import {
	LIFECYCLE_COLUMNS,
	legacySchemaSql,
	tokensTableSql,
	expectUpgradedLifecycleRow,
} from './legacy-schema';
import { checkStatesTableUpgrade } from './states-table';
import { describePostgres } from './servers';

describePostgres()('PostgreSQL store (real server)', () => {
	describeStoreContract('PostgreSQL', async () => {
		// Under a collation that does not sort like bytes, so listing has to ask for byte order itself.
		const db = await createTemporaryPostgresDatabase('oauth2tm_contract', ICU_COLLATION);
		const stores: TokenStore[] = [];
		const open = () => {
			const store = new PostgresTokenStore({ pool: db.pool, createTableIfMissing: true });
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
				await Promise.all(stores.map((s) => s.close()));
				await db.drop();
			},
		};
	});

	describe('schema', () => {
		let db: TemporaryPostgresDatabase;
		const stores: PostgresTokenStore[] = [];
		const open = (options: { tableName?: string; createTableIfMissing?: boolean }) => {
			const store = new PostgresTokenStore({ pool: db.pool, ...options });
			stores.push(store);
			return store;
		};
		beforeAll(async () => {
			db = await createTemporaryPostgresDatabase('oauth2tm_schema');
		});
		afterAll(async () => {
			await Promise.all(stores.map((s) => s.close()));
			await db?.drop();
		});

		test('the shipped sql/postgres.sql creates a table the store accepts', async () => {
			await db.sql('create schema shipped');
			await db.sql(
				`set search_path = shipped; ${readFileSync(join(__dirname, '../../sql/postgres.sql'), 'utf8')}`,
			);
			const store = open({ tableName: 'shipped.oauth2_tokens' });
			await expect(store.verifySchema()).resolves.toBeUndefined();
			await store.insert(newConnection('shipped:1'));
			expect((await store.get('shipped:1'))!.version).toBe(1);
		});

		test('a missing table is an error that says how to create it; the option creates it', async () => {
			const store = open({ tableName: 'not_there' });
			await expect(store.get('x')).rejects.toThrow(/not_there does not exist/);
			await expect(store.get('x')).rejects.toBeInstanceOf(StoreError);
			const creating = open({ tableName: 'custom.tokens_by_option', createTableIfMissing: true });
			await db.sql('create schema custom');
			expect(await creating.get('x')).toBeNull();
			const rows = await db.sql(
				`select count(*)::int as n from information_schema.columns where table_schema = 'custom' and table_name = 'tokens_by_option'`,
			);
			expect(rows[0]).toEqual({ n: 24 });
		});

		test('a table of the wrong shape is an error naming the missing columns', async () => {
			await db.sql(
				'create table wrong_shape (connection_id text primary key, provider text, access_token text)',
			);
			const store = open({ tableName: 'wrong_shape', createTableIfMissing: true });
			const failure = store.get('x');
			await expect(failure).rejects.toBeInstanceOf(StoreError);
			await expect(failure).rejects.toThrow(
				/refresh_token, token_type, scope, expires_at, metadata, status, version, lease_holder/,
			);
		});

		test('a table of the previous release (before grant_type and the failure columns): reported with the exact SQL, or upgraded by the option, rows kept', async () => {
			// Two tables the previous version created, each holding a row.
			await db.sql('create schema legacy');
			for (const name of ['by_option', 'by_hand']) {
				await db.sql(
					`set search_path = legacy; ${legacySchemaSql('postgres', LIFECYCLE_COLUMNS).replace(/\boauth2_tokens\b/g, name)}`,
				);
				await db.sql(
					`insert into legacy.${name} (connection_id, provider, access_token) values ('old:1', 'pipedrive', 'ct:old')`,
				);
			}
			const columns = async (name: string) =>
				(
					await db.sql<{ column_name: string }>(
						`select column_name from information_schema.columns where table_schema = 'legacy' and table_name = $1`,
						[name],
					)
				).map((r) => r.column_name);
			expect(await columns('by_option')).toHaveLength(19);

			// Creation off: the error names the five columns and gives the exact statements, and nothing is changed.
			const off = open({ tableName: 'legacy.by_hand' });
			const failure = await off.get('old:1').catch((e) => e);
			expect(failure).toBeInstanceOf(StoreError);
			expect(failure.message).toBe(
				'The table legacy.by_hand lacks the columns grant_type, failure_count, first_failure_at, next_attempt_at, failing_since, which this version of the node adds',
			);
			const sql =
				'alter table "legacy"."by_hand" add column if not exists grant_type text; alter table "legacy"."by_hand" add column if not exists failure_count integer; alter table "legacy"."by_hand" add column if not exists first_failure_at timestamptz; alter table "legacy"."by_hand" add column if not exists next_attempt_at timestamptz; alter table "legacy"."by_hand" add column if not exists failing_since timestamptz;';
			expect(failure.description).toContain(`run: ${sql}`);
			await expect(off.verifySchema()).rejects.toThrow(
				/lacks the columns grant_type, failure_count/,
			);
			await expect(off.list({ limit: 10 })).rejects.toThrow(
				/lacks the columns grant_type, failure_count/,
			);
			expect(await columns('by_hand')).toHaveLength(19);
			// The statements from the message work as given (twice: they are idempotent).
			await db.sql(sql);
			await db.sql(sql);
			await expect(open({ tableName: 'legacy.by_hand' }).verifySchema()).resolves.toBeUndefined();

			// Creation on: the store adds them, even with three processes doing it at once, and keeps the row.
			const upgraders = [0, 1, 2].map(() =>
				open({ tableName: 'legacy.by_option', createTableIfMissing: true }),
			);
			const rows = await Promise.all(upgraders.map((store) => store.get('old:1')));
			expect(await columns('by_option')).toEqual(expect.arrayContaining([...LIFECYCLE_COLUMNS]));
			expect(await columns('by_option')).toHaveLength(24);
			await expectUpgradedLifecycleRow(upgraders, rows);

			// Running the shipped file again upgrades a legacy table too (the Supabase route).
			await db.sql('create schema rerun');
			await db.sql(`set search_path = rerun; ${legacySchemaSql('postgres')}`);
			await db.sql(
				`set search_path = rerun; ${readFileSync(join(__dirname, '../../sql/postgres.sql'), 'utf8')}`,
			);
			await expect(
				open({ tableName: 'rerun.oauth2_tokens' }).verifySchema(),
			).resolves.toBeUndefined();
		});

		test('a table whose connection_id sorts by another collation (tables made before listing) still lists byte by byte', async () => {
			const icu = await createTemporaryPostgresDatabase('oauth2tm_icu', ICU_COLLATION);
			const store = new PostgresTokenStore({ pool: icu.pool, createTableIfMissing: true });
			try {
				await icu.sql(legacySchemaSql('postgres', LIFECYCLE_COLUMNS));
				const ids = ['b', 'B', 'a', 'A', 'é', 'e', 'Z', '😀', '～', 'a b', 'ab'];
				for (const id of ids) await store.insert(newConnection(id));
				const bytes = [...ids].sort(byteOrder);
				const byCollation = await icu.sql<{ connection_id: string }>(
					'select connection_id from oauth2_tokens order by connection_id',
				);
				expect(byCollation.map((row) => row.connection_id)).not.toEqual(bytes);
				expect((await store.list({ limit: 100 })).map((row) => row.connectionId)).toEqual(bytes);
				const paged: string[] = [];
				for (
					let page = await store.list({ limit: 3 });
					page.length;
					page = await store.list({ after: paged[paged.length - 1], limit: 3 })
				) {
					paged.push(...page.map((row) => row.connectionId));
				}
				expect(paged).toEqual(bytes);
				expect(
					(await store.list({ idPrefix: 'a', limit: 100 })).map((row) => row.connectionId),
				).toEqual(['a', 'a b', 'ab']);
			} finally {
				await store.close();
				await icu.drop();
			}
		});

		test('adding the columns without the privilege is an error giving the statements for the owner', async () => {
			await db.sql('create schema owned');
			await db.sql(`set search_path = owned; ${legacySchemaSql('postgres')}`);
			const role = `oauth2tm_noalter_${process.pid}`;
			await db.sql(`drop role if exists ${role}; create role ${role} login password 'pw'`);
			try {
				await db.sql(
					`grant usage on schema owned to ${role}; grant select, insert, update on owned.oauth2_tokens to ${role}`,
				);
				const url = new URL(db.url);
				url.username = role;
				url.password = 'pw';
				const store = new PostgresTokenStore({
					pool: { connectionString: url.toString() },
					tableName: 'owned.oauth2_tokens',
					createTableIfMissing: true,
				});
				stores.push(store);
				const failure = await store.get('x').catch((e) => e);
				expect(failure).toBeInstanceOf(StoreError);
				// A table of the first release: every column added since.
				expect(failure.message).toMatch(
					/lacks the columns app_fingerprint, token_issued_at, grant_type, failure_count, first_failure_at, next_attempt_at, failing_since, which this version of the node adds, and adding them failed: must be owner of table oauth2_tokens \(42501\)/,
				);
				const add = (column: string) =>
					`alter table "owned"."oauth2_tokens" add column if not exists ${column}`;
				expect(failure.description).toBe(
					`Have the table's owner run: ${[
						add('app_fingerprint text'),
						add('token_issued_at timestamptz'),
						add('grant_type text'),
						add('failure_count integer'),
						add('first_failure_at timestamptz'),
						add('next_attempt_at timestamptz'),
						add('failing_since timestamptz'),
					].join('; ')};`,
				);
			} finally {
				await db.sql(`drop owned by ${role}; drop role ${role}`);
			}
		});

		test('a table created before the states table: tokens still served; the option creates it, or the error gives the SQL', async () => {
			await checkStatesTableUpgrade(
				{
					createTokensTable: async (name) => {
						await db.sql(
							tokensTableSql('postgres')
								.replace(/\boauth2_tokens\b/g, name)
								.replace(/\boauth2_tokens_expiry_idx\b/g, `${name}_expiry_idx`),
						);
					},
					open: (name, createTableIfMissing) => open({ tableName: name, createTableIfMissing }),
					runSql: async (sql) => {
						await db.sql(sql);
					},
					tables: async () =>
						(
							await db.sql<{ name: string }>(
								`select table_name as name from information_schema.tables where table_schema = 'public'`,
							)
						).map((r) => r.name),
				},
				(name) => `"${name}"`,
			);
		});

		test('table names are validated identifiers, never pasted into SQL', async () => {
			for (const bad of [
				'x; drop table y',
				'a"b',
				'a.b.c',
				'1abc',
				'tab le',
				`a${'b'.repeat(63)}`,
				'x--',
			]) {
				expect(() => new PostgresTokenStore({ pool: db.pool, tableName: bad })).toThrow(
					/Table Name|not a plain identifier/,
				);
			}
			const sentinel = new Client(db.pool);
			await sentinel.connect();
			await sentinel.end();
		});
	});
});
