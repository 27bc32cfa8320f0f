import type { ClientAuthentication } from '../presets';

/** The app's credentials at the authorization server, and how it presents them (RFC 6749 §2.3.1). */
export interface ClientCredentials {
	clientId: string;
	clientSecret: string;
	clientAuthentication: ClientAuthentication;
}

/** Adds the client's authentication to a request to an endpoint of the authorization server. */
export type ClientAuthenticationMethod = (
	credentials: ClientCredentials,
	body: URLSearchParams,
	headers: Record<string, string>,
) => void;

/** What to check when the server refuses the client (invalid_client), at any endpoint. */
export const INVALID_CLIENT_HINT =
	'Check the client id and client secret, and the client authentication method (Basic or form body).';

export const formEncode = (value: string) => new URLSearchParams({ v: value }).toString().slice(2);

/** RFC 6749 §2.3.1: id and secret are form-urlencoded before being joined and base64-encoded. */
export function basicAuthorization(clientId: string, clientSecret: string): string {
	return (
		'Basic ' + Buffer.from(`${formEncode(clientId)}:${formEncode(clientSecret)}`).toString('base64')
	);
}

/** client_secret_basic: the HTTP Basic scheme. */
export const clientSecretBasic: ClientAuthenticationMethod = (
	{ clientId, clientSecret },
	_body,
	headers,
) => {
	headers.Authorization = basicAuthorization(clientId, clientSecret);
};

/** client_secret_post: client_id and client_secret in the form body. */
export const clientSecretPost: ClientAuthenticationMethod = ({ clientId, clientSecret }, body) => {
	body.set('client_id', clientId);
	body.set('client_secret', clientSecret);
};

export function clientAuthenticationMethod(
	setting: ClientAuthentication,
): ClientAuthenticationMethod {
	return setting === 'basic' ? clientSecretBasic : clientSecretPost;
}
