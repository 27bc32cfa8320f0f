/**
 * Rows of the SQL stores (and Supabase's, which are PostgreSQL's): a database row to a StoredConnection and back, and
 * the SET clause of the versioned update.
 */
import {
	CONNECTION_STATUSES,
	GRANT_TYPES,
	type ConnectionFields,
	type ConnectionStatus,
	type GrantType,
	type StoredConnection,
} from '../types';
import { FIELD_COLUMNS } from './sql-schema';

export function toDate(value: unknown): Date | null {
	if (value === null || value === undefined) return null;
	if (value instanceof Date) return value;
	const date = new Date(typeof value === 'number' ? value : String(value));
	return Number.isNaN(date.getTime()) ? null : date;
}

function toStatus(value: unknown): ConnectionStatus {
	return CONNECTION_STATUSES.includes(value as ConnectionStatus)
		? (value as ConnectionStatus)
		: 'needs_reauth';
}

/** A grant type this version knows; null (rows written before the column existed) is the authorization code grant. */
function toGrantType(value: unknown): GrantType | null {
	if (value === null || value === undefined) return 'authorization_code';
	return GRANT_TYPES.includes(value as GrantType) ? (value as GrantType) : null;
}

/** SQL true for rows whose grant type this version knows (see rowToConnection). */
export const KNOWN_GRANT_SQL = `(grant_type is null or grant_type in (${GRANT_TYPES.map((grant) => `'${grant}'`).join(', ')}))`;

function toMetadata(value: unknown): Record<string, string> {
	const parsed = typeof value === 'string' ? JSON.parse(value || '{}') : value;
	return parsed && typeof parsed === 'object' ? (parsed as Record<string, string>) : {};
}

/**
 * Maps a database row (snake_case columns) to the engine's StoredConnection. A grant type this version does not know
 * (written by a newer one) makes an active row read as needs_reauth, so it is never used with a grant it was not made
 * for; the stores' list filters report it the same way (KNOWN_GRANT_SQL).
 */
export function rowToConnection(row: Record<string, unknown>): StoredConnection {
	const grantType = toGrantType(row.grant_type);
	const status = toStatus(row.status);
	return {
		connectionId: String(row.connection_id),
		provider: String(row.provider),
		accessToken: (row.access_token as string | null) ?? null,
		refreshToken: (row.refresh_token as string | null) ?? null,
		tokenType: (row.token_type as string | null) ?? null,
		scope: (row.scope as string | null) ?? null,
		expiresAt: toDate(row.expires_at),
		metadata: toMetadata(row.metadata),
		status: grantType === null && status === 'active' ? 'needs_reauth' : status,
		version: Number(row.version),
		leaseHolder: (row.lease_holder as string | null) ?? null,
		leaseUntil: toDate(row.lease_until),
		lastRefreshedAt: toDate(row.last_refreshed_at),
		refreshCount: Number(row.refresh_count ?? 0),
		lastError: (row.last_error as string | null) ?? null,
		appFingerprint: (row.app_fingerprint as string | null) ?? null,
		tokenIssuedAt: toDate(row.token_issued_at),
		grantType: grantType ?? 'authorization_code',
		failureCount: Number(row.failure_count ?? 0),
		firstFailureAt: toDate(row.first_failure_at),
		nextAttemptAt: toDate(row.next_attempt_at),
		failingSince: toDate(row.failing_since),
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
		.map((field) => [
			FIELD_COLUMNS[field],
			field === 'metadata' ? encodeMetadata(fields.metadata!) : fields[field],
		]);
}

/**
 * The SET clause of the store contract's versioned update: the given columns, the next version, the lease
 * released (the write is the release) and updated_at on the database clock.
 */
export function versionedUpdateSet(
	columns: string[],
	placeholder: (index: number) => string,
	now: string,
): string {
	return [
		...columns.map((column, i) => `${column} = ${placeholder(i)}`),
		'version = version + 1',
		'lease_holder = null',
		'lease_until = null',
		`updated_at = ${now}`,
	].join(', ');
}
