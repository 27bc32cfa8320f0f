/**
 * Store factories: plain options in, a TokenStore out. The node maps its credentials to these options;
 * nothing here knows n8n.
 */
import { MySqlTokenStore, type MySqlStoreOptions } from './mysql';
import { PostgresStore, type PostgresStoreOptions } from './postgres';
import { SqliteTokenStore, type SqliteStoreOptions } from './sqlite';

export type { MySqlStoreOptions } from './mysql';
export type { PostgresStoreOptions } from './postgres';
export type { SqliteStoreOptions } from './sqlite';
export type { SchemaReport } from './sql-common';
export { MySqlTokenStore } from './mysql';
export { PostgresStore } from './postgres';
export { SqliteTokenStore, defaultSqlitePath, loadNodeSqlite, SQLITE_MIN_NODE } from './sqlite';

export function createPostgresStore(options: PostgresStoreOptions): PostgresStore {
	return new PostgresStore(options);
}

export function createMySqlStore(options: MySqlStoreOptions): MySqlTokenStore {
	return new MySqlTokenStore(options);
}

export function createSqliteStore(options: SqliteStoreOptions = {}): SqliteTokenStore {
	return new SqliteTokenStore(options);
}
