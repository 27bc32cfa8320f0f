/*
 * Connections as users inspect them (Get Connection, List Connections, the node's connection list): every stored
 * field that is not a token, with the status users see. Needs only the store: no App credential, no key.
 */
import { ConnectionNotFoundError, InvalidInputError } from './errors';
import type { TokenStore } from './store';
import { validateConnectionId } from './connection-id';
import {
	reportedStatus,
	REPORTED_STATUSES,
	type ConnectionQuery,
	type ReportedStatus,
	type StoredConnection,
} from './types';

/** A connection without its tokens, lease or version: what may leave the engine for any caller. */
export interface ConnectionSummary {
	connectionId: string;
	provider: string;
	grantType: StoredConnection['grantType'];
	status: ReportedStatus;
	/** Which OAuth app issued the tokens, e.g. "v1:<hash> https://oauth.pipedrive.com/oauth/token …c0ff"; never a secret. */
	appFingerprint: string | null;
	scope: string | null;
	tokenType: string | null;
	expiresAt: Date | null;
	lastRefreshedAt: Date | null;
	refreshCount: number;
	lastError: string | null;
	failureCount: number;
	firstFailureAt: Date | null;
	nextAttemptAt: Date | null;
	failingSince: Date | null;
	/** Kept provider fields (e.g. Pipedrive's api_domain). */
	metadata: Record<string, string>;
	createdAt: Date;
	updatedAt: Date;
}

export function summarize(row: StoredConnection): ConnectionSummary {
	return {
		connectionId: row.connectionId,
		provider: row.provider,
		grantType: row.grantType,
		status: reportedStatus(row),
		appFingerprint: row.appFingerprint,
		scope: row.scope,
		tokenType: row.tokenType,
		expiresAt: row.expiresAt,
		lastRefreshedAt: row.lastRefreshedAt,
		refreshCount: row.refreshCount,
		lastError: row.lastError,
		failureCount: row.failureCount,
		firstFailureAt: row.firstFailureAt,
		nextAttemptAt: row.nextAttemptAt,
		failingSince: row.failingSince,
		metadata: { ...row.metadata },
		createdAt: row.createdAt,
		updatedAt: row.updatedAt,
	};
}

export async function getConnection(
	store: TokenStore,
	connectionId: string,
): Promise<ConnectionSummary> {
	validateConnectionId(connectionId);
	const row = await store.get(connectionId);
	if (!row) throw new ConnectionNotFoundError(connectionId, store.description);
	return summarize(row);
}

export interface ListFilters {
	status?: ReportedStatus;
	provider?: string;
	idPrefix?: string;
	/** Connection ids containing this text anywhere (a picker's search). */
	idContains?: string;
}

/** Rows read per store query while listing. */
export const LIST_PAGE_SIZE = 1000;

/**
 * Connections matching `filters` in connection id order: all of them when `limit` is undefined (Return All), else at
 * most `limit`. Read a page at a time, so a large table is never loaded by one query.
 */
export async function listConnections(
	store: TokenStore,
	filters: ListFilters,
	limit?: number,
): Promise<ConnectionSummary[]> {
	const query = listQuery(filters);
	if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
		throw new InvalidInputError('limit', 'must be a whole number, 1 or more');
	}
	const found: ConnectionSummary[] = [];
	let after: string | undefined;
	for (;;) {
		const want =
			limit === undefined ? LIST_PAGE_SIZE : Math.min(LIST_PAGE_SIZE, limit - found.length);
		const page = await store.list({ ...query, after, limit: want });
		found.push(...page.map(summarize));
		if (page.length < want || found.length === limit) return found;
		after = page[page.length - 1].connectionId;
	}
}

function listQuery(filters: ListFilters): Omit<ConnectionQuery, 'limit'> {
	const query: Omit<ConnectionQuery, 'limit'> = {};
	if (filters.status !== undefined) {
		if (!REPORTED_STATUSES.includes(filters.status)) {
			throw new InvalidInputError(
				'status',
				`"${String(filters.status).slice(0, 40)}" is not a status: use one of ${REPORTED_STATUSES.join(', ')}`,
			);
		}
		query.status = filters.status;
	}
	if (filters.provider) query.provider = filters.provider;
	if (filters.idPrefix) query.idPrefix = filters.idPrefix;
	if (filters.idContains) query.idContains = filters.idContains;
	return query;
}

/**
 * One page of the connections matching `filters`, in connection id order, for a picker that loads more on demand:
 * `next` (the id to continue after) is absent on the last page.
 */
export async function connectionPage(
	store: TokenStore,
	filters: ListFilters,
	page: { after?: string; size: number },
): Promise<{ connections: ConnectionSummary[]; next?: string }> {
	// One row more than the page tells whether another page follows, without a count query.
	const rows = await store.list({ ...listQuery(filters), after: page.after, limit: page.size + 1 });
	const connections = rows.slice(0, page.size).map(summarize);
	return rows.length > page.size
		? { connections, next: connections[connections.length - 1].connectionId }
		: { connections };
}
