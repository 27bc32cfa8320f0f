/**
 * Errors the engine raises. Messages are written for the n8n user: they name the connection, the
 * field or the setting at fault and what to do. None ever contains a token or a client secret.
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

/** Input the caller can fix: names the field. */
export class InvalidInputError extends TokenManagerError {
	constructor(
		readonly field: string,
		message: string,
	) {
		super(message, 'invalid_input');
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
			'Run "Exchange Authorization Code" for this connection ID first, or check the connection ID for typos.',
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
			'Send the account owner through the authorization flow again (workflow "Connect"); until then this connection is not refreshed.',
		);
	}
}

/**
 * The connection was authorized through another OAuth app than the App credential in use. Its refresh token only
 * works with the client it was issued to (RFC 6749 §6), and its access token was granted to that app: nothing is
 * sent to any provider and the connection is left as it is.
 */
export class AppMismatchError extends TokenManagerError {
	constructor(
		readonly connectionId: string,
		authorizedApp: string,
		configuredApp: string,
	) {
		super(
			`Connection "${connectionId}" was authorized through ${authorizedApp}, but this App credential is ${configuredApp}. Nothing was sent to any provider and the connection is unchanged.`,
			'app_mismatch',
			'Use the App credential the connection was authorized with; or, to move it to this app, authorize it again with this App credential (Build Authorization URL, then Exchange Authorization Code); or give connections of this app their own Connection IDs.',
		);
	}
}

export class ConnectionRevokedError extends TokenManagerError {
	constructor(readonly connectionId: string) {
		super(
			`Connection "${connectionId}" was revoked`,
			'revoked',
			'Authorize the account again with "Exchange Authorization Code" to use it.',
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

	constructor(message: string, response: EndpointErrorResponse = {}, description?: string) {
		super(message, response.error ?? 'token_endpoint_error', description);
		this.error = response.error;
		this.error_description = response.error_description;
		this.httpStatus = response.httpStatus;
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
			'Use the token encryption key the connection was stored with (add it as an old key to rotate), or authorize the connection again.',
		);
	}
}

/** Why a callback's state was refused. */
export type InvalidStateReason = 'missing' | 'malformed' | 'tampered' | 'expired' | 'issued_in_future' | 'replayed' | 'other_connection';

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
