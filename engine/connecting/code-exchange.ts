import { consumeState } from '../used-states';
import { providerErrorFromCallback } from './authorize-request';
import { requireTokenClient } from '../client-checks';
import { validateConnectionId } from '../connection-id';
import type { EngineParts } from '../engine-parts';
import { InvalidInputError, InvalidStateError, MissingInputError } from '../errors';
import type { Grant } from '../oauth';
import { sameApp, type OAuthClient } from '../presets';
import type { ExchangeParams, StoredConnection, TokenResult } from '../types';
import {
	connectionIdFromAnswer,
	requireDerivableConnectionId,
	requireOwnDerivedConnection,
} from './derived-connection-id';
import { saveGrant } from './grant-saving';

const MAX_CODE_LENGTH = 8192;
const MAX_CALLBACK_FIELD_LENGTH = 1024;

/**
 * RFC 6749 §4.1.3: trades an authorization code for tokens and stores them (a re-authorization replaces them).
 * A null connection id is derived from the provider's answer (the client's connectionIdFrom): only for a callback
 * without state, with allowMissingState, as marketplace installs arrive.
 */
export async function exchangeAuthorizationCode(
	parts: EngineParts,
	connectionId: string | null,
	params: ExchangeParams,
): Promise<TokenResult> {
	const { client, fingerprint } = parts;
	const state = typeof params.state === 'string' ? params.state.trim() : '';
	if (connectionId === null)
		requireDerivableConnectionId(client, state, params.allowMissingState === true);
	else validateConnectionId(connectionId);
	const denied = providerErrorFromCallback(params.providerError, params.providerErrorDescription);
	if (denied) throw denied;
	if (typeof params.code !== 'string' || params.code.trim() === '') {
		throw new MissingInputError('code');
	}
	if (params.code.length > MAX_CODE_LENGTH) {
		throw new InvalidInputError(
			'code',
			`is ${params.code.length} characters long; the maximum is ${MAX_CODE_LENGTH}`,
		);
	}
	const redirectUri = params.redirectUri || client.redirectUri;
	if (!redirectUri) {
		throw new MissingInputError('redirectUri');
	}
	requireTokenClient(client);
	const keptCallbackFields = keptFieldsOf(client, params.callbackFields ?? {});
	let codeVerifier = params.codeVerifier || null;
	if (state && connectionId !== null) {
		// RFC 6749 §10.12: the state proves this n8n started the authorization, for this connection, recently, once.
		const verified = (await parts.links.states()).verify(state, connectionId);
		await consumeState(parts.store, verified);
		codeVerifier = verified.codeVerifier ?? codeVerifier;
	} else if (!params.allowMissingState) {
		throw new InvalidStateError(
			'missing',
			'The callback has no state, so it cannot be tied to an authorization this token manager started',
			'Start the authorization with an authorization URL the token manager built (it adds a signed state). Only for installs that arrive without state (Pipedrive Marketplace), allow a missing state.',
		);
	}
	const grant: Grant = {
		grant_type: 'authorization_code',
		code: params.code,
		redirect_uri: redirectUri,
	};
	if (codeVerifier) grant.code_verifier = codeVerifier;
	const response = await parts.tokenEndpoint(grant, {});
	const id = connectionId ?? validateConnectionId(connectionIdFromAnswer(client, response));
	return saveGrant(parts, {
		connectionId: id,
		response,
		grantType: 'authorization_code',
		claim:
			connectionId === null
				? (existing: StoredConnection | null) =>
						requireOwnDerivedConnection(client, fingerprint, existing)
				: undefined,
		tokens: (existing) => {
			// RFC 6749 §5.1 makes refresh_token optional in a code response: on a re-authorization through the same
			// app, the stored refresh token stays valid, and so do kept fields the response leaves out.
			const previous =
				existing && (!existing.appFingerprint || sameApp(existing.appFingerprint, fingerprint))
					? existing
					: null;
			const metadata = { ...previous?.metadata, ...keptCallbackFields };
			const refreshToken = previous && parts.sealer.readableRefreshToken(previous);
			return parts.sealer.issuedTokenFields(
				id,
				response,
				{ refreshToken, metadata },
				client.keepResponseFields,
			);
		},
	});
}

/** The callback fields the client keeps: texts (or numbers) of a sensible length, without control characters. */
function keptFieldsOf(
	client: Pick<OAuthClient, 'keepCallbackFields'>,
	callback: Record<string, unknown>,
): Record<string, string> {
	const kept: Record<string, string> = {};
	for (const name of client.keepCallbackFields) {
		const value = callback[name];
		if (value === undefined || value === null || value === '') continue;
		if (
			(typeof value !== 'string' && typeof value !== 'number') ||
			String(value).length > MAX_CALLBACK_FIELD_LENGTH ||
			/[\u0000-\u001f\u007f]/.test(String(value))
		) {
			throw new InvalidInputError(
				'callbackFields',
				`has an unusable "${name}": a text of at most ${MAX_CALLBACK_FIELD_LENGTH} characters without control characters is kept`,
			);
		}
		kept[name] = String(value);
	}
	return kept;
}
