/**
 * Embedded TokenStore: one SQLite file through Node's built-in node:sqlite (Node >= 22.16). Schema: sql/sqlite.sql.
 *
 * Several processes on one host may share the file (n8n queue mode workers): WAL mode lets readers run beside the
 * single writer, every write is one statement (atomic by itself), and busy_timeout makes a writer wait for the
 * file lock instead of failing. Leases use SQLite's clock (the host's), shared by every process on the host.
 * The file must be on a local disk: WAL needs shared memory, which network file systems do not provide.
 *
 * node:sqlite is synchronous; statements here are single-row primary-key operations, so they take microseconds,
 * and a writer waits for another process's lock at most `busyTimeoutMs`.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DatabaseSync, SQLInputValue } from 'node:sqlite';

import { ConnectionExistsError, ConnectionNotFoundError, StoreError, TokenManagerError, VersionConflictError } from '../errors';
import { storeIdentity, type TokenStore } from '../store';
import type { ConnectionFields, NewConnection, StoredConnection } from '../types';
import {
	addColumnsSql,
	fieldEntries,
	parseTableName,
	rowToConnection,
	schemaError,
	schemaReport,
	schemaSql,
	upgradable,
	upgradeError,
	versionedUpdateSet,
	type SchemaReport,
} from './sql-common';

export interface SqliteStoreOptions {
	/** Database file; empty = `defaultSqlitePath()`. ":memory:" works for one process. */
	filePath?: string;
	/** Default oauth2_tokens. */
	tableName?: string;
	/** Default true: the embedded store needs no setup. */
	createTableIfMissing?: boolean;
	/** How long a write waits for another process's lock (default 5000 ms). */
	busyTimeoutMs?: number;
}

export const SQLITE_MIN_NODE = '22.16.0';
/** Database time as ISO-8601 UTC with milliseconds: the format every time column holds, so text order = time order. */
const NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

/** `${N8N_USER_FOLDER or home}/.n8n/oauth2-token-manager.sqlite`: beside n8n's own data. */
export function defaultSqlitePath(env: NodeJS.ProcessEnv = process.env): string {
	const base = env.N8N_USER_FOLDER || os.homedir();
	return path.join(base, '.n8n', 'oauth2-token-manager.sqlite');
}

function nodeVersionAtLeast(required: string, actual = process.versions.node): boolean {
	const a = actual.split('.').map(Number);
	const r = required.split('.').map(Number);
	for (let i = 0; i < 3; i++) {
		if ((a[i] ?? 0) !== (r[i] ?? 0)) return (a[i] ?? 0) > (r[i] ?? 0);
	}
	return true;
}

type SqliteModule = typeof import('node:sqlite');

/** Loads node:sqlite on first use, so the package loads on any Node and only the embedded store needs 22.16. */
export function loadNodeSqlite(version = process.versions.node): SqliteModule {
	const unavailable = (detail: string) =>
		new StoreError(
			`The embedded (SQLite) store needs Node.js ${SQLITE_MIN_NODE} or newer; this n8n runs on Node.js ${version}${detail}`,
			`Run n8n on Node.js ${SQLITE_MIN_NODE} or newer (n8n 2.x requires it), or choose PostgreSQL, MySQL or Supabase as the storage.`,
		);
	if (!nodeVersionAtLeast(SQLITE_MIN_NODE, version)) throw unavailable('');
	try {
		// eslint-disable-next-line @typescript-eslint/no-require-imports
		return require('node:sqlite') as SqliteModule;
	} catch (error) {
		throw unavailable(` (node:sqlite failed to load: ${driverMessage(error)})`);
	}
}

/** Dates become ISO-8601 UTC text (the format of every time column); metadata is already JSON text. */
function encode(value: unknown): SQLInputValue {
	if (value instanceof Date) return value.toISOString();
	if (value === undefined) return null;
	return value as SQLInputValue;
}

/** Driver text, shortened. */
function driverMessage(error: unknown): string {
	return (error instanceof Error ? error.message : String(error)).slice(0, 300);
}

export class SqliteTokenStore implements TokenStore {
	readonly description: string;
	readonly filePath: string;
	private readonly tableParts: string[];
	private readonly table: string;
	private readonly createTableIfMissing: boolean;
	private readonly busyTimeoutMs: number;
	private db: DatabaseSync | undefined;
	private prepared = false;
	private resolvedIdentity: string | undefined;

	constructor(options: SqliteStoreOptions = {}) {
		this.tableParts = parseTableName(options.tableName, false);
		this.table = `"${this.tableParts[0]}"`;
		this.createTableIfMissing = options.createTableIfMissing ?? true;
		this.busyTimeoutMs = options.busyTimeoutMs ?? 5000;
		this.filePath = options.filePath?.trim() || defaultSqlitePath();
		this.description = `SQLite table ${this.tableParts[0]} in ${this.filePath}`;
	}

	/** The file's real path (links and relative paths resolved) and the table; every in-memory database is its own. */
	async identity(): Promise<string> {
		this.resolvedIdentity ??= this.guard('locate the file', () => {
			this.open();
			const file = this.filePath === ':memory:' ? `:memory:${randomUUID()}` : fs.realpathSync.native(this.filePath);
			return storeIdentity('sqlite', { file, table: this.tableParts[0] });
		});
		return this.resolvedIdentity;
	}

	/** Reports whether the table exists and which required columns it lacks. */
	async inspectSchema(): Promise<SchemaReport> {
		return this.guard('inspect the table', () => this.inspect(this.open()));
	}

	/** Throws a StoreError naming the missing columns, or telling how to create the table. */
	async verifySchema(): Promise<void> {
		const problem = schemaError(await this.inspectSchema(), 'sqlite', this.table);
		if (problem) throw problem;
	}

	async get(connectionId: string): Promise<StoredConnection | null> {
		return this.guard('read', () => {
			const row = this.ready().prepare(`select * from ${this.table} where connection_id = ?`).get(connectionId);
			return row ? rowToConnection(row) : null;
		});
	}

	async insert(connection: NewConnection): Promise<StoredConnection> {
		const entries: Array<[string, unknown]> = [['connection_id', connection.connectionId], ...fieldEntries(connection)];
		return this.guard('insert', () => {
			// One statement: the primary key decides, atomically, even between processes.
			const row = this.ready()
				.prepare(
					`insert into ${this.table} (${entries.map(([column]) => column).join(', ')}, version, created_at, updated_at)
					 values (${entries.map(() => '?').join(', ')}, 1, ${NOW}, ${NOW})
					 on conflict (connection_id) do nothing
					 returning *`,
				)
				.get(...entries.map(([, value]) => encode(value)));
			if (!row) throw new ConnectionExistsError(connection.connectionId);
			return rowToConnection(row);
		});
	}

	async update(connectionId: string, expectedVersion: number, fields: Partial<ConnectionFields>): Promise<StoredConnection> {
		const entries = fieldEntries(fields);
		const set = versionedUpdateSet(entries.map(([column]) => column), () => '?', NOW);
		return this.guard('update', () => {
			const db = this.ready();
			const row = db
				.prepare(`update ${this.table} set ${set} where connection_id = ? and version = ? returning *`)
				.get(...entries.map(([, value]) => encode(value)), connectionId, expectedVersion);
			if (row) return rowToConnection(row);
			if (!db.prepare(`select 1 as found from ${this.table} where connection_id = ?`).get(connectionId)) {
				throw new ConnectionNotFoundError(connectionId, this.description);
			}
			throw new VersionConflictError(connectionId, expectedVersion);
		});
	}

	async acquireLease(connectionId: string, holder: string, ttlMs: number): Promise<boolean> {
		const modifier = `+${(Math.max(1, Math.ceil(ttlMs)) / 1000).toFixed(3)} seconds`;
		return this.guard('take the refresh lease', () => {
			const result = this.ready()
				.prepare(
					`update ${this.table}
					    set lease_holder = ?, lease_until = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?)
					  where connection_id = ?
					    and (lease_holder is null or lease_until is null or lease_until <= ${NOW} or lease_holder = ?)`,
				)
				.run(holder, modifier, connectionId, holder);
			return Number(result.changes) === 1;
		});
	}

	async releaseLease(connectionId: string, holder: string): Promise<void> {
		this.guard('release the refresh lease', () =>
			this.ready()
				.prepare(`update ${this.table} set lease_holder = null, lease_until = null where connection_id = ? and lease_holder = ?`)
				.run(connectionId, holder),
		);
	}

	async delete(connectionId: string): Promise<boolean> {
		return this.guard('delete', () => {
			const result = this.ready().prepare(`delete from ${this.table} where connection_id = ?`).run(connectionId);
			return Number(result.changes) === 1;
		});
	}

	async deleteExpired(provider: string, before: Date, limit: number): Promise<number> {
		return this.guard('delete expired rows', () => {
			const result = this.ready()
				.prepare(
					`delete from ${this.table}
					  where connection_id in (select connection_id from ${this.table} where provider = ? and expires_at < ? limit ?)`,
				)
				.run(provider, encode(before), Math.max(0, Math.floor(limit)));
			return Number(result.changes);
		});
	}

	async close(): Promise<void> {
		const db = this.db;
		this.db = undefined;
		this.prepared = false;
		if (db?.isOpen) db.close();
	}

	/** The open database with the table checked (and created when allowed), once per store. */
	private ready(): DatabaseSync {
		const db = this.open();
		if (!this.prepared) {
			let report = this.inspect(db);
			// Only a missing table is created: a table of the wrong shape is reported, never altered.
			if (!report.exists && this.createTableIfMissing) {
				db.exec(schemaSql('sqlite', this.table, this.tableParts[0]));
				report = this.inspect(db);
			} else if (upgradable(report) && this.createTableIfMissing) {
				// Columns added since the table was created; another process may add them at the same moment.
				for (const statement of addColumnsSql('sqlite', this.table, report.missingColumns)) {
					try {
						db.exec(statement);
					} catch (error) {
						if (!/duplicate column name/i.test(driverMessage(error))) throw upgradeError(report, 'sqlite', this.table, driverMessage(error));
					}
				}
				report = this.inspect(db);
			}
			const problem = schemaError(report, 'sqlite', this.table);
			if (problem) throw problem;
			this.prepared = true;
		}
		return db;
	}

	private open(): DatabaseSync {
		if (this.db) return this.db;
		const { DatabaseSync } = loadNodeSqlite();
		if (this.filePath !== ':memory:') fs.mkdirSync(path.dirname(this.filePath), { recursive: true });
		const db = new DatabaseSync(this.filePath, { timeout: this.busyTimeoutMs });
		try {
			db.exec(`pragma busy_timeout = ${Math.max(0, Math.floor(this.busyTimeoutMs))}`);
			// WAL lets readers run beside the writer; the switch is stored in the file, so it happens once.
			const mode = db.prepare('pragma journal_mode = wal').get() as { journal_mode?: string } | undefined;
			if (this.filePath !== ':memory:' && mode?.journal_mode !== 'wal') {
				throw new Error(`the file stays in journal mode "${mode?.journal_mode}" instead of WAL`);
			}
			// FULL: a rotated refresh token, once written, survives a power cut (the old one may be dead already).
			db.exec('pragma synchronous = full');
		} catch (error) {
			db.close();
			throw error;
		}
		this.db = db;
		return db;
	}

	private inspect(db: DatabaseSync): SchemaReport {
		const rows = db.prepare('select name from pragma_table_info(?)').all(this.tableParts[0]) as Array<{ name: string }>;
		return schemaReport(this.tableParts, rows.length ? rows.map((row) => row.name) : null);
	}

	/** Turns SQLite failures into a StoreError naming the file and the action; engine errors pass through. */
	private guard<T>(action: string, work: () => T): T {
		try {
			return work();
		} catch (error) {
			if (error instanceof TokenManagerError) throw error;
			throw new StoreError(
				`${this.description}: could not ${action}: ${driverMessage(error)}`,
				'Check that the file path is writable by n8n and on a local disk, and that no other program holds it locked.',
			);
		}
	}
}
