import { AuthorizationServerClient, type RequestPolicy } from '../../engine/oauth';
import type { OAuthClient } from '../../engine/presets';
import type { TokenEndpoint } from '../../engine/engine-parts';

/**
 * The engine's own token endpoint for `client`, which runs `then` once the provider has answered a refresh and
 * before the engine sees the answer: a test acts between the provider's answer and the store write (the
 * provider has rotated the refresh token by then). Code exchanges pass through untouched.
 */
export function afterRefreshAnswer(
	client: OAuthClient,
	then: () => Promise<unknown> | unknown,
	policy: Partial<RequestPolicy> = { retryBaseDelayMs: 1 },
): TokenEndpoint {
	const endpoint = new AuthorizationServerClient(client, policy);
	return async (grant, limits) => {
		const issued = await endpoint.requestToken(grant, limits);
		if (grant.grant_type === 'refresh_token') await then();
		return issued;
	};
}
