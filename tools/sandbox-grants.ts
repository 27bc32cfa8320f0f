import { mapWithConcurrency } from '../engine/concurrency';
import type { TokenManager } from '../engine/token-manager';
import type { Sandbox } from './sandbox';

/**
 * Connects each id through the sandbox as an account owner would: consent at its authorize endpoint (which answers
 * with a code at once), then Exchange Authorization Code, `concurrency` at a time. For benchmarks that need many
 * connections; the sandbox's client must redirect to `redirectUri`.
 */
export async function authorizeAtSandbox(
	sandbox: Sandbox,
	manager: TokenManager,
	connectionIds: readonly string[],
	options: { redirectUri: string; concurrency?: number },
): Promise<void> {
	await mapWithConcurrency(connectionIds, options.concurrency ?? 16, async (connectionId) => {
		const authorize = new URL(`${sandbox.url}/oauth/authorize`);
		authorize.search = new URLSearchParams({
			client_id: sandbox.clientId,
			redirect_uri: options.redirectUri,
			state: 'bench',
		}).toString();
		const response = await fetch(authorize, { redirect: 'manual' });
		const code = new URL(response.headers.get('location')!).searchParams.get('code')!;
		await manager.exchangeAuthorizationCode(connectionId, {
			code,
			redirectUri: options.redirectUri,
			allowMissingState: true,
		});
	});
}
