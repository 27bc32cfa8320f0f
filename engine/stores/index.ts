/** The stores and their options: plain options in, a TokenStore out; nothing here knows n8n. Supabase: ./supabase. */
export type { MemoryStoreOptions } from './memory';
export type { MySqlStoreOptions } from './mysql';
export type { PostgresStoreOptions } from './postgres';
export type { SqliteStoreOptions } from './sqlite';
export type { SchemaReport } from './sql-schema';
export { MemoryTokenStore } from './memory';
export { MySqlTokenStore } from './mysql';
export { PostgresTokenStore } from './postgres';
export { SqliteTokenStore, defaultSqlitePath, loadNodeSqlite, SQLITE_MIN_NODE } from './sqlite';
