import type { IssuedState } from '../authorization';
import { AuthorizationDeniedError, MissingInputError } from '../errors';
import { checkExtraParameters, type OAuthClient, type RequestParameters } from '../presets';
import { requireSecureUrl } from '../urls';

/**
 * The provider's authorize URL for a connection (RFC 6749 §4.1.1, RFC 7636 §4.3): the preset's and App credential's
 * authorization parameters, then this request's own (a `scope` among them replaces the client's scopes).
 */
export function buildAuthorizationUrl(
	client: OAuthClient,
	issued: IssuedState,
	extraParameters: RequestParameters = {},
): string {
	if (!client.authorizationUrl) {
		throw new MissingInputError('authorizationUrl');
	}
	if (!client.redirectUri) {
		throw new MissingInputError('redirectUri');
	}
	const url = requireSecureUrl('authorizationUrl', client.authorizationUrl);
	const parameters = {
		...client.authorizationParameters,
		...checkExtraParameters('extraParameters', extraParameters),
	};
	for (const [name, value] of Object.entries(parameters)) url.searchParams.set(name, value);
	url.searchParams.set('response_type', 'code');
	url.searchParams.set('client_id', client.clientId);
	url.searchParams.set('redirect_uri', client.redirectUri);
	if (client.scopes.length && !('scope' in parameters))
		url.searchParams.set('scope', client.scopes.join(client.scopeSeparator || ' '));
	url.searchParams.set('state', issued.state);
	if (issued.codeChallenge) {
		url.searchParams.set('code_challenge', issued.codeChallenge);
		url.searchParams.set('code_challenge_method', 'S256');
	}
	return url.toString();
}

/** The callback carried `?error=…` instead of a code (RFC 6749 §4.1.2.1). The values come from the query: cleaned and cut short. */
export function providerErrorFromCallback(
	error: unknown,
	description?: unknown,
): AuthorizationDeniedError | null {
	const clean = (value: unknown, max: number) =>
		typeof value === 'string'
			? value
					.replace(/[\u0000-\u001f\u007f]+/g, ' ')
					.trim()
					.slice(0, max)
			: '';
	const code = clean(error, 64);
	if (!code) return null;
	const detail = clean(description, 200);
	const message =
		code === 'access_denied'
			? `The account owner declined the authorization at the provider (access_denied)${detail ? `: ${detail}` : ''}`
			: `The provider returned an error instead of an authorization code: ${code}${detail ? ` – ${detail}` : ''}`;
	return new AuthorizationDeniedError(code, message);
}
