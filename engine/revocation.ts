import axios, { type AxiosResponse } from 'axios';
import { TokenEndpointError } from './errors';
import { basicAuthorization, redact, requestSecrets, responseTooLarge, SIZE_LIMITS, type TokenEndpointRequest } from './token-endpoint';
import { requireSecureUrl } from './urls';

/*
 * RFC 7009 token revocation: POST token + token_type_hint with the client's authentication. The server
 * answers 200 even for a token it does not know (§2.2), so 200 is success whatever the body; a provider that
 * answers 400 invalid_grant / invalid_token instead says the same (the token is already dead). Network
 * errors and 5xx are retried (bounded); a 503 may carry Retry-After (§2.2.1).
 */

export type TokenTypeHint = 'refresh_token' | 'access_token';

const NOTHING_ERASED = 'Nothing was erased: the tokens are still stored. Retry, or turn off "Revoke at Provider" to only erase them here.';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function revokeToken(
	endpoint: Omit<TokenEndpointRequest, 'tokenUrl'> & { revocationUrl: string },
	token: string,
	hint: TokenTypeHint,
): Promise<void> {
	requireSecureUrl('revocationUrl', endpoint.revocationUrl);
	const maxRetries = endpoint.maxRetries ?? 2;
	const baseDelay = endpoint.retryBaseDelayMs ?? 250;
	const timeout = endpoint.timeoutMs ?? 10_000;
	const form = new URLSearchParams({ token, token_type_hint: hint });
	const headers: Record<string, string> = { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' };
	if (endpoint.clientAuthentication === 'basic') {
		headers.Authorization = basicAuthorization(endpoint.clientId, endpoint.clientSecret);
	} else {
		form.set('client_id', endpoint.clientId);
		form.set('client_secret', endpoint.clientSecret);
	}
	const secrets = requestSecrets(endpoint.clientId, endpoint.clientSecret, [token]);
	for (let attempt = 0; ; attempt++) {
		let response: AxiosResponse<string>;
		try {
			response = await axios.post<string>(endpoint.revocationUrl, form.toString(), {
				headers,
				// axios's timeout stops counting once the headers arrive; the signal also covers the body.
				timeout,
				signal: AbortSignal.timeout(timeout),
				responseType: 'text',
				transformResponse: (data: string) => data,
				validateStatus: () => true,
				maxRedirects: 0,
				...SIZE_LIMITS,
			});
		} catch (error) {
			const tooLarge = responseTooLarge(error, 'revocation endpoint', NOTHING_ERASED);
			if (tooLarge) throw tooLarge;
			if (attempt < maxRetries) {
				await sleep(baseDelay * 2 ** attempt);
				continue;
			}
			const code = (error as { code?: string }).code;
			throw new TokenEndpointError(
				`The request to the revocation endpoint ${code === 'ECONNABORTED' || code === 'ETIMEDOUT' || code === 'ERR_CANCELED' ? `timed out after ${timeout} ms` : `failed (${code ?? 'network error'})`}, ${attempt + 1} attempt(s)`,
				undefined,
				undefined,
				NOTHING_ERASED,
			);
		}
		if (response.status >= 200 && response.status < 300) return;
		if ((response.status >= 500 || response.status === 429) && attempt < maxRetries) {
			const retryAfter = Number(response.headers['retry-after']);
			await sleep(Number.isFinite(retryAfter) && retryAfter >= 0 && retryAfter <= 10 ? retryAfter * 1000 : baseDelay * 2 ** attempt);
			continue;
		}
		let error: string | undefined;
		let detail: string | undefined;
		try {
			const body = JSON.parse(response.data);
			if (typeof body?.error === 'string') error = redact(body.error, secrets).slice(0, 64);
			const d = body?.error_description ?? body?.message;
			if (typeof d === 'string') detail = redact(d, secrets).slice(0, 200);
		} catch {
			detail = redact(String(response.data ?? ''), secrets).replace(/\s+/g, ' ').trim().slice(0, 200) || undefined;
		}
		// The token is already dead at the provider (RFC 7009 §2.2 would have answered 200): nothing left to revoke.
		if (response.status === 400 && (error === 'invalid_grant' || error === 'invalid_token')) return;
		throw new TokenEndpointError(
			`The revocation endpoint answered HTTP ${response.status}${error ? `: ${error}` : ''}${detail ? ` – ${detail}` : ''}`,
			error,
			response.status,
			NOTHING_ERASED,
		);
	}
}
