import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { StoreError } from '../../engine/errors';
import { PostgresStore } from '../../engine/stores/postgres';
import type { TokenStore } from '../../engine/store';
import { createTemporaryPostgresDatabase, type TemporaryDatabase } from '../helpers/postgres';
import { describeStoreContract, newConnection } from './contract';
import { describePostgres } from './servers';

describePostgres()('PostgreSQL store (real server)', () => {
	describeStoreContract('PostgreSQL', async () => {
		const db = await createTemporaryPostgresDatabase('oauth2tm_contract');
		const stores: TokenStore[] = [];
		const open = () => {
			const store = new PostgresStore({ pool: db.pool, createTableIfMissing: true });
			stores.push(store);
			return store;
		};
		return {
			store: open(),
			openSecond: async () => open(),
			databaseNow: async () => (await db.sql<{ now: Date }>('select clock_timestamp() as now'))[0].now,
			teardown: async () => {
				await Promise.all(stores.map((s) => s.close()));
				await db.drop();
			},
		};
	});

	describe('schema', () => {
		let db: TemporaryDatabase;
		const stores: PostgresStore[] = [];
		const open = (options: { tableName?: string; createTableIfMissing?: boolean }) => {
			const store = new PostgresStore({ pool: db.pool, ...options });
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
			await db.sql(`set search_path = shipped; ${readFileSync(join(__dirname, '../../sql/postgres.sql'), 'utf8')}`);
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
			const rows = await db.sql(`select count(*)::int as n from information_schema.columns where table_schema = 'custom' and table_name = 'tokens_by_option'`);
			expect(rows[0]).toEqual({ n: 17 });
		});

		test('a table of the wrong shape is an error naming the missing columns', async () => {
			await db.sql('create table wrong_shape (connection_id text primary key, provider text, access_token text)');
			const store = open({ tableName: 'wrong_shape', createTableIfMissing: true });
			const failure = store.get('x');
			await expect(failure).rejects.toBeInstanceOf(StoreError);
			await expect(failure).rejects.toThrow(/refresh_token, token_type, scope, expires_at, metadata, status, version, lease_holder/);
		});

		test('table names are validated identifiers, never pasted into SQL', async () => {
			for (const bad of ['x; drop table y', 'a"b', 'a.b.c', '1abc', 'tab le', `a${'b'.repeat(63)}`, 'x--']) {
				expect(() => new PostgresStore({ pool: db.pool, tableName: bad })).toThrow(/Table Name|not a plain identifier/);
			}
			const sentinel = new Client(db.pool);
			await sentinel.connect();
			await sentinel.end();
		});
	});
});
