/**
 * Errors the engine raises. Messages speak of the engine's own concepts (connection, client, store, state) and
 * name the setting at fault by its engine key; a caller such as the n8n node words them for its users. None ever
 * contains a token or a client secret.
 */
export class TokenManagerError extends Error {
	constructor(
		message: string,
		readonly code: string,
		readonly description?: string,
	) {
		super(message);
		this.name = new.target.name;
	}
}

/**
 * Input the caller can fix. `field` is the engine's key for it (a TokenManager option, an OAuth client or store
 * setting: `connectionId`, `code`, `tokenUrl`…), `problem` what is wrong, worded to follow the field's name.
 */
export class InvalidInputError extends TokenManagerError {
	constructor(
		readonly field: string,
		readonly problem: string,
	) {
		super(`${field} ${problem}`, 'invalid_input');
	}
}

/** A required input is empty. */
export class MissingInputError extends InvalidInputError {
	constructor(field: string) {
		super(field, 'is empty');
	}
}

export class ConnectionNotFoundError extends TokenManagerError {
	/** `store` is the store's description (TokenStore.description), so the message says where it looked. */
	constructor(
		readonly connectionId: string,
		store: string,
	) {
		super(
			`No connection "${connectionId}" in ${store}`,
			'connection_not_found',
			'Exchange an authorization code for this connection id first, or check the connection id for typos.',
		);
	}
}

export class ConnectionExistsError extends TokenManagerError {
	constructor(readonly connectionId: string) {
		super(`Connection "${connectionId}" already exists`, 'connection_exists');
	}
}

export class VersionConflictError extends TokenManagerError {
	constructor(
		readonly connectionId: string,
		readonly expectedVersion: number,
	) {
		super(
			`Connection "${connectionId}" was changed by another writer (expected version ${expectedVersion})`,
			'version_conflict',
		);
	}
}

/** The account must be authorized again: the provider rejected the refresh token, or it was revoked. */
export class NeedsReauthorizationError extends TokenManagerError {
	constructor(
		readonly connectionId: string,
		reason: string,
		readonly reauthorizationUrl?: string,
	) {
		super(
			`Connection "${connectionId}" must be re-authorized: ${reason}`,
			'needs_reauth',
			'Send the account owner through the authorization flow again; until then this connection is not refreshed.',
		);
	}
}

/**
 * The connection was authorized through another OAuth app than the configured client. Its refresh token only
 * works with the client it was issued to (RFC 6749 §6), and its access token was granted to that app: nothing is
 * sent to any provider and the connection is left as it is.
 */
export class AppMismatchError extends TokenManagerError {
	constructor(
		readonly connectionId: string,
		readonly authorizedApp: string,
		readonly configuredApp: string,
	) {
		super(
			`Connection "${connectionId}" was authorized through ${authorizedApp}, but the configured client is ${configuredApp}. Nothing was sent to any provider and the connection is unchanged.`,
			'app_mismatch',
			'Use the client the connection was authorized with; or, to move it to this client, authorize it again with it; or give connections of this client their own connection ids.',
		);
	}
}

/**
 * An install without state derived the id of a connection that belongs to another company or another app: the new
 * tokens were not stored, so the existing connection (and its refresh token) is untouched.
 */
export class ConnectionClaimedError extends TokenManagerError {
	constructor(
		readonly connectionId: string,
		providerName: string,
		derivedIdPrefix: string,
	) {
		super(
			`Connection "${connectionId}" already exists for another ${providerName} account or through another app, so an install without state may not replace it. The install's tokens were not stored; the existing connection is unchanged.`,
			'connection_claimed',
			`Ids "${derivedIdPrefix}<company>" are what installs without state are named: authorize the existing connection again under an id of another form, delete "${connectionId}", then have the account owner install the app again.`,
		);
	}
}

export class ConnectionRevokedError extends TokenManagerError {
	constructor(readonly connectionId: string) {
		super(
			`Connection "${connectionId}" was revoked`,
			'revoked',
			'Authorize the account again (exchange a new authorization code) to use it.',
		);
	}
}

/** What an authorization server's endpoint said in an error response: RFC 6749 §5.2 fields and the HTTP status. */
export interface EndpointErrorResponse {
	/** The RFC 6749 §5.2 error code, e.g. invalid_grant. */
	error?: string;
	/** The provider's explanation (RFC 6749 §5.2, or Pipedrive's `message`), secrets redacted, cut to an excerpt. */
	error_description?: string;
	httpStatus?: number;
}

/**
 * An endpoint of the authorization server (token, revocation) answered with an error, an unusable body, or not at
 * all. The provider's fields are kept apart from the message; the code is the provider's error code when it sent
 * one (users' workflows branch on it, e.g. invalid_client), else token_endpoint_error.
 */
export class TokenEndpointError extends TokenManagerError {
	readonly error: string | undefined;
	readonly error_description: string | undefined;
	readonly httpStatus: number | undefined;

	/**
	 * What the failure means for the caller apart from any hint (e.g. that nothing was erased), also the start of
	 * `description`: whoever words its own hint keeps it.
	 */
	readonly consequence: string | undefined;

	constructor(
		message: string,
		response: EndpointErrorResponse = {},
		description?: string,
		consequence?: string,
	) {
		super(message, response.error ?? 'token_endpoint_error', description);
		this.consequence = consequence;
		this.error = response.error;
		this.error_description = response.error_description;
		this.httpStatus = response.httpStatus;
	}
}

/**
 * The token endpoint could not be reached or did not answer in time (network error, timeout, the refresh deadline):
 * nothing is known about the request, so it may succeed later. Its code stays token_endpoint_error.
 */
export class EndpointUnreachableError extends TokenEndpointError {}

/**
 * The provider failed transiently (unreachable, 5xx, 429) and the connection is in its cooldown: the token manager
 * does not call the provider again before `nextAttemptAt`, and the stored access token cannot serve the call.
 */
export class ProviderFailingError extends TokenManagerError {
	constructor(
		readonly connectionId: string,
		readonly nextAttemptAt: Date,
		readonly failureCount: number,
		readonly lastError: string | null,
	) {
		super(
			`Connection "${connectionId}": the provider is failing, next attempt at ${nextAttemptAt.toISOString()} (${failureCount} failure(s) in a row${lastError ? `, last: ${lastError}` : ''})`,
			'provider_failing',
			'Until then the token manager does not call the provider again, and the stored access token is no longer valid. Retry after that time; the account does not need to be authorized again.',
		);
	}
}

/** Another process holds the refresh lease longer than the caller is willing to wait. */
export class LeaseTimeoutError extends TokenManagerError {
	constructor(connectionId: string, waitedMs: number) {
		super(
			`Gave up waiting ${Math.round(waitedMs / 1000)} s for another execution to refresh connection "${connectionId}"`,
			'lease_timeout',
			'Another execution holds the refresh lease. Check the token endpoint is reachable; the lease expires by itself if its holder died.',
		);
	}
}

/** The token store failed: unreachable, wrong schema, bad credentials. */
export class StoreError extends TokenManagerError {
	constructor(message: string, description?: string) {
		super(message, 'store_error', description);
	}
}

/** A stored token cannot be decrypted with the configured keys. */
export class DecryptionError extends TokenManagerError {
	constructor(message: string) {
		super(
			message,
			'decryption_failed',
			'Configure the encryption key the connection was stored with (add it as a previous key to rotate), or authorize the connection again.',
		);
	}
}

/** Why a callback's state was refused. */
export type InvalidStateReason =
	| 'missing'
	| 'malformed'
	| 'tampered'
	| 'outdated'
	| 'expired'
	| 'issued_in_future'
	| 'replayed'
	| 'other_connection'
	| 'other_store';

/**
 * The callback's `state` does not prove that this n8n started the authorization (RFC 6749 §10.12):
 * nothing is exchanged or stored.
 */
export class InvalidStateError extends TokenManagerError {
	constructor(
		readonly reason: InvalidStateReason,
		message: string,
		description?: string,
	) {
		super(message, 'invalid_state', description);
	}
}

/** The provider redirected back with `?error=…` (e.g. the account owner declined): nothing is stored. */
export class AuthorizationDeniedError extends TokenManagerError {
	constructor(
		readonly providerError: string,
		message: string,
	) {
		super(
			message,
			providerError === 'access_denied' ? 'access_denied' : 'authorization_error',
			'Nothing was stored. Send the account owner through the authorization again if they want to connect.',
		);
	}
}

/**
 * A call to the provider's API (not its token endpoint) failed: `api_error` for an error answer or no answer,
 * `api_token_refused` when the API refused the token again after one refresh, `api_url_refused` for a URL outside
 * the connection's API base where only that is allowed. `providerMessage` is the provider's explanation, secrets
 * redacted and cut to an excerpt.
 */
export class ApiRequestError extends TokenManagerError {
	constructor(
		message: string,
		code: 'api_error' | 'api_token_refused' | 'api_url_refused',
		readonly httpStatus: number | undefined,
		description?: string,
	) {
		super(message, code, description);
	}
}
