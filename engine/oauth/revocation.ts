import { INVALID_CLIENT_HINT, type ClientCredentials } from './client-authentication';
import { refusal } from './error-response';
import { authenticatedRequest, type EndpointAnswer, type RequestLimits } from './http';
import type { RequestPolicy } from './retry-policy';

/*
 * RFC 7009 token revocation: revocationRequest sends the token and its type hint, processRevocationResponse
 * decides. The server answers 200 even for a token it does not know (§2.2), so any 2xx is success whatever the
 * body; a provider that answers 400 invalid_grant / invalid_token instead says the same (the token is already dead).
 */

export type TokenTypeHint = 'refresh_token' | 'access_token';

/** Revoking comes before erasing: when the provider did not confirm, the connection is left as it was. */
const NOTHING_ERASED =
	'Nothing was erased: the tokens are still stored. Retry, or erase them here without revoking at the provider.';

export function revocationRequest(
	credentials: ClientCredentials & { revocationUrl: string },
	policy: RequestPolicy,
	token: string,
	hint: TokenTypeHint,
	limits: RequestLimits = {},
): Promise<EndpointAnswer> {
	const endpoint = {
		name: 'revocation endpoint',
		urlKey: 'revocationUrl',
		url: credentials.revocationUrl,
		consequence: NOTHING_ERASED,
	};
	return authenticatedRequest(
		credentials,
		policy,
		endpoint,
		new URLSearchParams({ token, token_type_hint: hint }),
		[token],
		limits,
	);
}

export function processRevocationResponse(answer: EndpointAnswer): void {
	if (answer.status >= 200 && answer.status < 300) return;
	const error = refusal(answer, (code) =>
		code === 'invalid_client' ? INVALID_CLIENT_HINT : undefined,
	);
	if (answer.status === 400 && (error.error === 'invalid_grant' || error.error === 'invalid_token'))
		return;
	throw error;
}
