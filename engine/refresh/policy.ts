import type { Connection } from '../types';

/*
 * When a connection's access token is refreshed: a pure decision over the stored token, the caller's request
 * and the time. It is taken on the caller's first read and taken again on every later read (under the lease,
 * while waiting for another process): whoever finds the refresh no longer needed uses the stored token.
 */

/**
 * Minimum Validity never exceeds this share of a token's own lifetime: a token that lives 300 s is not
 * refreshed again at once because Minimum Validity is 300 s.
 */
export const MIN_VALIDITY_LIFETIME_SHARE = 0.5;

/** What the policy reads of a connection. */
export type TokenTimes = Pick<Connection, 'accessToken' | 'expiresAt' | 'tokenIssuedAt' | 'lastRefreshedAt' | 'refreshCount'>;

/** Why a caller may want a refresh. */
export type RefreshRequest =
	/** Get Valid Token: a token that stays valid at least this long. */
	| { kind: 'min-validity'; minValidityMs: number }
	/** Refresh Token after an API refused this access token: refresh only while it is still the stored one. */
	| { kind: 'failed-token'; failedAccessToken: string }
	/** Refresh Token without a failed token, or forced: refresh unless another refresh completed meanwhile. */
	| { kind: 'forced' };

export interface RefreshContext {
	/** Epoch milliseconds. */
	now: number;
	/** The connection's refresh count when the caller first read it: a higher one means a refresh completed since. */
	seenRefreshCount: number;
}

export type RefreshReason =
	| 'no-access-token'
	| 'no-expiry'
	| 'refreshed-meanwhile'
	| 'expired'
	| 'expiring'
	| 'fresh'
	| 'failed-token-stored'
	| 'failed-token-replaced'
	| 'forced';

export interface RefreshDecision {
	should: boolean;
	reason: RefreshReason;
}

const decision = (should: boolean, reason: RefreshReason): RefreshDecision => ({ should, reason });

export function shouldRefresh(token: TokenTimes, request: RefreshRequest, context: RefreshContext): RefreshDecision {
	const refreshedMeanwhile = token.refreshCount !== context.seenRefreshCount;
	switch (request.kind) {
		case 'failed-token':
			return token.accessToken === request.failedAccessToken ? decision(true, 'failed-token-stored') : decision(false, 'failed-token-replaced');
		case 'forced':
			return refreshedMeanwhile ? decision(false, 'refreshed-meanwhile') : decision(true, 'forced');
		case 'min-validity': {
			if (!token.accessToken) return decision(true, 'no-access-token');
			// Without an expiry the token is taken as valid until a refresh is asked for.
			if (token.expiresAt === null) return decision(false, 'no-expiry');
			const leftMs = token.expiresAt.getTime() - context.now;
			if (leftMs <= 0) return decision(true, 'expired');
			// Refreshed since the caller's first read (e.g. by the process it waited for): nothing newer exists.
			if (refreshedMeanwhile) return decision(false, 'refreshed-meanwhile');
			return leftMs <= effectiveMinValidityMs(token, request.minValidityMs) ? decision(true, 'expiring') : decision(false, 'fresh');
		}
	}
}

/**
 * The Minimum Validity applied to a token: at most a share of its lifetime, which runs from when it was
 * requested (token_issued_at; for rows written before that column, last_refreshed_at, written with the tokens a
 * moment later) to its expiry. Without either time, or without an expiry, the requested value applies.
 */
export function effectiveMinValidityMs(token: Pick<TokenTimes, 'expiresAt' | 'tokenIssuedAt' | 'lastRefreshedAt'>, requestedMs: number): number {
	const issuedAt = token.tokenIssuedAt ?? token.lastRefreshedAt;
	if (!token.expiresAt || !issuedAt) return requestedMs;
	const lifetimeMs = token.expiresAt.getTime() - issuedAt.getTime();
	return Math.max(0, Math.min(requestedMs, lifetimeMs * MIN_VALIDITY_LIFETIME_SHARE));
}
