import axios, { type AxiosResponse } from 'axios';
import { TokenEndpointError } from './errors';
import type { ClientAuthentication } from './presets';

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

/** RFC 6749 §2.3.1: id and secret are form-urlencoded before being joined and base64-encoded. */
export function basicAuthorization(clientId: string, clientSecret: string): string {
	const encode = (value: string) => new URLSearchParams({ v: value }).toString().slice(2);
	return 'Basic ' + Buffer.from(`${encode(clientId)}:${encode(clientSecret)}`).toString('base64');
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
	if (Number.isFinite(n) && n > 0) return { expiresIn: Math.floor(n), warning: null };
	return {
		expiresIn: null,
		warning: `The token endpoint sent an unusable expires_in (${JSON.stringify(value).slice(0, 40)}); the expiry is unknown until the next refresh`,
	};
}

/** RFC 6749 §5.1: validates and normalises a 2xx token response body. */
export function parseTokenResponse(body: unknown): TokenResponse {
	if (!body || typeof body !== 'object' || Array.isArray(body)) {
		throw new TokenEndpointError('The token endpoint answered 2xx without a JSON object', undefined, undefined);
	}
	const { access_token, token_type, expires_in, refresh_token, scope, ...extra } = body as Record<string, unknown>;
	if (typeof access_token !== 'string' || access_token === '') {
		throw new TokenEndpointError(
			'The token endpoint answered without an access_token',
			undefined,
			undefined,
			`Fields received: ${Object.keys(body).join(', ') || 'none'}`,
		);
	}
	if (token_type !== undefined && (typeof token_type !== 'string' || token_type.toLowerCase() !== 'bearer')) {
		throw new TokenEndpointError(
			`The token endpoint issued a token of type "${String(token_type).slice(0, 40)}"; only Bearer tokens are supported`,
			undefined,
			undefined,
		);
	}
	const { expiresIn, warning } = parseExpiresIn(expires_in);
	return {
		accessToken: access_token,
		tokenType: 'Bearer',
		expiresIn,
		refreshToken: typeof refresh_token === 'string' && refresh_token !== '' ? refresh_token : null,
		scope: typeof scope === 'string' ? scope : Array.isArray(scope) ? scope.join(' ') : null,
		extra,
		warning,
	};
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
	const field = (name: string) => (typeof body?.[name] === 'string' ? redact(body[name] as string, secrets) : undefined);
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
			return 'Check the Client ID and Client Secret in the OAuth2 Token Manager App credential, and its Client Authentication setting.';
		case 'invalid_grant':
			return 'The authorization code or refresh token is invalid, expired, already used or revoked.';
		case 'unsupported_grant_type':
		case 'unauthorized_client':
			return 'The OAuth app is not allowed this grant type: check the app settings at the provider.';
		case 'invalid_scope':
			return 'Check the Scopes in the OAuth2 Token Manager App credential.';
		default:
			return undefined;
	}
}

/**
 * POSTs a grant to the token endpoint (RFC 6749 §4.1.3, §6), with bounded retries on transient failures.
 * Each attempt is limited to `timeoutMs` and all of them to `deadline` (epoch ms), body download included.
 */
export async function requestToken(endpoint: TokenEndpointRequest, grant: Grant, limits: { deadline?: number } = {}): Promise<IssuedTokens> {
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
	const secrets = [endpoint.clientSecret, ...Object.values(grant)].filter((s): s is string => typeof s === 'string');

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
			});
		} catch (error) {
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
		if (response.status >= 200 && response.status < 300) {
			let body: unknown;
			try {
				body = JSON.parse(response.data);
			} catch {
				throw describeFailure(response, secrets);
			}
			return { ...parseTokenResponse(body), requestedAt: new Date(sentAt) };
		}
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
		`Check that ${safeOrigin(endpoint.tokenUrl)} is reachable from n8n.`,
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
