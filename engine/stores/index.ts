/** The SQL stores and their options: plain options in, a TokenStore out; nothing here knows n8n. */
export type { MySqlStoreOptions } from './mysql';
export type { PostgresStoreOptions } from './postgres';
export type { SqliteStoreOptions } from './sqlite';
export type { SchemaReport } from './sql-common';
export { MySqlTokenStore } from './mysql';
export { PostgresStore } from './postgres';
export { SqliteTokenStore, defaultSqlitePath, loadNodeSqlite, SQLITE_MIN_NODE } from './sqlite';
