/** The engine's OAuth client: everything the engine sends to a provider's endpoints goes through it. */
export { AuthorizationServerClient, type EndpointSettings } from './client';
export { basicAuthorization } from './client-authentication';
export { isTransientFailure, type RequestPolicy } from './retry-policy';
export type { TokenTypeHint } from './revocation';
export {
	refreshTokenOfRefusedAnswer,
	type Grant,
	type IssuedTokens,
	type TokenResponse,
} from './token-endpoint';
