import { requireTokenClient } from '../client-checks';
import { validateConnectionId } from '../connection-id';
import type { EngineParts } from '../engine-parts';
import { InvalidInputError } from '../errors';
import type { Grant } from '../oauth';
import { checkExtraParameters, type OAuthClient } from '../presets';
import type { ClientCredentialsParams, TokenResult } from '../types';
import { saveGrant } from './grant-saving';

/**
 * A client-credentials connection keeps what its token request asks for in its metadata, under this prefix
 * (e.g. "request.scope"), so every renewal asks for the same.
 */
export const REQUEST_PARAMETER_PREFIX = 'request.';

/**
 * RFC 6749 §4.4: a connection of the client itself, without a user: requests a token with the client's credentials
 * (authenticated as the client is configured) and stores it, replacing whatever the connection id held. Get Valid
 * Token and Refresh Token then request a new one, with the same scopes and parameters, whenever it is stale.
 */
export async function connectClientCredentials(
	parts: EngineParts,
	connectionId: string,
	params: ClientCredentialsParams = {},
): Promise<TokenResult> {
	const { client } = parts;
	validateConnectionId(connectionId);
	requireTokenClient(client);
	const requestMetadata = clientCredentialsRequest(client, params);
	const response = await parts.tokenEndpoint(clientCredentialsGrant(requestMetadata), {});
	// RFC 6749 §4.4.3: a refresh token should not be issued here; one that is is not used.
	return saveGrant(parts, {
		connectionId,
		response,
		grantType: 'client_credentials',
		tokens: () => ({
			...parts.sealer.issuedTokenFields(
				connectionId,
				response,
				{ refreshToken: null, metadata: requestMetadata },
				client.keepResponseFields,
			),
			refreshToken: null,
		}),
	});
}

/** RFC 6749 §4.4.2: the client-credentials grant asking for what a connection's metadata keeps (REQUEST_PARAMETER_PREFIX). */
export function clientCredentialsGrant(metadata: Record<string, string>): Grant {
	const grant: Grant = { grant_type: 'client_credentials' };
	for (const [name, value] of Object.entries(metadata)) {
		if (name.startsWith(REQUEST_PARAMETER_PREFIX))
			grant[name.slice(REQUEST_PARAMETER_PREFIX.length)] = value;
	}
	return grant;
}

/** Validates Connect Client Credentials' parameters into the metadata that keeps them for renewals. */
function clientCredentialsRequest(
	client: Pick<OAuthClient, 'scopes' | 'scopeSeparator'>,
	params: ClientCredentialsParams,
): Record<string, string> {
	const scopes = params.scopes ?? client.scopes;
	if (
		!Array.isArray(scopes) ||
		scopes.some((scope) => typeof scope !== 'string' || /\s/.test(scope.trim()))
	) {
		throw new InvalidInputError('scopes', 'must be a list of scopes, each without spaces');
	}
	const request: Record<string, string> = {};
	const scope = scopes
		.map((value) => value.trim())
		.filter(Boolean)
		.join(client.scopeSeparator || ' ');
	if (scope) request[`${REQUEST_PARAMETER_PREFIX}scope`] = scope;
	const extra = checkExtraParameters('extraParameters', params.extraParameters ?? {});
	if ('scope' in extra)
		throw new InvalidInputError(
			'extraParameters',
			'cannot set "scope": the token manager sets it itself (use scopes)',
		);
	for (const [name, value] of Object.entries(extra))
		request[`${REQUEST_PARAMETER_PREFIX}${name}`] = value;
	return request;
}
