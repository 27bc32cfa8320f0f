import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidInputError, StoreError } from '../errors';
import { CONNECTION_STATUSES, type ConnectionFields, type ConnectionStatus, type StoredConnection } from '../types';

/** The table every store keeps; `sql/<dialect>.sql` creates it under this name. */
export const DEFAULT_TABLE_NAME = 'oauth2_tokens';

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
};

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * Table names come from credentials: they are checked against a strict identifier pattern and then
 * quoted, never pasted into SQL as typed. `allowSchema` accepts "schema.table".
 */
export function parseTableName(value: string | undefined, allowSchema: boolean): string[] {
	const name = (value ?? '').trim() || DEFAULT_TABLE_NAME;
	const parts = name.split('.');
	if (parts.length > (allowSchema ? 2 : 1) || !parts.every((p) => IDENTIFIER.test(p))) {
		throw new InvalidInputError(
			'Table Name',
			`The Table Name "${name.slice(0, 80)}" is not a plain identifier: use letters, digits and underscores, starting with a letter or underscore${allowSchema ? ' (optionally "schema.table")' : ''}`,
		);
	}
	return parts;
}

/** The shipped schema file for a dialect, with the table name substituted (quoted by the caller's rules). */
export function schemaSql(dialect: 'postgres' | 'mysql' | 'sqlite', quotedTable: string, indexPrefix: string): string {
	const text = readFileSync(join(__dirname, '..', '..', 'sql', `${dialect}.sql`), 'utf8');
	return text
		.replace(/\boauth2_tokens_(\w+_idx)\b/g, `${indexPrefix}_$1`)
		.replace(/\boauth2_tokens\b/g, quotedTable);
}

export function toDate(value: unknown): Date | null {
	if (value === null || value === undefined) return null;
	if (value instanceof Date) return value;
	const date = new Date(typeof value === 'number' ? value : String(value));
	return Number.isNaN(date.getTime()) ? null : date;
}

function toStatus(value: unknown): ConnectionStatus {
	return CONNECTION_STATUSES.includes(value as ConnectionStatus) ? (value as ConnectionStatus) : 'needs_reauth';
}

function toMetadata(value: unknown): Record<string, string> {
	const parsed = typeof value === 'string' ? JSON.parse(value || '{}') : value;
	return parsed && typeof parsed === 'object' ? (parsed as Record<string, string>) : {};
}

/** Maps a database row (snake_case columns) to the engine's StoredConnection. */
export function rowToConnection(row: Record<string, unknown>): StoredConnection {
	return {
		connectionId: String(row.connection_id),
		provider: String(row.provider),
		accessToken: (row.access_token as string | null) ?? null,
		refreshToken: (row.refresh_token as string | null) ?? null,
		tokenType: (row.token_type as string | null) ?? null,
		scope: (row.scope as string | null) ?? null,
		expiresAt: toDate(row.expires_at),
		metadata: toMetadata(row.metadata),
		status: toStatus(row.status),
		version: Number(row.version),
		leaseHolder: (row.lease_holder as string | null) ?? null,
		leaseUntil: toDate(row.lease_until),
		lastRefreshedAt: toDate(row.last_refreshed_at),
		refreshCount: Number(row.refresh_count ?? 0),
		lastError: (row.last_error as string | null) ?? null,
		createdAt: toDate(row.created_at) as Date,
		updatedAt: toDate(row.updated_at) as Date,
	};
}

/** Engine fields → [column, value] pairs, in a fixed order, values ready for a driver. */
export function fieldEntries(
	fields: Partial<ConnectionFields>,
	encodeMetadata: (m: Record<string, string>) => unknown = (m) => JSON.stringify(m),
): Array<[string, unknown]> {
	return (Object.keys(FIELD_COLUMNS) as Array<keyof ConnectionFields>)
		.filter((field) => fields[field] !== undefined)
		.map((field) => [FIELD_COLUMNS[field], field === 'metadata' ? encodeMetadata(fields.metadata!) : fields[field]]);
}

/**
 * The SET clause of the store contract's versioned update: the given columns, the next version, the lease
 * released (the write is the release) and updated_at on the database clock.
 */
export function versionedUpdateSet(columns: string[], placeholder: (index: number) => string, now: string): string {
	return [
		...columns.map((column, i) => `${column} = ${placeholder(i)}`),
		'version = version + 1',
		'lease_holder = null',
		'lease_until = null',
		`updated_at = ${now}`,
	].join(', ');
}

/** Columns of COLUMNS that a table lacks, for an error that names them. */
export function missingColumns(present: Iterable<string>): string[] {
	const have = new Set([...present].map((c) => c.toLowerCase()));
	return COLUMNS.filter((c) => !have.has(c));
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
export function schemaReport(tableParts: string[], present: string[] | null): SchemaReport {
	return {
		table: tableParts.join('.'),
		exists: present !== null,
		missingColumns: present === null ? [...COLUMNS] : missingColumns(present),
	};
}

/** The StoreError for a table that is absent or lacks columns (null when the table is fine); names the SQL file. */
export function schemaError(report: SchemaReport, sqlFile: string): StoreError | null {
	if (!report.exists) {
		return new StoreError(
			`The table ${report.table} does not exist`,
			`Turn on "Create Table If Missing" in the credential, or run ${sqlFile} from the package.`,
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
