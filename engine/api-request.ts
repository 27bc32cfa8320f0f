import { ApiRequestError, InvalidInputError } from './errors';
import type { OAuthClient } from './presets';
import { reportedStatus, type StoredConnection } from './types';
import { requireSecureUrl } from './urls';

/*
 * The pieces of an API call made with a connection's token that need no HTTP client: where the provider's API lives
 * for a connection, how a URL resolves against it, the Authorization header, whether an answer says the token is
 * not valid, and the provider's message with every form of the token removed. The caller (the n8n node) sends the
 * request with its own HTTP helper; this module never sees a response it did not get handed.
 */

/** The most of a provider's message an error carries. */
export const MAX_PROVIDER_MESSAGE_LENGTH = 300;

/**
 * The connection's API base URL: the preset's `apiBaseUrl`, its `{field}` filled from the connection's kept fields
 * (Pipedrive's `api_domain`). Null when the preset names none or the kept field is missing or not an https URL.
 */
export function apiBaseUrl(
	client: Pick<OAuthClient, 'apiBaseUrl'>,
	metadata: Record<string, string>,
): string | null {
	const template = client.apiBaseUrl ?? '';
	const field = /^\{([A-Za-z0-9_.-]+)\}$/.exec(template)?.[1];
	const base = field === undefined ? template : (metadata[field] ?? '');
	if (base === '') return null;
	try {
		const url = requireSecureUrl('apiUrl', base);
		if (url.username || url.password || url.search || url.hash) return null;
		return url.href.replace(/\/+$/, '');
	} catch {
		return null;
	}
}

/** Whether `url` stays under `base`: same scheme, host and port, and a path at or below the base's path. */
export function isUnderBase(url: string, base: string): boolean {
	let target: URL;
	let root: URL;
	try {
		target = new URL(url);
		root = new URL(base);
	} catch {
		return false;
	}
	if (target.origin !== root.origin || target.username || target.password) return false;
	const rootPath = root.pathname.replace(/\/+$/, '');
	return target.pathname === rootPath || target.pathname.startsWith(`${rootPath}/`);
}

/**
 * The URL to call: an absolute https URL as given (http only to loopback addresses), or a path joined to the API
 * base. Dot segments are resolved, so a path cannot climb out of the base unseen.
 */
export function resolveApiUrl(given: string, base: string | null): string {
	const text = given.trim();
	if (text === '')
		throw new InvalidInputError(
			'apiUrl',
			'is empty: give a path such as /api/v1/users/me, or an absolute https:// URL',
		);
	if (/^[a-z][a-z0-9+.-]*:/i.test(text)) return requireSecureUrl('apiUrl', text).href;
	if (base === null) {
		throw new InvalidInputError(
			'apiUrl',
			`"${text.slice(0, 100)}" is a path, but the connection has no API base URL (its provider preset names none, or the kept field it is read from is missing): give an absolute https:// URL`,
		);
	}
	return new URL(`${base}/${text.replace(/^\/+/, '')}`).href;
}

/** The Authorization header for the token: `<token_type> <access_token>`, Bearer for bearer types (and when none is stored). */
export function authorizationHeader(
	client: Pick<OAuthClient, 'bearerTokenTypes'>,
	tokenType: string | null,
	accessToken: string,
): string {
	const type = (tokenType ?? '').trim();
	const bearer =
		type === '' ||
		type.toLowerCase() === 'bearer' ||
		client.bearerTokenTypes.includes(type.toLowerCase());
	return `${bearer ? 'Bearer' : type} ${accessToken}`;
}

/** Whether the API's answer says the access token is not valid: HTTP 401, or the preset's own shape of it. */
export function tokenRefused(
	client: Pick<OAuthClient, 'apiTokenInvalid'>,
	statusCode: number,
	body: unknown,
): boolean {
	if (statusCode === 401) return true;
	const rule = client.apiTokenInvalid;
	if (!rule || body === null || typeof body !== 'object') return false;
	const value = (body as Record<string, unknown>)[rule.field];
	return typeof value === 'string' && rule.values.includes(value);
}

/** Every form a token may come back in (raw, percent-encoded, JSON-escaped), longest first; short values are not searched. */
function secretForms(secrets: Array<string | null | undefined>): string[] {
	const forms = secrets
		.filter((value): value is string => typeof value === 'string' && value.length >= 8)
		.flatMap((value) => [value, encodeURIComponent(value), JSON.stringify(value).slice(1, -1)]);
	return [...new Set(forms)].sort((a, b) => b.length - a.length);
}

/** `text` with every form of each secret replaced by [redacted]. */
export function redactSecrets(text: string, secrets: Array<string | null | undefined>): string {
	let out = text;
	for (const form of secretForms(secrets)) out = out.split(form).join('[redacted]');
	return out;
}

/** A JSON value with every form of each secret replaced in its texts and names (a provider may echo the Authorization header). */
export function redactValue<T>(value: T, secrets: Array<string | null | undefined>): T {
	if (value === undefined) return value;
	const text = JSON.stringify(value);
	const redacted = redactSecrets(text, secrets);
	return redacted === text ? value : (JSON.parse(redacted) as T);
}

/** The provider's explanation in an error answer (its usual fields, or the body's text), redacted and cut to an excerpt. */
export function providerMessage(body: unknown, secrets: Array<string | null | undefined>): string {
	let text = '';
	if (typeof body === 'string') text = body;
	else if (body !== null && typeof body === 'object') {
		const fields = body as Record<string, unknown>;
		const nested =
			fields.error !== null && typeof fields.error === 'object'
				? (fields.error as Record<string, unknown>)
				: {};
		const errors = Array.isArray(fields.errors)
			? (fields.errors[0] as Record<string, unknown> | undefined)
			: undefined;
		const found = [
			fields.error_description,
			fields.message,
			nested.message,
			fields.error,
			errors?.message,
		].find((v) => typeof v === 'string' && v.trim() !== '');
		text = typeof found === 'string' ? found : JSON.stringify(body);
	}
	const clean = redactSecrets(text, secrets).replace(/\s+/g, ' ').trim();
	return clean.length > MAX_PROVIDER_MESSAGE_LENGTH
		? `${clean.slice(0, MAX_PROVIDER_MESSAGE_LENGTH)}…`
		: clean;
}

/** The error for an API answer of `statusCode` (>= 400, or a token refusal after the one retry). */
export function apiError(
	connection: Pick<
		StoredConnection,
		'connectionId' | 'status' | 'failingSince' | 'lastRefreshedAt'
	>,
	statusCode: number,
	body: unknown,
	secrets: Array<string | null | undefined>,
	afterRefresh: boolean,
): ApiRequestError {
	const said = providerMessage(body, secrets);
	const saying = said ? `: ${said}` : '';
	if (afterRefresh) {
		const refreshed = connection.lastRefreshedAt
			? `, its token refreshed at ${connection.lastRefreshedAt.toISOString()}`
			: '';
		return new ApiRequestError(
			`The API refused connection "${connection.connectionId}"'s token again after one refresh (HTTP ${statusCode})${saying}`,
			'api_token_refused',
			statusCode,
			`The connection is ${reportedStatus(connection)}${refreshed}, and the provider still refuses its new token: the app may lack a scope, or the account lost access. Nothing was retried further.`,
		);
	}
	return new ApiRequestError(
		`The API answered HTTP ${statusCode}${saying}`,
		'api_error',
		statusCode,
		`Connection "${connection.connectionId}" (${reportedStatus(connection)}).`,
	);
}
