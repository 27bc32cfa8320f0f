import type { OAuthClient } from '../presets';
import type { RequestLimits } from './http';
import { DEFAULT_REQUEST_POLICY, type RequestPolicy } from './retry-policy';
import { processRevocationResponse, revocationRequest, type TokenTypeHint } from './revocation';
import {
	processTokenEndpointResponse,
	tokenEndpointRequest,
	type Grant,
	type IssuedTokens,
} from './token-endpoint';

/** The app as its endpoints need it: where they are, its credentials, and what its provider adds to token requests. */
export type EndpointSettings = Pick<
	OAuthClient,
	'tokenUrl' | 'revocationUrl' | 'clientId' | 'clientSecret' | 'clientAuthentication'
> &
	Partial<
		Pick<OAuthClient, 'tokenParameters' | 'refreshParameters' | 'bearerTokenTypes' | 'errorCodes'>
	>;

/**
 * The app's client for the authorization server's endpoints: every request goes through authenticatedRequest
 * (one retry policy, one redaction); each endpoint is a request function and a function that
 * processes its answer, named after the spec. A new endpoint (e.g. RFC 7662 introspection) adds such a pair
 * and a method here.
 */
export class AuthorizationServerClient {
	private readonly policy: RequestPolicy;

	constructor(
		private readonly settings: EndpointSettings,
		policy: Partial<RequestPolicy> = {},
	) {
		this.policy = { ...DEFAULT_REQUEST_POLICY, ...withoutUndefined(policy) };
	}

	/** RFC 6749 §4.1.3 / §6: trades a grant for tokens. The deadline bounds every attempt and retry. */
	async requestToken(grant: Grant, limits: RequestLimits = {}): Promise<IssuedTokens> {
		return processTokenEndpointResponse(
			await tokenEndpointRequest(this.settings, this.policy, grant, limits),
			this.settings,
		);
	}

	/** RFC 7009: asks the provider to revoke a token; resolves once it is revoked or already dead. */
	async revokeToken(token: string, hint: TokenTypeHint, limits: RequestLimits = {}): Promise<void> {
		processRevocationResponse(
			await revocationRequest(this.settings, this.policy, token, hint, limits),
		);
	}
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
	return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
