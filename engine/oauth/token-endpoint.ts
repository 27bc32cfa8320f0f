import { TokenEndpointError } from '../errors';
import { INVALID_CLIENT_HINT, type ClientCredentials } from './client-authentication';
import { refusal } from './error-response';
import { authenticatedRequest, type EndpointAnswer, type RequestLimits } from './http';
import type { RequestPolicy } from './retry-policy';

/*
 * RFC 6749 token endpoint: tokenEndpointRequest sends a grant (§4.1.3 authorization code, §6 refresh token, §4.4.2
 * client credentials), processTokenEndpointResponse turns the answer into tokens (§5.1) or an error (§5.2).
 */

/** RFC 6749 §5.1 access token response, normalised. */
export interface TokenResponse {
	accessToken: string;
	tokenType: string;
	/** Seconds; null when the provider did not say (or said something unusable). */
	expiresIn: number | null;
	refreshToken: string | null;
	scope: string | null;
	/** Every other field of the response, for presets that keep some (e.g. api_domain). */
	extra: Record<string, unknown>;
	/** Set when the response was usable but odd, e.g. an invalid expires_in. */
	warning: string | null;
}

/** A token response and when the request that obtained it was sent (the token's lifetime starts no earlier). */
export type IssuedTokens = TokenResponse & { requestedAt: Date };

export type Grant =
	| { grant_type: 'authorization_code'; code: string; redirect_uri: string; code_verifier?: string }
	| { grant_type: 'refresh_token'; refresh_token: string; scope?: string }
	/** RFC 6749 §4.4.2: the client's own credentials (sent as its authentication), `scope` and any extra parameters (e.g. audience). */
	| { grant_type: 'client_credentials'; [parameter: string]: string };

/** Longest expires_in taken as given (10 years); a longer one is treated as unknown. */
export const MAX_EXPIRES_IN_SECONDS = 10 * 365 * 86_400;
/** Longest scope stored: MySQL's TEXT column holds 65,535 bytes, 16,383 four-byte characters. */
export const MAX_SCOPE_LENGTH = 16_000;

/** Parameters a provider wants beside the grant's own (e.g. `audience`), per grant type. Never secret by design. */
export interface GrantParameters {
	tokenParameters?: Record<string, string>;
	refreshParameters?: Record<string, string>;
}

export function tokenEndpointRequest(
	credentials: ClientCredentials & GrantParameters & { tokenUrl: string },
	policy: RequestPolicy,
	grant: Grant,
	limits: RequestLimits = {},
): Promise<EndpointAnswer> {
	const endpoint = { name: 'token endpoint', urlKey: 'tokenUrl', url: credentials.tokenUrl };
	const secrets =
		grant.grant_type === 'refresh_token'
			? [grant.refresh_token]
			: grant.grant_type === 'authorization_code'
				? [grant.code, grant.code_verifier]
				: [];
	// The grant's own fields are set last: the presets and settings cannot name them (checkExtraParameters), and they win anyway.
	const body = new URLSearchParams(
		grant.grant_type === 'refresh_token'
			? credentials.refreshParameters
			: credentials.tokenParameters,
	);
	for (const [name, value] of Object.entries(grant)) if (value !== undefined) body.set(name, value);
	return authenticatedRequest(credentials, policy, endpoint, body, secrets, limits);
}

/** How a provider's token endpoint departs from RFC 6749 in its answers (from its preset). */
export interface TokenResponseDialect {
	/** token_type values, besides Bearer, of tokens the provider's APIs take as Bearer tokens. */
	bearerTokenTypes?: readonly string[];
	/** The provider's own error codes that mean an RFC 6749 §5.2 one, e.g. Slack's invalid_refresh_token: invalid_grant. */
	errorCodes?: Readonly<Record<string, string>>;
}

export function processTokenEndpointResponse(
	answer: EndpointAnswer,
	dialect: TokenResponseDialect = {},
): IssuedTokens {
	const refused = () => refusal(answer, hintFor, dialect.errorCodes);
	if (answer.status < 200 || answer.status >= 300) throw refused();
	const fields = successFields(answer);
	// Some providers (Slack) answer 2xx with an error code and no token: that is a refusal like any other.
	if (isErrorAnswer(fields)) throw refused();
	return { ...parseTokenResponse(fields, dialect.bearerTokenTypes), requestedAt: answer.sentAt };
}

function isErrorAnswer(fields: unknown): boolean {
	const { access_token, error } = (fields ?? {}) as Record<string, unknown>;
	return access_token === undefined && typeof error === 'string' && error !== '';
}

function hintFor(error: string): string | undefined {
	switch (error) {
		case 'invalid_client':
			return INVALID_CLIENT_HINT;
		case 'invalid_grant':
			return 'The authorization code or refresh token is invalid, expired, already used or revoked.';
		case 'unsupported_grant_type':
		case 'unauthorized_client':
			return 'The OAuth app is not allowed this grant type: check the app settings at the provider.';
		case 'invalid_scope':
			return 'Check the scopes the client asks for.';
		default:
			return undefined;
	}
}

/**
 * The fields of a 2xx body: JSON, or form-encoded as some providers answer (RFC 6749 asks for JSON). Anything
 * else is refused without quoting it: a successful answer may carry tokens.
 */
function successFields(answer: EndpointAnswer): unknown {
	if (answer.contentType === 'application/x-www-form-urlencoded')
		return Object.fromEntries(new URLSearchParams(answer.body));
	try {
		return JSON.parse(answer.body);
	} catch {
		const form = Object.fromEntries(new URLSearchParams(answer.body.trim()));
		if (typeof form.access_token === 'string') return form;
	}
	throw new TokenEndpointError(
		`The token endpoint answered HTTP ${answer.status} with a body that is neither JSON nor form-encoded (Content-Type ${answer.contentType || 'none'}, ${Buffer.byteLength(answer.body)} bytes); it is not shown, as a successful answer may carry tokens`,
		{ httpStatus: answer.status },
		"Check that the token endpoint URL points at the provider's token endpoint.",
	);
}

/**
 * A refresh token that came in a 2xx answer refused for another reason: the provider may already have retired the
 * old one, so it must be kept. Held beside the error, never on it, so that no serialised error carries it.
 */
const refreshTokensOfRefusedAnswers = new WeakMap<TokenEndpointError, string>();

export function refreshTokenOfRefusedAnswer(error: unknown): string | null {
	return error instanceof TokenEndpointError
		? (refreshTokensOfRefusedAnswers.get(error) ?? null)
		: null;
}

/** RFC 6749 §5.1: validates and normalises a 2xx token response body. */
export function parseTokenResponse(
	body: unknown,
	bearerTokenTypes: readonly string[] = [],
): TokenResponse {
	if (!body || typeof body !== 'object' || Array.isArray(body)) {
		throw new TokenEndpointError('The token endpoint answered 2xx without a JSON object');
	}
	const { access_token, token_type, expires_in, refresh_token, scope, ...extra } = body as Record<
		string,
		unknown
	>;
	const refreshToken =
		typeof refresh_token === 'string' && refresh_token !== '' ? refresh_token : null;
	const refused = (message: string, description?: string) => {
		const error = new TokenEndpointError(message, {}, description);
		if (refreshToken !== null) refreshTokensOfRefusedAnswers.set(error, refreshToken);
		return error;
	};
	if (typeof access_token !== 'string' || access_token === '') {
		throw refused(
			'The token endpoint answered without an access_token',
			`Fields received: ${Object.keys(body).join(', ') || 'none'}`,
		);
	}
	const bearer =
		typeof token_type === 'string' &&
		(token_type.toLowerCase() === 'bearer' || bearerTokenTypes.includes(token_type.toLowerCase()));
	if (token_type !== undefined && !bearer) {
		throw refused(
			`The token endpoint issued a token of type ${describeValue(token_type)}; only Bearer tokens are supported`,
		);
	}
	const expiry = parseExpiresIn(expires_in);
	const scopes = parseScope(scope);
	const warnings = [expiry.warning, scopes.warning].filter((w): w is string => w !== null);
	return {
		accessToken: access_token,
		tokenType: 'Bearer',
		expiresIn: expiry.expiresIn,
		refreshToken,
		scope: scopes.scope,
		extra: Object.fromEntries(
			Object.entries(extra).map(([name, value]) => [
				name,
				typeof value === 'string' ? withoutNul(value) : value,
			]),
		),
		warning: warnings.length ? warnings.join('. ') : null,
	};
}

function parseExpiresIn(value: unknown): { expiresIn: number | null; warning: string | null } {
	if (value === undefined || value === null || value === '')
		return { expiresIn: null, warning: null };
	const n =
		typeof value === 'number'
			? value
			: typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value)
				? Number(value)
				: NaN;
	if (Number.isFinite(n) && n > 0 && n <= MAX_EXPIRES_IN_SECONDS)
		return { expiresIn: Math.floor(n), warning: null };
	const unknown = 'the expiry is unknown until the next refresh';
	if (Number.isFinite(n) && n > MAX_EXPIRES_IN_SECONDS) {
		return {
			expiresIn: null,
			warning: `The token endpoint sent an expires_in of ${n} s, more than the maximum of ${MAX_EXPIRES_IN_SECONDS} s (10 years); ${unknown}`,
		};
	}
	return {
		expiresIn: null,
		warning: `The token endpoint sent an unusable expires_in (${describeValue(value)}); ${unknown}`,
	};
}

/** A field of a successful response, for a message: short plain words and numbers only, as the body may hold tokens. */
function describeValue(value: unknown): string {
	if (typeof value === 'number') return String(value);
	if (typeof value === 'string')
		return /^[\w .+-]{0,20}$/.test(value)
			? JSON.stringify(value)
			: `a ${value.length}-character text`;
	return Array.isArray(value) ? 'a list' : typeof value === 'object' ? 'an object' : typeof value;
}

/** PostgreSQL refuses NUL in text and JSON: a value the provider sent must not make the write after a refresh fail. */
const withoutNul = (value: string) => value.replace(/\u0000/g, '');

function parseScope(value: unknown): { scope: string | null; warning: string | null } {
	const scope =
		typeof value === 'string'
			? withoutNul(value)
			: Array.isArray(value)
				? withoutNul(value.join(' '))
				: null;
	if (scope === null || scope.length <= MAX_SCOPE_LENGTH) return { scope, warning: null };
	return {
		scope: null,
		warning: `The token endpoint sent a scope of ${scope.length} characters, more than the ${MAX_SCOPE_LENGTH} that are stored; the scope is unknown until the next refresh`,
	};
}
