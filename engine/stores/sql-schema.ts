/**
 * The tables of the SQL stores, in every dialect: their columns, the shipped sql/<dialect>.sql that creates them, the
 * columns added since, and the errors that say what to run when a table is missing or old. Rows: sql-rows.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidInputError, StoreError } from '../errors';
import type { ConnectionFields } from '../types';

/** The table every store keeps; `sql/<dialect>.sql` creates it under this name. */
export const DEFAULT_TABLE_NAME = 'oauth2_tokens';
/** The used-states table is named after the tokens table with this suffix: oauth2_tokens_states. */
export const STATES_SUFFIX = '_states';
/** Columns of the used-states table: per connection, the newest state used and when that record may go. */
export const STATE_COLUMNS = ['connection_id', 'consumed_state', 'expires_at'] as const;

export const COLUMNS = [
	'connection_id',
	'provider',
	'access_token',
	'refresh_token',
	'token_type',
	'scope',
	'expires_at',
	'metadata',
	'status',
	'version',
	'lease_holder',
	'lease_until',
	'last_refreshed_at',
	'refresh_count',
	'last_error',
	'app_fingerprint',
	'token_issued_at',
	'grant_type',
	'failure_count',
	'first_failure_at',
	'next_attempt_at',
	'failing_since',
	'created_at',
	'updated_at',
] as const;

/** Engine field → column, for the fields the engine writes. */
export const FIELD_COLUMNS: Record<keyof ConnectionFields, (typeof COLUMNS)[number]> = {
	provider: 'provider',
	accessToken: 'access_token',
	refreshToken: 'refresh_token',
	tokenType: 'token_type',
	scope: 'scope',
	expiresAt: 'expires_at',
	metadata: 'metadata',
	status: 'status',
	lastRefreshedAt: 'last_refreshed_at',
	refreshCount: 'refresh_count',
	lastError: 'last_error',
	appFingerprint: 'app_fingerprint',
	tokenIssuedAt: 'token_issued_at',
	grantType: 'grant_type',
	failureCount: 'failure_count',
	firstFailureAt: 'first_failure_at',
	nextAttemptAt: 'next_attempt_at',
	failingSince: 'failing_since',
};

/**
 * Nullable columns added after the first release. A table created before them is upgraded by adding them (when
 * "Create Table If Missing" is on) or reported with the exact SQL that adds them; any other missing column means
 * a table of another shape, which is never changed.
 */
export const ADDED_COLUMNS: readonly string[] = [
	'app_fingerprint',
	'token_issued_at',
	'grant_type',
	'failure_count',
	'first_failure_at',
	'next_attempt_at',
	'failing_since',
];

export type Dialect = 'postgres' | 'mysql' | 'sqlite';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
/** Longest identifier PostgreSQL keeps whole (MySQL's limit is 64). */
const MAX_IDENTIFIER_LENGTH = 63;

/**
 * Table names come from credentials: they are checked against a strict identifier pattern and then
 * quoted, never pasted into SQL as typed. `allowSchema` accepts "schema.table". The table's name leaves room for
 * the states table's suffix.
 */
export function parseTableName(value: string | undefined, allowSchema: boolean): string[] {
	const name = (value ?? '').trim() || DEFAULT_TABLE_NAME;
	const parts = name.split('.');
	if (parts.length > (allowSchema ? 2 : 1) || !parts.every((p) => IDENTIFIER.test(p))) {
		throw new InvalidInputError(
			'tableName',
			`"${name.slice(0, 80)}" is not a plain identifier: use letters, digits and underscores, starting with a letter or underscore${allowSchema ? ' (optionally "schema.table")' : ''}`,
		);
	}
	const table = parts[parts.length - 1];
	if (table.length + STATES_SUFFIX.length > MAX_IDENTIFIER_LENGTH) {
		throw new InvalidInputError(
			'tableName',
			`"${table}" is too long: at most ${MAX_IDENTIFIER_LENGTH - STATES_SUFFIX.length} characters, so that its states table "${table}${STATES_SUFFIX}" fits the database's ${MAX_IDENTIFIER_LENGTH}`,
		);
	}
	return parts;
}

/** The used-states table beside a tokens table: same schema, name + STATES_SUFFIX. */
export function statesTableParts(tableParts: string[]): string[] {
	return [...tableParts.slice(0, -1), `${tableParts[tableParts.length - 1]}${STATES_SUFFIX}`];
}

function shippedSql(dialect: Dialect): string {
	return readFileSync(join(__dirname, '..', '..', 'sql', `${dialect}.sql`), 'utf8');
}

/** Quoted names of a store's two tables, as its dialect quotes them. */
export interface QuotedTables {
	tokens: string;
	states: string;
	/** What the shipped index names start with instead of oauth2_tokens. */
	indexPrefix: string;
}

/** The shipped schema file for a dialect, with the table names substituted (quoted by the caller's rules). */
export function schemaSql(dialect: Dialect, tables: QuotedTables): string {
	return substituteNames(shippedSql(dialect), tables);
}

/** The statements of the shipped schema file that create the states table (and its index), names substituted. */
export function statesSql(dialect: Dialect, tables: QuotedTables): string[] {
	return shippedSql(dialect)
		.replace(/^\s*--.*$/gm, '')
		.split(';')
		.filter((statement) => /\boauth2_tokens_states\b/.test(statement))
		.map((statement) => substituteNames(statement, tables).replace(/\s+/g, ' ').trim());
}

function substituteNames(sql: string, tables: QuotedTables): string {
	return sql
		.replace(/\boauth2_tokens_(\w+_idx)\b/g, `${tables.indexPrefix}_$1`)
		.replace(/\boauth2_tokens_states\b/g, tables.states)
		.replace(/\boauth2_tokens\b/g, tables.tokens);
}

/**
 * The statements that add `columns` (of ADDED_COLUMNS) to an existing table, each column defined exactly as in the
 * shipped sql/<dialect>.sql, which stays the one source of the schema.
 */
export function addColumnsSql(
	dialect: Dialect,
	quotedTable: string,
	columns: readonly string[],
): string[] {
	const text = shippedSql(dialect);
	return columns.map((column) => {
		const definition = new RegExp(`^\\s*(${column}\\s+[^,\\n]+?),?\\s*$`, 'm').exec(text);
		if (!definition)
			throw new StoreError(`sql/${dialect}.sql does not define the column ${column}`);
		// PostgreSQL (9.6+) can make the statement idempotent itself; MySQL 8 and SQLite cannot (callers re-inspect).
		return `alter table ${quotedTable} add column ${dialect === 'postgres' ? 'if not exists ' : ''}${definition[1].replace(/\s+/g, ' ')}`;
	});
}

/** The StoreError for an upgrade (addColumnsSql) the database refused, e.g. for want of the ALTER privilege. */
export function upgradeError(
	report: SchemaReport,
	dialect: Dialect,
	quotedTable: string,
	detail: string,
): StoreError {
	const statements = addColumnsSql(dialect, quotedTable, report.missingColumns);
	return new StoreError(
		`The table ${report.table} lacks the columns ${report.missingColumns.join(', ')}, which this version of the node adds, and adding them failed: ${detail.slice(0, 300)}`,
		`Have the table's owner run: ${statements.join('; ')};`,
	);
}

/** Whether the table exists and lacks only columns that addColumnsSql can add. */
export function upgradable(report: SchemaReport): boolean {
	return (
		report.exists &&
		report.missingColumns.length > 0 &&
		report.missingColumns.every((c) => ADDED_COLUMNS.includes(c))
	);
}

/** Columns of `required` that a table lacks, for an error that names them. */
export function missingColumns(
	present: Iterable<string>,
	required: readonly string[] = COLUMNS,
): string[] {
	const have = new Set([...present].map((c) => c.toLowerCase()));
	return required.filter((c) => !have.has(c));
}

/** What a store found when it inspected its table (`inspectSchema()`), for credential tests and errors. */
export interface SchemaReport {
	/** Table name as configured (schema-qualified when given). */
	table: string;
	exists: boolean;
	/** Required columns the table lacks; every column when the table does not exist. */
	missingColumns: string[];
}

/** `present`: the table's column names, or null when the table does not exist. */
export function schemaReport(
	tableParts: string[],
	present: string[] | null,
	required: readonly string[] = COLUMNS,
): SchemaReport {
	return {
		table: tableParts.join('.'),
		exists: present !== null,
		missingColumns: present === null ? [...required] : missingColumns(present, required),
	};
}

/**
 * The StoreError for a states table that is absent or lacks columns (null when it is fine). A tokens table created
 * before the states table existed has none: the error gives the statements that create it.
 */
export function statesError(
	report: SchemaReport,
	dialect: Dialect,
	tables: QuotedTables,
): StoreError | null {
	if (!report.exists) {
		return new StoreError(
			`The table ${report.table}, where the node records which authorization states were used, does not exist`,
			`Turn on "Create Table If Missing" (the store then creates it), or run: ${statesSql(dialect, tables).join('; ')};`,
		);
	}
	if (report.missingColumns.length) {
		return new StoreError(
			`The table ${report.table} lacks the columns ${report.missingColumns.join(', ')}`,
			`Use a table created by sql/${dialect}.sql, or choose another Table Name.`,
		);
	}
	return null;
}

/**
 * The StoreError for a table that is absent or lacks columns (null when the table is fine); names the SQL file,
 * and for a table that only lacks columns added since it was created, the exact statements that add them.
 */
export function schemaError(
	report: SchemaReport,
	dialect: Dialect,
	quotedTable: string,
): StoreError | null {
	const sqlFile = `sql/${dialect}.sql`;
	if (upgradable(report)) {
		const statements = addColumnsSql(dialect, quotedTable, report.missingColumns);
		return new StoreError(
			`The table ${report.table} lacks the columns ${report.missingColumns.join(', ')}, which this version of the node adds`,
			`Turn on "Create Table If Missing" (the store then adds them; it needs the ALTER privilege), or run: ${statements.join('; ')};`,
		);
	}
	if (!report.exists) {
		return new StoreError(
			`The table ${report.table} does not exist`,
			`Turn on "Create Table If Missing", or run ${sqlFile} from the package.`,
		);
	}
	if (report.missingColumns.length) {
		return new StoreError(
			`The table ${report.table} lacks the columns ${report.missingColumns.join(', ')}`,
			`Use a table created by ${sqlFile}, or choose another Table Name.`,
		);
	}
	return null;
}
