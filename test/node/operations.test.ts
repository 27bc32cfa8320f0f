/**
 * The description and the router derive their lists from the operations' declarations: each list must stay the one
 * written by hand before, since saved workflows and the editor read them.
 */
import { NodeOperationError, type INodeCredentialDescription } from 'n8n-workflow';
import { operations } from '../../nodes/OAuth2TokenManager/actions/operations';
import { OAuth2TokenManager } from '../../nodes/OAuth2TokenManager/OAuth2TokenManager.node';
import { executeContext } from '../helpers/node-context';

const node = new OAuth2TokenManager();
const { properties } = node.description;

const notForAgents = { hide: { '@tool': [true] } };
const fromVersion12 = { show: { '@version': [{ _cnd: { gte: 1.2 } }] }, ...notForAgents };

describe("the lists derived from the operations' declarations", () => {
	it('the Operation parameter', () => {
		expect(properties.find((p) => p.name === 'operation')).toStrictEqual({
			displayName: 'Operation',
			name: 'operation',
			type: 'options',
			noDataExpression: true,
			options: [
				{
					name: 'API Request',
					value: 'apiRequest',
					description:
						"Call the provider's API with the connection's token: refreshed ahead of expiry, and once more (one retry) if the API answers 401",
					action: 'Call the provider API with a valid token',
					displayOptions: { show: { '@version': [{ _cnd: { gte: 1.2 } }] } },
				},
				{
					name: 'Build Authorization URL',
					value: 'buildAuthorizationUrl',
					description:
						"Start an authorization: the provider's consent URL with a signed, single-use state (and PKCE where supported)",
					action: 'Build an authorization URL',
					displayOptions: notForAgents,
				},
				{
					name: 'Connect with Client Credentials',
					value: 'connectClientCredentials',
					description:
						'Connect the OAuth app itself (client credentials grant, no user): get a token and store it; Get Valid Token renews it',
					action: 'Connect with client credentials',
					displayOptions: fromVersion12,
				},
				{
					name: 'Exchange Authorization Code',
					value: 'exchangeAuthorizationCode',
					description: 'Trade the code from the OAuth callback for tokens and store them',
					action: 'Exchange an authorization code',
					displayOptions: notForAgents,
				},
				{
					name: 'Get Connection',
					value: 'getConnection',
					description:
						'Inspect a connection: status, expiry, last refresh, last error, failures; never a token',
					action: 'Get a connection',
					displayOptions: fromVersion12,
				},
				{
					name: 'Get Valid Token',
					value: 'getValidToken',
					description:
						'Return an access token that stays valid, refreshing it first when it is about to expire',
					action: 'Get a valid access token',
				},
				{
					name: 'Keep Alive',
					value: 'keepAlive',
					description:
						'For a Schedule Trigger: refresh every connection that expires soon or has been idle, one item per connection touched',
					action: 'Keep connections alive',
					displayOptions: fromVersion12,
				},
				{
					name: 'List Connections',
					value: 'listConnections',
					description:
						'List the stored connections, filtered by status, provider or ID prefix; never a token',
					action: 'List connections',
					displayOptions: fromVersion12,
				},
				{
					name: 'Refresh Token',
					value: 'refreshToken',
					description:
						'Refresh the access token now, or only if a failed token is still the stored one',
					action: 'Refresh an access token',
				},
				{
					name: 'Revoke / Disconnect',
					value: 'revoke',
					description:
						'Revoke the tokens at the provider (RFC 7009), then mark the connection revoked and erase them',
					action: 'Revoke a connection',
					displayOptions: notForAgents,
				},
			],
			default: 'getValidToken',
		});
	});

	it("the operations' own parameters, in the order the operations came", () => {
		expect(operations.map((operation) => operation.value)).toEqual([
			'buildAuthorizationUrl',
			'exchangeAuthorizationCode',
			'getValidToken',
			'refreshToken',
			'revoke',
			'getConnection',
			'listConnections',
			'keepAlive',
			'connectClientCredentials',
			'apiRequest',
		]);
		expect(
			properties.slice(-operations.flatMap((operation) => operation.properties).length),
		).toEqual(operations.flatMap((operation) => operation.properties));
	});

	it('the Connection ID of each version: who is asked for it, and how', () => {
		const upToVersion11 = { '@version': [1, 1.1] };
		const fromVersion12Shown = { '@version': [{ _cnd: { gte: 1.2 } }] };
		expect(
			properties.filter((p) => p.name === 'connectionId').map((p) => p.displayOptions),
		).toStrictEqual([
			{
				show: upToVersion11,
				hide: { operation: ['exchangeAuthorizationCode', 'listConnections', 'keepAlive'] },
			},
			{ show: { ...upToVersion11, operation: ['exchangeAuthorizationCode'] } },
			{
				show: fromVersion12Shown,
				hide: {
					operation: [
						'exchangeAuthorizationCode',
						'buildAuthorizationUrl',
						'connectClientCredentials',
						'listConnections',
						'keepAlive',
					],
				},
			},
			{
				show: {
					...fromVersion12Shown,
					operation: ['buildAuthorizationUrl', 'connectClientCredentials'],
				},
			},
			{ show: { ...fromVersion12Shown, operation: ['exchangeAuthorizationCode'] } },
		]);
	});

	it('the App credential is not asked for by the operations that only read the store', () => {
		const app = (node.description.credentials as INodeCredentialDescription[]).find(
			(c) => c.name === 'oAuth2TokenManagerAppApi',
		);
		expect(app?.displayOptions).toStrictEqual({
			hide: { operation: ['getConnection', 'listConnections'] },
		});
	});

	it('an AI agent runs Get Valid Token, Refresh Token and API Request, and is told so for any other operation', async () => {
		expect(
			operations.filter((operation) => operation.agentTool).map((operation) => operation.value),
		).toEqual(['getValidToken', 'refreshToken', 'apiRequest']);
		const error = await node.execute
			.call(
				executeContext({ parameters: { operation: 'revoke' }, credentials: {}, asAgentTool: true }),
			)
			.catch((e) => e);
		expect(error).toBeInstanceOf(NodeOperationError);
		expect(error.description).toBe(
			"As an agent's tool this node runs Get Valid Token, Refresh Token and API Request, and never hands the agent a token. Run the other operations in a workflow without an agent.",
		);
	});
});
