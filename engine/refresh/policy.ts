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

/** After a transient failure (unreachable, 5xx, 429) the provider is not asked again for this long; it doubles per failure in a row… */
export const COOLDOWN_BASE_MS = 30_000;
/** …up to this. */
export const COOLDOWN_MAX_MS = 600_000;

/** The cooldown after `failureCount` transient failures in a row (1 or more): 30 s, 60 s, 120 s… capped at 10 min. */
export function cooldownMs(failureCount: number): number {
	return Math.min(COOLDOWN_BASE_MS * 2 ** Math.max(0, failureCount - 1), COOLDOWN_MAX_MS);
}

/** What the policy reads of a connection. */
export type TokenTimes = Pick<
	Connection,
	| 'accessToken'
	| 'expiresAt'
	| 'tokenIssuedAt'
	| 'lastRefreshedAt'
	| 'refreshCount'
	| 'createdAt'
	| 'nextAttemptAt'
>;

/** Why a caller may want a refresh. */
export type RefreshRequest =
	/** Get Valid Token: a token that stays valid at least this long. */
	| { kind: 'min-validity'; minValidityMs: number }
	/** Refresh Token after an API refused this access token: refresh only while it is still the stored one. */
	| { kind: 'failed-token'; failedAccessToken: string }
	/** Refresh Token without a failed token, or forced: refresh unless another refresh completed meanwhile. */
	| { kind: 'forced' }
	/**
	 * Keep Alive (epoch ms): refresh when the access token expires before `expiresBefore`, or when the connection was
	 * last refreshed (never refreshed: created) before `idleBefore`, as a refresh token unused for long may die; unless
	 * another refresh completed meanwhile.
	 */
	| { kind: 'keep-alive'; expiresBefore: number; idleBefore: number };

export interface RefreshContext {
	/** Epoch milliseconds. */
	now: number;
	/** The store's clock (epoch ms), which cooldowns are written in (see DatabaseClock). */
	databaseNow: number;
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
	| 'forced'
	| 'idle'
	/** A refresh would be needed, but the provider failed recently and its next attempt time has not come. */
	| 'cooldown';

export interface RefreshDecision {
	should: boolean;
	reason: RefreshReason;
}

const decision = (should: boolean, reason: RefreshReason): RefreshDecision => ({ should, reason });

/**
 * Whether to refresh. A refresh that would be needed while the connection is in its cooldown (a transient failure,
 * next attempt time not reached) is not made: the decision says `cooldown`, and the caller decides what the stored
 * token is still good for.
 */
export function shouldRefresh(
	token: TokenTimes,
	request: RefreshRequest,
	context: RefreshContext,
): RefreshDecision {
	const wanted = refreshWanted(token, request, context);
	if (
		wanted.should &&
		token.nextAttemptAt !== null &&
		context.databaseNow < token.nextAttemptAt.getTime()
	)
		return decision(false, 'cooldown');
	return wanted;
}

/** Whether the stored access token can still be used at `now`: present and not expired (no expiry: valid). */
export function tokenUsable(
	token: Pick<TokenTimes, 'accessToken' | 'expiresAt'>,
	now: number,
): boolean {
	return (
		token.accessToken !== null && (token.expiresAt === null || token.expiresAt.getTime() > now)
	);
}

function refreshWanted(
	token: TokenTimes,
	request: RefreshRequest,
	context: RefreshContext,
): RefreshDecision {
	const refreshedMeanwhile = token.refreshCount !== context.seenRefreshCount;
	switch (request.kind) {
		case 'failed-token':
			return token.accessToken === request.failedAccessToken
				? decision(true, 'failed-token-stored')
				: decision(false, 'failed-token-replaced');
		case 'forced':
			return refreshedMeanwhile ? decision(false, 'refreshed-meanwhile') : decision(true, 'forced');
		case 'keep-alive': {
			// Listed as due, then refreshed by another process before this one got to it: not twice.
			if (refreshedMeanwhile) return decision(false, 'refreshed-meanwhile');
			if (!token.accessToken) return decision(true, 'no-access-token');
			if (token.expiresAt !== null && token.expiresAt.getTime() < request.expiresBefore)
				return decision(true, 'expiring');
			// As the stores list due connections (TokenStore.list): one that was never refreshed counts from its creation.
			const lastUsedAt = token.lastRefreshedAt ?? token.createdAt;
			return lastUsedAt.getTime() < request.idleBefore
				? decision(true, 'idle')
				: decision(false, 'fresh');
		}
		case 'min-validity': {
			if (!token.accessToken) return decision(true, 'no-access-token');
			// Without an expiry the token is taken as valid until a refresh is asked for.
			if (token.expiresAt === null) return decision(false, 'no-expiry');
			const leftMs = token.expiresAt.getTime() - context.now;
			if (leftMs <= 0) return decision(true, 'expired');
			// Refreshed since the caller's first read (e.g. by the process it waited for): nothing newer exists.
			if (refreshedMeanwhile) return decision(false, 'refreshed-meanwhile');
			return leftMs <= effectiveMinValidityMs(token, request.minValidityMs)
				? decision(true, 'expiring')
				: decision(false, 'fresh');
		}
	}
}

/**
 * The Minimum Validity applied to a token: at most a share of its lifetime, which runs from when it was
 * requested (token_issued_at; for rows written before that column, last_refreshed_at, written with the tokens a
 * moment later) to its expiry. Without either time, or without an expiry, the requested value applies.
 */
export function effectiveMinValidityMs(
	token: Pick<TokenTimes, 'expiresAt' | 'tokenIssuedAt' | 'lastRefreshedAt'>,
	requestedMs: number,
): number {
	const issuedAt = token.tokenIssuedAt ?? token.lastRefreshedAt;
	if (!token.expiresAt || !issuedAt) return requestedMs;
	const lifetimeMs = token.expiresAt.getTime() - issuedAt.getTime();
	return Math.max(0, Math.min(requestedMs, lifetimeMs * MIN_VALIDITY_LIFETIME_SHARE));
}
