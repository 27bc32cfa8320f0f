/** Lifecycle of one authorized account. */
export type ConnectionStatus = 'active' | 'needs_reauth' | 'revoked';

export const CONNECTION_STATUSES: readonly ConnectionStatus[] = ['active', 'needs_reauth', 'revoked'];

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
>;

export type NewConnection = ConnectionFields & { connectionId: string };

/** Decrypted view the engine hands to callers. */
export interface Connection extends Omit<StoredConnection, 'accessToken' | 'refreshToken'> {
	accessToken: string | null;
	/** Decrypted on first read, which throws the DecryptionError when no configured key opens it. */
	refreshToken: string | null;
}
