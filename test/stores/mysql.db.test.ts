import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StoreError } from '../../engine/errors';
import { MySqlTokenStore } from '../../engine/stores/mysql';
import type { TokenStore } from '../../engine/store';
import {
	createTemporaryMySqlDatabase,
	type TemporaryMySqlDatabase,
} from '../../tools/temporary-database';
import { describeStoreContract, newConnection } from './contract';
import {
	LIFECYCLE_COLUMNS,
	legacySchemaSql,
	tokensTableSql,
	expectUpgradedLifecycleRow,
} from './legacy-schema';
import { checkStatesTableUpgrade } from './states-table';
import { describeMySql } from './servers';

describeMySql()('MySQL store (real MariaDB/MySQL server)', () => {
	describeStoreContract('MySQL', async () => {
		const db = await createTemporaryMySqlDatabase('oauth2tm_contract');
		const stores: TokenStore[] = [];
		const open = () => {
			const store = new MySqlTokenStore({ uri: db.url, createTableIfMissing: true });
			stores.push(store);
			return store;
		};
		return {
			store: open(),
			openSecond: async () => open(),
			databaseNow: async () =>
				(await db.sql<{ now: Date }>('select utc_timestamp(3) as now'))[0].now,
			writeRawGrantType: async (id, grantType) =>
				void (await db.sql('update oauth2_tokens set grant_type = ? where connection_id = ?', [
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
		let db: TemporaryMySqlDatabase;
		const stores: MySqlTokenStore[] = [];
		const open = (options: { tableName?: string; createTableIfMissing?: boolean }) => {
			const store = new MySqlTokenStore({ uri: db.url, ...options });
			stores.push(store);
			return store;
		};
		beforeAll(async () => {
			db = await createTemporaryMySqlDatabase('oauth2tm_schema');
		});
		afterAll(async () => {
			await Promise.all(stores.map((s) => s.close()));
			await db?.drop();
		});

		test('the shipped sql/mysql.sql creates a table the store accepts', async () => {
			await db.sql(readFileSync(join(__dirname, '../../sql/mysql.sql'), 'utf8'));
			const store = open({});
			await expect(store.verifySchema()).resolves.toBeUndefined();
			expect(await store.inspectSchema()).toEqual({
				table: 'oauth2_tokens',
				exists: true,
				missingColumns: [],
			});
			await store.insert(newConnection('shipped:1'));
			expect((await store.get('shipped:1'))!.version).toBe(1);
		});

		test('a missing table is an error that says how to create it; the option creates it', async () => {
			const store = open({ tableName: 'not_there' });
			expect(await store.inspectSchema()).toMatchObject({ exists: false });
			await expect(store.get('x')).rejects.toThrow(/not_there does not exist/);
			await expect(store.get('x')).rejects.toBeInstanceOf(StoreError);
			const creating = open({ tableName: 'tokens_by_option', createTableIfMissing: true });
			expect(await creating.get('x')).toBeNull();
			expect(await creating.inspectSchema()).toEqual({
				table: 'tokens_by_option',
				exists: true,
				missingColumns: [],
			});
		});

		test('a table of the wrong shape is an error naming the missing columns', async () => {
			await db.sql(
				'create table wrong_shape (connection_id varchar(255) primary key, provider text, access_token text)',
			);
			const store = open({ tableName: 'wrong_shape', createTableIfMissing: true });
			const failure = store.get('x');
			await expect(failure).rejects.toBeInstanceOf(StoreError);
			await expect(failure).rejects.toThrow(
				/lacks the columns refresh_token, token_type, scope, expires_at, metadata, status, version, lease_holder/,
			);
		});

		test('a table of the previous release (before grant_type and the failure columns): reported with the exact SQL, or upgraded by the option, rows kept', async () => {
			for (const name of ['by_option', 'by_hand']) {
				await db.sql(
					legacySchemaSql('mysql', LIFECYCLE_COLUMNS).replace(/\boauth2_tokens\b/g, name),
				);
				await db.sql(
					`insert into ${name} (connection_id, provider, access_token, metadata) values ('old:1', 'pipedrive', 'ct:old', '{}')`,
				);
			}
			const columns = async (name: string) =>
				(
					await db.sql<{ name: string }>(
						'select column_name as name from information_schema.columns where table_schema = database() and table_name = ?',
						[name],
					)
				).map((r) => r.name);
			expect(await columns('by_option')).toHaveLength(19);

			const off = open({ tableName: 'by_hand' });
			const failure = await off.get('old:1').catch((e) => e);
			expect(failure).toBeInstanceOf(StoreError);
			expect(failure.message).toBe(
				'The table by_hand lacks the columns grant_type, failure_count, first_failure_at, next_attempt_at, failing_since, which this version of the node adds',
			);
			const sql =
				'alter table `by_hand` add column grant_type varchar(32); alter table `by_hand` add column failure_count int; alter table `by_hand` add column first_failure_at datetime(3); alter table `by_hand` add column next_attempt_at datetime(3); alter table `by_hand` add column failing_since datetime(3);';
			expect(failure.description).toContain(`run: ${sql}`);
			expect(await columns('by_hand')).toHaveLength(19);
			await db.sql(sql);
			await expect(open({ tableName: 'by_hand' }).verifySchema()).resolves.toBeUndefined();

			const upgraders = [0, 1, 2].map(() =>
				open({ tableName: 'by_option', createTableIfMissing: true }),
			);
			const rows = await Promise.all(upgraders.map((store) => store.get('old:1')));
			expect(await columns('by_option')).toHaveLength(24);
			await expectUpgradedLifecycleRow(upgraders, rows);
		});

		test('a table created before the states table: tokens still served; the option creates it, or the error gives the SQL', async () => {
			await checkStatesTableUpgrade(
				{
					createTokensTable: async (name) => {
						await db.sql(tokensTableSql('mysql').replace(/\boauth2_tokens\b/g, name));
					},
					open: (name, createTableIfMissing) => open({ tableName: name, createTableIfMissing }),
					runSql: async (sql) => {
						await db.sql(sql);
					},
					tables: async () =>
						(
							await db.sql<{ name: string }>(
								'select table_name as name from information_schema.tables where table_schema = database()',
							)
						).map((r) => r.name),
				},
				(name) => `\`${name}\``,
			);
		});

		test('table names are validated identifiers, never pasted into SQL', () => {
			for (const bad of [
				'x; drop table y',
				'a`b',
				'db.table',
				'1abc',
				'tab le',
				`a${'b'.repeat(63)}`,
				'x--',
			]) {
				expect(() => new MySqlTokenStore({ uri: db.url, tableName: bad })).toThrow(
					/Table Name|not a plain identifier/,
				);
			}
		});

		test('an unreachable server is a StoreError that names the store and hides the password', async () => {
			const store = new MySqlTokenStore({
				host: '127.0.0.1',
				port: 1,
				user: 'u',
				password: 'SENTINEL-db-password',
				connectTimeoutMs: 2000,
			});
			stores.push(store);
			const failure = store.get('x');
			await expect(failure).rejects.toBeInstanceOf(StoreError);
			await expect(failure).rejects.toThrow(/MySQL table oauth2_tokens on 127\.0\.0\.1:1/);
			await failure.catch((error: Error) =>
				expect(
					JSON.stringify({ m: error.message, d: (error as StoreError).description }),
				).not.toContain('SENTINEL'),
			);
		});
	});
});
