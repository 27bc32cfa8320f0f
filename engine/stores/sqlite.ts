/**
 * Embedded TokenStore: one SQLite file through Node's built-in node:sqlite (Node >= 22.16). Schema: sql/sqlite.sql.
 * The statements are SqlTokenStore's; this file holds what is SQLite's own: the file and its pragmas, ?N
 * placeholders, the clock as ISO-8601 text, error codes.
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
import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';

import { StoreError } from '../errors';
import { storeIdentity } from '../store';
import { parseTableName } from './sql-schema';
import type { SqlDialect, SqlDriver } from './sql-dialect';
import { SqlTokenStore } from './sql-store';

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
/** SQLite extended result codes: a primary key or unique constraint failed. */
const SQLITE_CONSTRAINT_PRIMARYKEY = 1555;
const SQLITE_CONSTRAINT_UNIQUE = 2067;

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
			`The embedded (SQLite) store needs Node.js ${SQLITE_MIN_NODE} or newer; this process runs on Node.js ${version}${detail}`,
			`Run on Node.js ${SQLITE_MIN_NODE} or newer, or choose PostgreSQL, MySQL or Supabase as the storage.`,
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

/** Prepared statements kept per open file: a store runs a handful of distinct statements over and over. */
const MAX_CACHED_STATEMENTS = 64;

interface CachedStatement {
	statement: StatementSync;
	returnsRows: boolean;
}

/** The file, opened on first use with the pragmas every process on it needs. */
class SqliteFile {
	private db: DatabaseSync | undefined;
	/** Preparing costs more than running a primary-key read; SQLite prepares a kept statement again itself when the schema changes. */
	private readonly statements = new Map<string, CachedStatement>();

	constructor(
		readonly filePath: string,
		private readonly busyTimeoutMs: number,
	) {}

	open(): DatabaseSync {
		if (this.db) return this.db;
		const { DatabaseSync } = loadNodeSqlite();
		if (this.filePath !== ':memory:')
			fs.mkdirSync(path.dirname(this.filePath), { recursive: true });
		const db = new DatabaseSync(this.filePath, { timeout: this.busyTimeoutMs });
		try {
			db.exec(`pragma busy_timeout = ${Math.max(0, Math.floor(this.busyTimeoutMs))}`);
			// WAL lets readers run beside the writer; the switch is stored in the file, so it happens once.
			const mode = db.prepare('pragma journal_mode = wal').get() as
				{ journal_mode?: string } | undefined;
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

	/** The statement for `sql` on the open file, prepared on its first use. */
	prepared(sql: string): CachedStatement {
		let cached = this.statements.get(sql);
		if (!cached) {
			cached = { statement: this.open().prepare(sql), returnsRows: /^\s*select\b/i.test(sql) };
			// Statements that embed a value (a batch size) vary: the oldest goes first.
			if (this.statements.size >= MAX_CACHED_STATEMENTS)
				this.statements.delete(this.statements.keys().next().value!);
			this.statements.set(sql, cached);
		}
		return cached;
	}

	close(): void {
		const db = this.db;
		this.db = undefined;
		this.statements.clear();
		if (db?.isOpen) db.close();
	}
}

function sqliteDialect(file: SqliteFile): SqlDialect {
	return {
		name: 'sqlite',
		hint: 'Check that the file path is writable by this process and on a local disk, and that no other program holds it locked.',
		quote: (identifier) => `"${identifier}"`,
		// Index names are unique per database: they follow the table's.
		indexPrefix: (table) => table,
		placeholder: (index) => `?${index + 1}`,
		now: NOW,
		later: (ttlMs) =>
			`strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+' || (${ttlMs} / 1000.0) || ' seconds')`,
		encode,
		// Text compares with the BINARY collation (memcmp of the UTF-8 bytes) unless a column says otherwise.
		byteOrder: (column) => column,
		// Without statistics (no ANALYZE) SQLite takes status = 'active' as selective, reads every active row through the
		// expiry index and sorts them, for each page; the unary + keeps it on the primary key, already in list order.
		listedStatus: '+status',
		equalsExactly: (column, value) => `${column} = ${value}`,
		// GLOB, unlike SQLite's LIKE, is case-sensitive; a wildcard character in brackets matches itself.
		startsWith: (column, pattern) => `${column} glob ${pattern}`,
		prefixPattern: (prefix) => `${prefix.replace(/[*?[]/g, '[$&]')}*`,
		containsPattern: (text) => `*${text.replace(/[*?[]/g, '[$&]')}*`,
		deleteAtMost: (table, where, limit) =>
			`delete from ${table} where connection_id in (select connection_id from ${table} where ${where} limit ${limit})`,
		isDuplicateKey: (error) =>
			[SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE].includes(
				(error as { errcode?: number }).errcode ?? 0,
			),
		isDuplicateColumn: (error) => /duplicate column name/i.test(driverMessage(error)),
		async columnsOf(tableParts) {
			const rows = file
				.open()
				.prepare('select name from pragma_table_info(?)')
				.all(tableParts[0]) as Array<{ name: string }>;
			return rows.length ? rows.map((row) => row.name) : null;
		},
		message: driverMessage,
	};
}

function sqliteDriver(file: SqliteFile): SqlDriver {
	return {
		async run(sql, params) {
			const { statement, returnsRows } = file.prepared(sql);
			if (returnsRows) return { rows: statement.all(...(params as SQLInputValue[])), changes: 0 };
			return { rows: [], changes: Number(statement.run(...(params as SQLInputValue[])).changes) };
		},
		async writeReturning(write, params) {
			return file.prepared(`${write} returning *`).statement.get(...(params as SQLInputValue[]));
		},
		async close() {
			file.close();
		},
	};
}

export class SqliteTokenStore extends SqlTokenStore {
	readonly filePath: string;
	private readonly file: SqliteFile;
	private resolvedIdentity: Promise<string> | undefined;

	constructor(options: SqliteStoreOptions = {}) {
		const tableParts = parseTableName(options.tableName, false);
		const filePath = options.filePath?.trim() || defaultSqlitePath();
		const file = new SqliteFile(filePath, options.busyTimeoutMs ?? 5000);
		super(sqliteDialect(file), sqliteDriver(file), {
			tableParts,
			// The embedded store needs no set-up.
			createTableIfMissing: options.createTableIfMissing ?? true,
			description: `SQLite table ${tableParts[0]} in ${filePath}`,
		});
		this.filePath = filePath;
		this.file = file;
	}

	/** The file's real path (links and relative paths resolved) and the table; every in-memory database is its own. */
	identity(): Promise<string> {
		this.resolvedIdentity ??= this.guard('locate the file', async () => {
			this.file.open();
			const file =
				this.filePath === ':memory:'
					? `:memory:${randomUUID()}`
					: fs.realpathSync.native(this.filePath);
			return storeIdentity('sqlite', { file, table: this.tableParts[0] });
		});
		return this.resolvedIdentity;
	}
}
