import type { TokenTypeHint } from './oauth';

/** Lifecycle of one authorized account, as stored (the status column). */
export type ConnectionStatus = 'active' | 'needs_reauth' | 'revoked';

export const CONNECTION_STATUSES: readonly ConnectionStatus[] = [
	'active',
	'needs_reauth',
	'revoked',
];

/**
 * The status users see: an active connection whose refreshes have failed for longer than the failing period
 * (failingSince set) is `failing`. Stored apart from the status column, so tables whose status check predates it
 * keep working.
 */
export type ReportedStatus = ConnectionStatus | 'failing';

export const REPORTED_STATUSES: readonly ReportedStatus[] = [
	'active',
	'failing',
	'needs_reauth',
	'revoked',
];

export function reportedStatus(
	row: Pick<StoredConnection, 'status' | 'failingSince'>,
): ReportedStatus {
	return row.status === 'active' && row.failingSince !== null ? 'failing' : row.status;
}

/**
 * How a connection obtains its tokens: through a user's consent (an authorization code, then refresh tokens) or,
 * RFC 6749 §4.4, with the client's own credentials (no user, no refresh token: a new token is requested when stale).
 */
export type GrantType = 'authorization_code' | 'client_credentials';

export const GRANT_TYPES: readonly GrantType[] = ['authorization_code', 'client_credentials'];

/**
 * One connection as a store holds it. Token fields are ciphertext (see crypto.ts): a store never sees a
 * plaintext token. Times are Date objects; lease times come from the database clock.
 */
export interface StoredConnection {
	connectionId: string;
	provider: string;
	accessToken: string | null;
	refreshToken: string | null;
	tokenType: string | null;
	scope: string | null;
	expiresAt: Date | null;
	metadata: Record<string, string>;
	status: ConnectionStatus;
	version: number;
	leaseHolder: string | null;
	leaseUntil: Date | null;
	lastRefreshedAt: Date | null;
	refreshCount: number;
	lastError: string | null;
	/**
	 * Which OAuth app issued the tokens: a stable fingerprint of its token URL and client id (see appFingerprint in presets.ts),
	 * null for rows written before it existed.
	 */
	appFingerprint: string | null;
	/** When the current access token was requested from the token endpoint (the request's start), null if unknown. */
	tokenIssuedAt: Date | null;
	/** Stored as null for rows written before it existed, read as authorization_code. */
	grantType: GrantType;
	/** Transient refresh failures (network, timeout, 5xx, 429) since the last success; 0 when healthy. */
	failureCount: number;
	/** When the first of those failures happened; null when healthy. */
	firstFailureAt: Date | null;
	/** Until then, calls do not ask the provider again (backoff after a failure); null when healthy. */
	nextAttemptAt: Date | null;
	/** Set once failures have lasted longer than the failing period: the connection reports status `failing`. */
	failingSince: Date | null;
	createdAt: Date;
	updatedAt: Date;
}

/** Columns the engine writes; the store owns version, lease, created_at and updated_at. */
export type ConnectionFields = Pick<
	StoredConnection,
	| 'provider'
	| 'accessToken'
	| 'refreshToken'
	| 'tokenType'
	| 'scope'
	| 'expiresAt'
	| 'metadata'
	| 'status'
	| 'lastRefreshedAt'
	| 'refreshCount'
	| 'lastError'
	| 'appFingerprint'
	| 'tokenIssuedAt'
	| 'grantType'
	| 'failureCount'
	| 'firstFailureAt'
	| 'nextAttemptAt'
	| 'failingSince'
>;

/** Fields an insert may leave out: the store fills the column defaults (authorization_code, no failures). */
type DefaultedField =
	'grantType' | 'failureCount' | 'firstFailureAt' | 'nextAttemptAt' | 'failingSince';

export type NewConnection = Omit<ConnectionFields, DefaultedField> &
	Partial<Pick<ConnectionFields, DefaultedField>> & { connectionId: string };

/** The failure bookkeeping of a healthy connection, written with every success. */
export const NO_FAILURES: Pick<
	ConnectionFields,
	'failureCount' | 'firstFailureAt' | 'nextAttemptAt' | 'failingSince'
> = {
	failureCount: 0,
	firstFailureAt: null,
	nextAttemptAt: null,
	failingSince: null,
};

/** Decrypted view the engine hands to callers. */
export interface Connection extends Omit<StoredConnection, 'accessToken' | 'refreshToken'> {
	accessToken: string | null;
	/** Decrypted on first read, which throws the DecryptionError when no configured key opens it. */
	refreshToken: string | null;
}

/** Which connections `TokenStore.list` returns. Internal rows (ids starting with the reserved prefix) never match. */
export interface ConnectionQuery {
	/** `failing` matches active rows with failingSince set; `active` only those without it. */
	status?: ReportedStatus;
	provider?: string;
	/** Ids that start with exactly this text (no wildcards: `%` and `_` match themselves). */
	idPrefix?: string;
	/** Ids that contain exactly this text anywhere (no wildcards either), e.g. "acme" in "pipedrive:acme". */
	idContains?: string;
	/**
	 * Keep Alive candidates: rows with status active (failing ones included) whose expires_at lies before
	 * `expiresBefore`, or whose last refresh (or, never refreshed, creation) lies before `idleBefore`; but not those
	 * in their cooldown (next_attempt_at after the store's own clock, a database's now()), which must not be asked.
	 */
	due?: { expiresBefore: Date; idleBefore: Date };
	/** Keyset pagination: only ids after this one in the list's order. */
	after?: string;
	/** At most this many rows (1 or more). */
	limit: number;
}

/** Compares two connection ids by their UTF-8 bytes: the order `TokenStore.list` returns rows in. */
export function byteOrder(a: string, b: string): number {
	return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/*
 * What the operations return (TokenManager's public methods). None carries a token but the access and refresh tokens
 * of a Connection.
 */

/** The provider is not asked again before then: the cooldown of the connection at `databaseNow`, or null. */
export interface ProviderCooldown {
	nextAttemptAt: Date;
	/** Failed refreshes in a row. */
	failureCount: number;
	/** The last failure, secrets redacted. */
	lastError: string | null;
}

export interface TokenResult {
	connection: Connection;
	/** Whether a refresh happened for this call (by this caller or one it waited for). */
	refreshed: boolean;
	/**
	 * True for the one call whose refresh succeeded after transient failures (the connection has recovered), so that
	 * a workflow can say so once; false for every other call, including those that joined that refresh.
	 */
	recovered: boolean;
}

export interface ValidTokenResult extends TokenResult {
	/**
	 * The Minimum Validity applied to the returned token, in whole seconds, and whether it was capped below the one asked
	 * for. In a cooldown it is relaxed to what the token has left: capped.
	 */
	minValidity: { effectiveSeconds: number; capped: boolean };
	/**
	 * Set when the token needed a refresh but the provider is failing: the stored token, still valid but for less than
	 * the Minimum Validity, was returned without calling the provider. Null otherwise.
	 */
	cooldown: ProviderCooldown | null;
}

/** Connect Client Credentials (RFC 6749 §4.4): what the token request asks for, on connecting and on every renewal. */
export interface ClientCredentialsParams {
	/** Default: the client's scopes. */
	scopes?: string[];
	/** Further form parameters of the token request (e.g. audience, resource). Not secret: they are stored with the connection. */
	extraParameters?: Record<string, string>;
}

export interface KeepAliveOptions {
	/** Refresh every connection whose access token expires within this many seconds (0 or more). */
	expiresWithinSeconds: number;
	/**
	 * And every one last refreshed (never refreshed: created) more than this many days ago (more than 0; Pipedrive's
	 * refresh tokens die after 60 days unused).
	 */
	idleAfterDays: number;
	/** Refreshes at once (1 to MAX_KEEP_ALIVE_CONCURRENCY, default 4). */
	concurrency?: number;
	/** Touch at most this many connections (1 or more), starting after the last one the previous limited run touched; default all that are due. */
	maxConnections?: number;
}

export type KeepAliveOutcomeKind =
	'refreshed' | 'skipped_fresh' | 'cooldown' | 'needs_reauth' | 'revoked' | 'failed';

/** What Keep Alive did to one connection. Never carries a token. */
export interface KeepAliveOutcome {
	connectionId: string;
	/**
	 * refreshed: new tokens obtained by this sweep. skipped_fresh: no longer due when re-checked under the lease (another
	 * process refreshed it). cooldown: the provider is failing and its next attempt time has not come: not asked.
	 * needs_reauth / revoked: the account must be authorized again. failed: this attempt failed (see error).
	 */
	outcome: KeepAliveOutcomeKind;
	status: ReportedStatus;
	expiresAt: Date | null;
	/** Present (true) when this refresh was the first success after transient failures. */
	recovered?: true;
	/** For cooldown: when the provider is asked again. */
	nextAttemptAt?: Date;
	/** For failed, cooldown and needs_reauth: what went wrong (engine error code and message, secrets redacted). */
	error?: { code: string; message: string };
	/** For needs_reauth: a fresh authorization link for the account owner, when the client allows one. */
	reauthorizationUrl?: string;
}

export interface AuthorizationStart {
	connectionId: string;
	authorizationUrl: string;
	state: string;
	expiresAt: Date;
	pkce: boolean;
}

export interface ExchangeParams {
	code: string;
	redirectUri?: string;
	/** The callback's `state`; required unless `allowMissingState`. */
	state?: string;
	/** Pipedrive Marketplace installs arrive without state: only then may this be turned on. */
	allowMissingState?: boolean;
	/** A verifier the caller kept itself; normally it comes from the state. */
	codeVerifier?: string;
	/** The callback's `error` / `error_description` (e.g. access_denied). */
	providerError?: string;
	providerErrorDescription?: string;
	/** The callback's query: the fields the client keeps (e.g. Intuit's realmId) are stored with the connection. */
	callbackFields?: Record<string, unknown>;
}

export interface RevokeResult {
	connection: Connection;
	/** Which token the provider was asked to revoke, or null when it was not asked. */
	revokedAtProvider: TokenTypeHint | null;
}
