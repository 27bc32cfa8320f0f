import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, homedir } from 'node:os';
import { join } from 'node:path';
import { StoreError } from '../../engine/errors';
import { SqliteTokenStore, defaultSqlitePath, loadNodeSqlite } from '../../engine/stores';
import type { TokenStore } from '../../engine/store';
import { describeStoreContract, newConnection } from './contract';
import {
	LIFECYCLE_COLUMNS,
	legacySchemaSql,
	tokensTableSql,
	expectUpgradedLifecycleRow,
} from './legacy-schema';
import { checkStatesTableUpgrade } from './states-table';

describe('SQLite (embedded) store', () => {
	describeStoreContract('SQLite', async () => {
		const dir = mkdtempSync(join(tmpdir(), 'oauth2tm-sqlite-'));
		const filePath = join(dir, 'tokens.sqlite');
		const stores: TokenStore[] = [];
		const open = () => {
			const store = new SqliteTokenStore({ filePath });
			stores.push(store);
			return store;
		};
		const { DatabaseSync } = loadNodeSqlite();
		const withFile = <T>(work: (db: InstanceType<typeof DatabaseSync>) => T): T => {
			const db = new DatabaseSync(filePath);
			try {
				return work(db);
			} finally {
				db.close();
			}
		};
		return {
			store: open(),
			openSecond: async () => open(),
			databaseNow: async () =>
				withFile(
					(db) =>
						new Date(
							(
								db.prepare("select strftime('%Y-%m-%dT%H:%M:%fZ', 'now') as now").get() as {
									now: string;
								}
							).now,
						),
				),
			writeRawGrantType: async (id, grantType) =>
				void withFile((db) =>
					db
						.prepare('update oauth2_tokens set grant_type = ? where connection_id = ?')
						.run(grantType, id),
				),
			teardown: async () => {
				await Promise.all(stores.map((s) => s.close()));
				rmSync(dir, { recursive: true, force: true });
			},
		};
	});

	describe('file, mode and schema', () => {
		let dir: string;
		const stores: SqliteTokenStore[] = [];
		const open = (options: ConstructorParameters<typeof SqliteTokenStore>[0]) => {
			const store = new SqliteTokenStore(options);
			stores.push(store);
			return store;
		};
		beforeAll(() => {
			dir = mkdtempSync(join(tmpdir(), 'oauth2tm-sqlite-schema-'));
		});
		afterAll(async () => {
			await Promise.all(stores.map((s) => s.close()));
			rmSync(dir, { recursive: true, force: true });
		});

		test("the default file sits beside n8n's data: <N8N_USER_FOLDER or home>/.n8n/oauth2-token-manager.sqlite", () => {
			expect(defaultSqlitePath({ N8N_USER_FOLDER: '/data/n8n' })).toBe(
				'/data/n8n/.n8n/oauth2-token-manager.sqlite',
			);
			expect(defaultSqlitePath({})).toBe(join(homedir(), '.n8n', 'oauth2-token-manager.sqlite'));
			expect(new SqliteTokenStore({ filePath: '  ' }).filePath).toBe(defaultSqlitePath());
		});

		test('the file is created (with its folder) in WAL mode with the table', async () => {
			const filePath = join(dir, 'nested', 'folder', 'tokens.sqlite');
			const store = open({ filePath });
			await store.insert(newConnection('wal:1'));
			const { DatabaseSync } = loadNodeSqlite();
			const raw = new DatabaseSync(filePath);
			try {
				expect(raw.prepare('pragma journal_mode').get()).toEqual({ journal_mode: 'wal' });
				const row = raw
					.prepare('select connection_id, expires_at, lease_until from oauth2_tokens')
					.get();
				expect(row).toEqual({
					connection_id: 'wal:1',
					expires_at: '2031-05-06T07:08:09.123Z',
					lease_until: null,
				});
			} finally {
				raw.close();
			}
		});

		test('the shipped sql/sqlite.sql creates a table the store accepts', async () => {
			const filePath = join(dir, 'shipped.sqlite');
			const { DatabaseSync } = loadNodeSqlite();
			const raw = new DatabaseSync(filePath);
			raw.exec(readFileSync(join(__dirname, '../../sql/sqlite.sql'), 'utf8'));
			raw.close();
			const store = open({ filePath, createTableIfMissing: false });
			expect(await store.inspectSchema()).toEqual({
				table: 'oauth2_tokens',
				exists: true,
				missingColumns: [],
			});
			await store.insert(newConnection('shipped:1'));
			expect((await store.get('shipped:1'))!.version).toBe(1);
		});

		test('a missing table (creation off) and a table of the wrong shape are errors naming what is wrong', async () => {
			const filePath = join(dir, 'shapes.sqlite');
			const missing = open({ filePath, tableName: 'not_there', createTableIfMissing: false });
			await expect(missing.get('x')).rejects.toThrow(/not_there does not exist/);
			const { DatabaseSync } = loadNodeSqlite();
			const raw = new DatabaseSync(filePath);
			raw.exec(
				'create table wrong_shape (connection_id text primary key, provider text, access_token text)',
			);
			raw.close();
			const wrong = open({ filePath, tableName: 'wrong_shape' });
			const failure = wrong.get('x');
			await expect(failure).rejects.toBeInstanceOf(StoreError);
			await expect(failure).rejects.toThrow(
				/lacks the columns refresh_token, token_type, scope, expires_at, metadata, status, version, lease_holder/,
			);
			const custom = open({ filePath, tableName: 'Custom_Tokens' });
			await custom.insert(newConnection('custom:1'));
			expect((await custom.get('custom:1'))!.connectionId).toBe('custom:1');
		});

		test('a table of the previous release (before grant_type and the failure columns): reported with the exact SQL, or upgraded, rows kept', async () => {
			const filePath = join(dir, 'legacy.sqlite');
			const { DatabaseSync } = loadNodeSqlite();
			const raw = new DatabaseSync(filePath);
			for (const name of ['by_default', 'by_hand']) {
				raw.exec(legacySchemaSql('sqlite', LIFECYCLE_COLUMNS).replace(/\boauth2_tokens\b/g, name));
				raw.exec(
					`insert into ${name} (connection_id, provider, access_token) values ('old:1', 'pipedrive', 'ct:old')`,
				);
			}
			const columns = (name: string) =>
				raw
					.prepare('select name from pragma_table_info(?)')
					.all(name)
					.map((r) => r.name);
			expect(columns('by_default')).toHaveLength(19);
			try {
				const off = open({ filePath, tableName: 'by_hand', createTableIfMissing: false });
				const failure = await off.get('old:1').catch((e) => e);
				expect(failure).toBeInstanceOf(StoreError);
				expect(failure.message).toBe(
					'The table by_hand lacks the columns grant_type, failure_count, first_failure_at, next_attempt_at, failing_since, which this version of the node adds',
				);
				const sql =
					'alter table "by_hand" add column grant_type text; alter table "by_hand" add column failure_count integer; alter table "by_hand" add column first_failure_at text; alter table "by_hand" add column next_attempt_at text; alter table "by_hand" add column failing_since text;';
				expect(failure.description).toContain(`run: ${sql}`);
				expect(columns('by_hand')).toHaveLength(19);
				raw.exec(sql);
				await expect(
					open({ filePath, tableName: 'by_hand', createTableIfMissing: false }).verifySchema(),
				).resolves.toBeUndefined();

				// The embedded store creates by default, so it upgrades by default; two instances at once.
				const upgraders = [
					open({ filePath, tableName: 'by_default' }),
					open({ filePath, tableName: 'by_default' }),
				];
				const rows = await Promise.all(upgraders.map((store) => store.get('old:1')));
				expect(columns('by_default')).toHaveLength(24);
				await expectUpgradedLifecycleRow(upgraders, rows);
			} finally {
				raw.close();
			}
		});

		test('a table created before the states table: tokens still served; the option creates it, or the error gives the SQL', async () => {
			const filePath = join(dir, 'pre-states.sqlite');
			const { DatabaseSync } = loadNodeSqlite();
			const raw = new DatabaseSync(filePath);
			try {
				await checkStatesTableUpgrade(
					{
						createTokensTable: async (name) => {
							raw.exec(
								tokensTableSql('sqlite')
									.replace(/\boauth2_tokens_expiry_idx\b/g, `${name}_expiry_idx`)
									.replace(/\boauth2_tokens\b/g, name),
							);
						},
						open: (name, createTableIfMissing) =>
							open({ filePath, tableName: name, createTableIfMissing }),
						runSql: async (sql) => raw.exec(sql),
						tables: async () =>
							raw
								.prepare("select name from sqlite_master where type = 'table'")
								.all()
								.map((row) => String(row.name)),
					},
					(name) => `"${name}"`,
				);
			} finally {
				raw.close();
			}
		});

		test('table names are validated identifiers, never pasted into SQL', () => {
			for (const bad of [
				'x; drop table y',
				'a"b',
				'main.t',
				'1abc',
				'tab le',
				`a${'b'.repeat(63)}`,
			]) {
				expect(
					() => new SqliteTokenStore({ filePath: join(dir, 'n.sqlite'), tableName: bad }),
				).toThrow(/Table Name|not a plain identifier/);
			}
		});

		test('on a Node without node:sqlite the error names the required version', () => {
			expect(() => loadNodeSqlite('20.19.0')).toThrow(StoreError);
			expect(() => loadNodeSqlite('22.15.1')).toThrow(
				/needs Node\.js 22\.16\.0 or newer; this process runs on Node\.js 22\.15\.1/,
			);
			expect(() => loadNodeSqlite('22.16.0')).not.toThrow();
		});

		test('an unwritable path is a StoreError naming the file', async () => {
			const blocker = join(dir, 'a-file');
			writeFileSync(blocker, 'not a folder');
			const store = open({ filePath: join(blocker, 'sub', 'tokens.sqlite') });
			await expect(store.get('x')).rejects.toBeInstanceOf(StoreError);
			await expect(store.get('x')).rejects.toThrow(/a-file\/sub\/tokens\.sqlite: could not read/);
		});
	});
});
