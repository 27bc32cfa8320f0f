import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Every bundled workflow's webhooks: each is authenticated with a credential of its own, except an OAuth callback,
 * which only feeds Exchange Authorization Code with the state check on (the signed state guards it).
 */
interface WorkflowNode {
	name: string;
	type: string;
	typeVersion: number;
	parameters: Record<string, unknown>;
	credentials?: Record<string, { id: string | null; name: string }>;
}
interface Workflow {
	name: string;
	nodes: WorkflowNode[];
	connections: Record<string, { main?: Array<Array<{ node: string }>> }>;
}

const directory = join(__dirname, '..', 'workflows');
const workflows = readdirSync(directory)
	.filter((file) => file.endsWith('.json'))
	.map((file) => ({ file, workflow: JSON.parse(readFileSync(join(directory, file), 'utf8')) as Workflow }));

/** The credential type each Webhook authentication method takes. */
const CREDENTIAL_TYPES: Record<string, string> = { basicAuth: 'httpBasicAuth', headerAuth: 'httpHeaderAuth', jwtAuth: 'jwtAuth' };

/** True when every node the webhook feeds is Exchange Authorization Code that refuses a callback without state. */
function guardedBySignedState(workflow: Workflow, webhook: WorkflowNode): boolean {
	const next = (workflow.connections[webhook.name]?.main ?? []).flat().map((link) => workflow.nodes.find((n) => n.name === link.node)!);
	return (
		next.length > 0 &&
		next.every(
			(n) =>
				n.type === 'n8n-nodes-oauth2-token-manager.oAuth2TokenManager' &&
				n.parameters.operation === 'exchangeAuthorizationCode' &&
				(n.parameters.exchangeOptions as { allowMissingState?: boolean } | undefined)?.allowMissingState !== true,
		)
	);
}

describe('the bundled workflows', () => {
	const webhooks = workflows.flatMap(({ file, workflow }) =>
		workflow.nodes.filter((n) => n.type === 'n8n-nodes-base.webhook').map((node) => ({ file, workflow, node })),
	);

	it('are found, with their webhooks', () => {
		expect(workflows.map(({ file }) => file)).toEqual(['1-connect-oauth-callback.json', '2-call-api-with-valid-token.json', '3-refresh-on-request.json']);
		expect(webhooks.map(({ file, node }) => `${file}: ${node.name}`)).toEqual([
			'1-connect-oauth-callback.json: Start Webhook',
			'1-connect-oauth-callback.json: OAuth Callback',
			'2-call-api-with-valid-token.json: Call Webhook',
			'3-refresh-on-request.json: Refresh Webhook',
		]);
	});

	it('authenticate every webhook with a credential of its own, except the OAuth callback the signed state guards', () => {
		const unauthenticated: string[] = [];
		const credentialNames: string[] = [];
		for (const { file, workflow, node } of webhooks) {
			const authentication = (node.parameters.authentication as string | undefined) ?? 'none';
			if (authentication === 'none') {
				if (!guardedBySignedState(workflow, node)) unauthenticated.push(`${file}: ${node.name} (/webhook/${node.parameters.path})`);
				continue;
			}
			const credential = node.credentials?.[CREDENTIAL_TYPES[authentication]];
			expect({ webhook: node.name, credential: credential?.name ?? null }).toEqual({ webhook: node.name, credential: expect.any(String) });
			credentialNames.push(credential!.name);
		}
		expect(unauthenticated).toEqual([]);
		expect(new Set(credentialNames).size).toBe(credentialNames.length);
		expect(credentialNames).toHaveLength(3);
	});

	it('run the node\'s current version and read its output by the current field names', () => {
		const tokenManagers = workflows.flatMap(({ file, workflow }) =>
			workflow.nodes.filter((n) => n.type === 'n8n-nodes-oauth2-token-manager.oAuth2TokenManager').map((node) => ({ file, node })),
		);
		expect(tokenManagers).toHaveLength(5);
		expect(tokenManagers.filter(({ node }) => node.typeVersion !== 1.1).map(({ file, node }) => `${file}: ${node.name}`)).toEqual([]);
		// The node's own fields as version 1 named them; version 1.1 names them in camelCase.
		const version1Names = /json\.(expires_at|refresh_count|last_refreshed_at|min_validity_seconds|min_validity_capped|revoked_at_provider|revoked_token_type)\b/;
		const stale = workflows.flatMap(({ file, workflow }) =>
			workflow.nodes.filter((n) => version1Names.test(JSON.stringify(n.parameters))).map((n) => `${file}: ${n.name}`),
		);
		expect(stale).toEqual([]);
	});
});
