import type { Dialect } from './sql-schema';

/*
 * What a SQL store needs of one database: its driver (a pool, or a file) and its dialect. postgres.ts, mysql.ts and
 * sqlite.ts each bring one; sql-store.ts holds the statements, sql-tables.ts the preparation of the tables.
 */

export type SqlRow = Record<string, unknown>;

export interface SqlResult {
	rows: SqlRow[];
	/** Rows the statement inserted, changed or deleted (MySQL: rows it matched). */
	changes: number;
}

/** One database's connection pool (or file), as the store uses it. */
export interface SqlDriver {
	run(sql: string, params: unknown[]): Promise<SqlResult>;
	/**
	 * Runs `write` (an insert or update of one row) and returns the row as written, or undefined when it wrote none:
	 * with `returning *` where the database has it, else by a read in the same transaction.
	 */
	writeReturning(
		write: string,
		params: unknown[],
		read: string,
		readParams: unknown[],
	): Promise<SqlRow | undefined>;
	close(): Promise<void>;
}

/** What differs between PostgreSQL, MySQL/MariaDB and SQLite. */
export interface SqlDialect {
	/** The shipped sql/<name>.sql. */
	readonly name: Dialect;
	/** What to check when the database cannot be reached or refuses a statement. */
	readonly hint: string;
	quote(identifier: string): string;
	/** What the shipped index names (oauth2_tokens_…_idx) start with for the table `table`: index names are unique per schema or per table. */
	indexPrefix(table: string): string;
	/** The placeholder of the statement's parameter number `index` (0-based); statements never reuse one. */
	placeholder(index: number): string;
	/** The database clock's current time, as the time columns hold it. */
	readonly now: string;
	/** The database clock's time `ttlMs` (the expression of a parameter) milliseconds from now. */
	later(ttlMs: string): string;
	/** A value as the driver takes it (dates and metadata in the columns' formats). */
	encode(value: unknown): unknown;
	/** `column` as an expression that compares and sorts byte by byte (UTF-8 byte order = code point order). */
	byteOrder(column: string): string;
	/**
	 * The status column as the list filters compare it. Listing reads in connection id order, a page at a time; an
	 * index on status only helps when few rows have the status asked for, which a database without statistics
	 * cannot tell.
	 */
	readonly listedStatus: string;
	/** A condition true when the text column `column` holds exactly the parameter `value`: case and every space count. */
	equalsExactly(column: string, value: string): string;
	/** A condition true when `column` matches `pattern`, the placeholder of a prefixPattern or containsPattern value. */
	startsWith(column: string, pattern: string): string;
	/** The parameter startsWith compares with, for ids that start with exactly `prefix` (no character is a wildcard). */
	prefixPattern(prefix: string): string;
	/** The parameter startsWith compares with, for ids that contain exactly `text` anywhere (no character is a wildcard). */
	containsPattern(text: string): string;
	/** A "delete … where" bounded to `limit` rows (a whole number, written into the statement). */
	deleteAtMost(table: string, where: string, limit: number): string;
	/** The insert failed because the key is taken. */
	isDuplicateKey(error: unknown): boolean;
	/** Adding a column failed because another process added it first (dialects whose ALTER has no "if not exists"). */
	isDuplicateColumn(error: unknown): boolean;
	/** The column names of a table, or null when it does not exist. */
	columnsOf(tableParts: string[]): Promise<string[] | null>;
	/** The driver's message for an error, shortened and without credentials. */
	message(error: unknown): string;
}
