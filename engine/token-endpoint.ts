import axios, { type AxiosResponse } from 'axios';
import { TokenEndpointError } from './errors';
import type { ClientAuthentication } from './presets';
import { requireSecureUrl } from './urls';

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

export interface TokenEndpointRequest {
	tokenUrl: string;
	clientId: string;
	clientSecret: string;
	clientAuthentication: ClientAuthentication;
	timeoutMs?: number;
	/** Retries after network errors, 5xx and 429; never after a 4xx answer. */
	maxRetries?: number;
	retryBaseDelayMs?: number;
	/** Longest Retry-After (429/503) honoured; a longer one fails at once. */
	maxRetryAfterMs?: number;
}

/** A token response and when the request that obtained it was sent (the token's lifetime starts no earlier). */
export type IssuedTokens = TokenResponse & { requestedAt: Date };

export type Grant =
	| { grant_type: 'authorization_code'; code: string; redirect_uri: string; code_verifier?: string }
	| { grant_type: 'refresh_token'; refresh_token: string; scope?: string };

const DEFAULTS = { timeoutMs: 10_000, maxRetries: 2, retryBaseDelayMs: 250, maxRetryAfterMs: 10_000 };
const EXCERPT_LENGTH = 200;
/** Largest token or revocation response read: a token response is a few kilobytes. */
export const MAX_RESPONSE_BYTES = 1024 * 1024;
/** Longest expires_in taken as given (10 years); a longer one is treated as unknown. */
export const MAX_EXPIRES_IN_SECONDS = 10 * 365 * 86_400;
/** Longest scope stored: MySQL's TEXT column holds 65,535 bytes, 16,383 four-byte characters. */
export const MAX_SCOPE_LENGTH = 16_000;

/** axios options that stop reading a response (and sending a body) beyond the cap, while it streams. */
export const SIZE_LIMITS = { maxContentLength: MAX_RESPONSE_BYTES, maxBodyLength: MAX_RESPONSE_BYTES };

/** The error for a response axios stopped reading at MAX_RESPONSE_BYTES, or null for any other failure. */
export function responseTooLarge(error: unknown, endpointName: string, description: string): TokenEndpointError | null {
	if (!/^maxContentLength size of \d+ exceeded/.test((error as Error | undefined)?.message ?? '')) return null;
	return new TokenEndpointError(
		`The ${endpointName} sent a response larger than ${MAX_RESPONSE_BYTES / (1024 * 1024)} MB; it was not read further`,
		undefined,
		undefined,
		description,
	);
}

const formEncode = (value: string) => new URLSearchParams({ v: value }).toString().slice(2);

/** RFC 6749 §2.3.1: id and secret are form-urlencoded before being joined and base64-encoded. */
export function basicAuthorization(clientId: string, clientSecret: string): string {
	return 'Basic ' + Buffer.from(`${formEncode(clientId)}:${formEncode(clientSecret)}`).toString('base64');
}

/**
 * Every form in which the request's secrets travel, to redact from what the provider sends back: each value raw,
 * form-encoded (a body, the Basic scheme's pre-encoding), percent-encoded and JSON-escaped; and the Basic header's
 * base64 value (also of the id and secret joined without encoding, as a provider may echo it).
 */
export function requestSecrets(clientId: string, clientSecret: string, values: Array<string | undefined>): string[] {
	const forms = [clientSecret, ...values]
		.filter((value): value is string => typeof value === 'string')
		.flatMap((value) => [value, formEncode(value), encodeURIComponent(value), JSON.stringify(value).slice(1, -1)]);
	const basic = basicAuthorization(clientId, clientSecret).slice('Basic '.length);
	forms.push(basic, Buffer.from(`${clientId}:${clientSecret}`).toString('base64'));
	return [...new Set(forms)].sort((a, b) => b.length - a.length);
}

/** Replaces every secret of the request in text that came back from the provider. */
export function redact(text: string, secrets: Array<string | undefined>): string {
	let out = text;
	for (const secret of secrets) if (secret && secret.length >= 4) out = out.split(secret).join('[redacted]');
	return out;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function retryAfterMs(header: unknown): number | null {
	if (typeof header !== 'string' || header.trim() === '') return null;
	const seconds = Number(header);
	if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
	const date = Date.parse(header);
	return Number.isNaN(date) ? null : Math.max(0, date - Date.now());
}

function parseExpiresIn(value: unknown): { expiresIn: number | null; warning: string | null } {
	if (value === undefined || value === null || value === '') return { expiresIn: null, warning: null };
	const n = typeof value === 'number' ? value : typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : NaN;
	if (Number.isFinite(n) && n > 0 && n <= MAX_EXPIRES_IN_SECONDS) return { expiresIn: Math.floor(n), warning: null };
	const unknown = 'the expiry is unknown until the next refresh';
	if (Number.isFinite(n) && n > MAX_EXPIRES_IN_SECONDS) {
		return { expiresIn: null, warning: `The token endpoint sent an expires_in of ${n} s, more than the maximum of ${MAX_EXPIRES_IN_SECONDS} s (10 years); ${unknown}` };
	}
	return { expiresIn: null, warning: `The token endpoint sent an unusable expires_in (${describeValue(value)}); ${unknown}` };
}

/** A field of a successful response, for a message: short plain words and numbers only, as the body may hold tokens. */
function describeValue(value: unknown): string {
	if (typeof value === 'number') return String(value);
	if (typeof value === 'string') return /^[\w .+-]{0,20}$/.test(value) ? JSON.stringify(value) : `a ${value.length}-character text`;
	return Array.isArray(value) ? 'a list' : typeof value === 'object' ? 'an object' : typeof value;
}

/** PostgreSQL refuses NUL in text and JSON: a value the provider sent must not make the write after a refresh fail. */
const withoutNul = (value: string) => value.replace(/\u0000/g, '');

function parseScope(value: unknown): { scope: string | null; warning: string | null } {
	const scope = typeof value === 'string' ? withoutNul(value) : Array.isArray(value) ? withoutNul(value.join(' ')) : null;
	if (scope === null || scope.length <= MAX_SCOPE_LENGTH) return { scope, warning: null };
	return {
		scope: null,
		warning: `The token endpoint sent a scope of ${scope.length} characters, more than the ${MAX_SCOPE_LENGTH} that are stored; the scope is unknown until the next refresh`,
	};
}

/**
 * A refresh token that came in a 2xx answer refused for another reason: the provider may already have retired the
 * old one, so it must be kept. Held beside the error, never on it, so that no serialised error carries it.
 */
const refreshTokensOfRefusedAnswers = new WeakMap<TokenEndpointError, string>();

export function refreshTokenOfRefusedAnswer(error: unknown): string | null {
	return error instanceof TokenEndpointError ? (refreshTokensOfRefusedAnswers.get(error) ?? null) : null;
}

/** RFC 6749 §5.1: validates and normalises a 2xx token response body. */
export function parseTokenResponse(body: unknown): TokenResponse {
	if (!body || typeof body !== 'object' || Array.isArray(body)) {
		throw new TokenEndpointError('The token endpoint answered 2xx without a JSON object', undefined, undefined);
	}
	const { access_token, token_type, expires_in, refresh_token, scope, ...extra } = body as Record<string, unknown>;
	const refreshToken = typeof refresh_token === 'string' && refresh_token !== '' ? refresh_token : null;
	const refused = (error: TokenEndpointError) => {
		if (refreshToken !== null) refreshTokensOfRefusedAnswers.set(error, refreshToken);
		return error;
	};
	if (typeof access_token !== 'string' || access_token === '') {
		throw refused(
			new TokenEndpointError(
				'The token endpoint answered without an access_token',
				undefined,
				undefined,
				`Fields received: ${Object.keys(body).join(', ') || 'none'}`,
			),
		);
	}
	if (token_type !== undefined && (typeof token_type !== 'string' || token_type.toLowerCase() !== 'bearer')) {
		throw refused(
			new TokenEndpointError(
				`The token endpoint issued a token of type ${describeValue(token_type)}; only Bearer tokens are supported`,
				undefined,
				undefined,
			),
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
		extra: Object.fromEntries(Object.entries(extra).map(([name, value]) => [name, typeof value === 'string' ? withoutNul(value) : value])),
		warning: warnings.length ? warnings.join('. ') : null,
	};
}

/**
 * The fields of a 2xx body: JSON, or form-encoded as some providers answer (RFC 6749 asks for JSON). Anything
 * else is refused without quoting it: a successful answer may carry tokens.
 */
function successFields(response: AxiosResponse<string>): unknown {
	const text = String(response.data ?? '');
	const contentType = String(response.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
	if (contentType === 'application/x-www-form-urlencoded') return Object.fromEntries(new URLSearchParams(text));
	try {
		return JSON.parse(text);
	} catch {
		const form = Object.fromEntries(new URLSearchParams(text.trim()));
		if (typeof form.access_token === 'string') return form;
	}
	throw new TokenEndpointError(
		`The token endpoint answered HTTP ${response.status} with a body that is neither JSON nor form-encoded (Content-Type ${contentType || 'none'}, ${Buffer.byteLength(text)} bytes); it is not shown, as a successful answer may carry tokens`,
		undefined,
		response.status,
		"Check that the token URL points at the provider's token endpoint.",
	);
}

function describeFailure(response: AxiosResponse<string>, secrets: string[]): TokenEndpointError {
	const status = response.status;
	let body: Record<string, unknown> | undefined;
	try {
		const parsed = JSON.parse(response.data);
		if (parsed && typeof parsed === 'object') body = parsed;
	} catch {
		// not JSON: described by its excerpt below
	}
	// Cut to an excerpt: the message also lands in last_error, and a provider may send anything.
	const field = (name: string) => (typeof body?.[name] === 'string' ? redact(body[name] as string, secrets).slice(0, EXCERPT_LENGTH) : undefined);
	const error = field('error');
	if (error) {
		// RFC 6749 §5.2; Pipedrive puts its explanation in `message`.
		const detail = field('error_description') ?? field('message');
		return new TokenEndpointError(
			`The token endpoint refused the request (HTTP ${status}): ${error}${detail ? ` – ${detail}` : ''}`,
			error,
			status,
			hintFor(error),
		);
	}
	const excerpt = redact(String(response.data ?? ''), secrets).replace(/\s+/g, ' ').trim().slice(0, EXCERPT_LENGTH);
	return new TokenEndpointError(
		`The token endpoint answered HTTP ${status}${body ? ' without an OAuth error code' : ' with a non-JSON body'}${excerpt ? `: ${excerpt}` : ''}`,
		undefined,
		status,
	);
}

function hintFor(error: string): string | undefined {
	switch (error) {
		case 'invalid_client':
			return 'Check the client id and client secret, and the client authentication method (Basic or form body).';
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
 * POSTs a grant to the token endpoint (RFC 6749 §4.1.3, §6), with bounded retries on transient failures.
 * Each attempt is limited to `timeoutMs` and all of them to `deadline` (epoch ms), body download included.
 */
export async function requestToken(endpoint: TokenEndpointRequest, grant: Grant, limits: { deadline?: number } = {}): Promise<IssuedTokens> {
	requireSecureUrl('tokenUrl', endpoint.tokenUrl);
	const options = { ...DEFAULTS, ...stripUndefined(endpoint) };
	const deadline = limits.deadline ?? Infinity;
	const form = new URLSearchParams(grant as Record<string, string>);
	const headers: Record<string, string> = {
		'Content-Type': 'application/x-www-form-urlencoded',
		Accept: 'application/json',
	};
	if (endpoint.clientAuthentication === 'basic') {
		headers.Authorization = basicAuthorization(endpoint.clientId, endpoint.clientSecret);
	} else {
		form.set('client_id', endpoint.clientId);
		form.set('client_secret', endpoint.clientSecret);
	}
	const grantSecrets = grant.grant_type === 'refresh_token' ? [grant.refresh_token] : [grant.code, grant.code_verifier];
	const secrets = requestSecrets(endpoint.clientId, endpoint.clientSecret, grantSecrets);

	for (let attempt = 0; ; attempt++) {
		const backoff = options.retryBaseDelayMs * 2 ** attempt * (0.75 + Math.random() * 0.5);
		const sentAt = Date.now();
		const attemptMs = Math.min(options.timeoutMs, deadline - sentAt);
		const cutByDeadline = attemptMs < options.timeoutMs;
		if (attemptMs <= 0) throw unreachable(endpoint, 'did not finish before the refresh deadline', attempt);
		let response: AxiosResponse<string>;
		try {
			response = await axios.post<string>(endpoint.tokenUrl, form.toString(), {
				headers,
				// axios's timeout stops counting once the headers arrive; the signal also covers the body.
				timeout: attemptMs,
				signal: AbortSignal.timeout(attemptMs),
				responseType: 'text',
				transformResponse: (data: string) => data,
				validateStatus: () => true,
				maxRedirects: 0,
				...SIZE_LIMITS,
			});
		} catch (error) {
			const tooLarge = responseTooLarge(error, 'token endpoint', "A token response is a few kilobytes: check that the token URL points at the provider's token endpoint.");
			if (tooLarge) throw tooLarge;
			if (attempt < options.maxRetries && Date.now() + backoff < deadline) {
				await sleep(backoff);
				continue;
			}
			const code = (error as { code?: string }).code;
			const timedOut = code === 'ECONNABORTED' || code === 'ETIMEDOUT' || code === 'ERR_CANCELED';
			const reason = !timedOut
				? `failed (${code ?? 'network error'})`
				: cutByDeadline
					? 'did not finish before the refresh deadline'
					: `timed out after ${options.timeoutMs} ms`;
			throw unreachable(endpoint, reason, attempt + 1);
		}
		if (response.status >= 200 && response.status < 300) return { ...parseTokenResponse(successFields(response)), requestedAt: new Date(sentAt) };
		const transient = response.status >= 500 || response.status === 429;
		if (transient && attempt < options.maxRetries) {
			const wait = retryAfterMs(response.headers['retry-after']);
			if ((wait === null || wait <= options.maxRetryAfterMs) && Date.now() + (wait ?? backoff) < deadline) {
				await sleep(wait ?? backoff);
				continue;
			}
		}
		throw describeFailure(response, secrets);
	}
}

function unreachable(endpoint: TokenEndpointRequest, reason: string, attempts: number): TokenEndpointError {
	return new TokenEndpointError(
		`The request to the token endpoint ${reason}, ${attempts} attempt(s)`,
		undefined,
		undefined,
		`Check that ${safeOrigin(endpoint.tokenUrl)} is reachable from this host.`,
	);
}

function safeOrigin(url: string): string {
	try {
		return new URL(url).origin;
	} catch {
		return 'the token URL';
	}
}

function stripUndefined<T extends object>(value: T): Partial<T> {
	return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
