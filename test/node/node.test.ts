/**
 * The node's item loop, its errors and its AI-agent tool variant. The storage is incidental here: embedded SQLite in
 * a temporary file (the node on PostgreSQL and MariaDB: the *.db.test.ts files beside this one).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nock from 'nock';
import {
	NodeApiError,
	NodeHelpers,
	NodeOperationError,
	type ICredentialDataDecryptedObject,
	type INodeTypeDescription,
} from 'n8n-workflow';
import { OAuth2TokenManager } from '../../nodes/OAuth2TokenManager/OAuth2TokenManager.node';
import { executeContext, NOCK_APP_CREDENTIAL, stateLessExchange } from '../helpers/node-context';
import { CLIENT_SECRET, PROVIDER_ORIGIN, rotatingTokenEndpoint } from '../helpers/provider';

const node = new OAuth2TokenManager();
const dir = mkdtempSync(join(tmpdir(), 'oauth2tm-node-'));
const credentials: Record<string, ICredentialDataDecryptedObject> = {
	oAuth2TokenManagerAppApi: NOCK_APP_CREDENTIAL,
	oAuth2TokenManagerEmbeddedApi: {
		filePath: join(dir, 'tokens.sqlite'),
		encryptionKey: 'node-test-encryption-key',
	},
};

beforeAll(() => nock.disableNetConnect());
afterEach(() => nock.cleanAll());
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const exchange = (connectionId: string) => ({
	storage: 'embedded',
	...stateLessExchange(connectionId),
});

describe('OAuth2 Token Manager node', () => {
	it('runs every item with its own parameters, pairs outputs with inputs, and returns the access token only where asked', async () => {
		rotatingTokenEndpoint();
		const ids = ['node:a', 'node:b'];
		const [connected] = await node.execute.call(
			executeContext({
				items: ids.map((id) => ({ json: { id } })),
				parameters: (i) => exchange(ids[i]),
				credentials,
			}),
		);
		expect(connected.map((item) => item.pairedItem)).toEqual([{ item: 0 }, { item: 1 }]);
		expect(connected.map((item) => item.json.connectionId)).toEqual(ids);
		for (const item of connected) {
			expect(item.json).toMatchObject({
				status: 'active',
				token_type: 'Bearer',
				api_domain: 'https://acme.pipedrive.test',
				refreshed: false,
			});
			expect(item.json).not.toHaveProperty('access_token');
			expect(item.json.expires_in).toBeGreaterThan(3500);
		}

		const [valid] = await node.execute.call(
			executeContext({
				items: ids.map((id) => ({ json: { id } })),
				parameters: (i) => ({
					storage: 'embedded',
					operation: 'getValidToken',
					connectionId: ids[i],
					minValiditySeconds: 300,
				}),
				credentials,
			}),
		);
		expect(valid.map((item) => item.json.access_token)).toEqual([
			'SENTINEL-access-1',
			'SENTINEL-access-2',
		]);
		expect(JSON.stringify(valid)).not.toContain('SENTINEL-refresh');
	});

	it("Get Valid Token says which Minimum Validity it applied, and when it capped it to half the token's lifetime", async () => {
		const endpoint = rotatingTokenEndpoint();
		await node.execute.call(executeContext({ parameters: exchange('node:capped'), credentials }));
		const get = async (minValiditySeconds: number) =>
			(
				await node.execute.call(
					executeContext({
						parameters: {
							storage: 'embedded',
							operation: 'getValidToken',
							connectionId: 'node:capped',
							minValiditySeconds,
						},
						credentials,
					}),
				)
			)[0][0].json;
		expect(await get(300)).toMatchObject({
			refreshed: false,
			min_validity_seconds: 300,
			min_validity_capped: false,
		});
		// The token lives 3600 s (less the 2 s expiry margin): 3600 s of Minimum Validity would refresh it at once.
		expect(await get(3600)).toMatchObject({
			refreshed: false,
			min_validity_seconds: 1799,
			min_validity_capped: true,
		});
		expect(endpoint.refreshRequests()).toHaveLength(0);
	});

	it('bad input is a NodeOperationError that names the parameter and the item', async () => {
		// Item 0 is fine (a fresh stored token, no provider call); item 1 has a blank Connection ID.
		const error = await node.execute
			.call(
				executeContext({
					items: [{ json: {} }, { json: {} }],
					parameters: (i) => ({
						storage: 'embedded',
						operation: 'getValidToken',
						connectionId: i === 0 ? 'node:a' : '   ',
					}),
					credentials,
				}),
			)
			.catch((e) => e);
		expect(error).toBeInstanceOf(NodeOperationError);
		expect(error.message).toMatch(/Connection ID is empty/);
		expect(error.description).toBe('Check the "Connection ID" field.');
		expect(error.context.itemIndex).toBe(1);
		const badCode = await node.execute
			.call(executeContext({ parameters: { ...exchange('node:a'), code: '' }, credentials }))
			.catch((e) => e);
		expect(badCode).toBeInstanceOf(NodeOperationError);
		expect(badCode.description).toBe('Check the "Authorization Code" field.');
	});

	it('a connection used through another App credential is a NodeOperationError saying what to do; no provider call', async () => {
		const endpoint = rotatingTokenEndpoint();
		await node.execute.call(executeContext({ parameters: exchange('node:app'), credentials }));
		const otherApp = {
			...credentials,
			oAuth2TokenManagerAppApi: {
				...credentials.oAuth2TokenManagerAppApi,
				clientId: 'client-id-of-another-app',
			},
		};
		const error = await node.execute
			.call(
				executeContext({
					parameters: { storage: 'embedded', operation: 'getValidToken', connectionId: 'node:app' },
					credentials: otherApp,
				}),
			)
			.catch((e) => e);
		expect(error).toBeInstanceOf(NodeOperationError);
		expect(error.message).toMatch(
			/^Connection "node:app" was authorized through the app with token URL https:\/\/provider\.test\/oauth\/token .* client ID "client-id-of-another-app"/,
		);
		expect(error.description).toMatch(/^Use the App credential the connection was authorized with/);
		expect(endpoint.requests).toHaveLength(1);
	});

	it('provider and store failures are NodeApiErrors; with Continue On Fail they become error items and the rest still run', async () => {
		nock(PROVIDER_ORIGIN)
			.post('/oauth/token')
			.reply(401, { error: 'invalid_client', error_description: `wrong secret ${CLIENT_SECRET}` });
		const thrown = await node.execute
			.call(executeContext({ parameters: exchange('node:c'), credentials }))
			.catch((e) => e);
		expect(thrown).toBeInstanceOf(NodeApiError);
		expect(thrown.message).toBe(
			'The token endpoint refused the request (HTTP 401): invalid_client – wrong secret [redacted]',
		);
		expect(thrown.description).toMatch(/Client ID and Client Secret/);
		expect(thrown.httpCode).toBe('401');

		rotatingTokenEndpoint();
		const [items] = await node.execute.call(
			executeContext({
				items: [{ json: {} }, { json: {} }],
				parameters: (i) =>
					i === 0
						? {
								storage: 'embedded',
								operation: 'getValidToken',
								connectionId: 'node:never-connected',
							}
						: { storage: 'embedded', operation: 'getValidToken', connectionId: 'node:a' },
				credentials,
				continueOnFail: true,
			}),
		);
		// Only error, message and details: the shape n8n routes to the error output and keeps whole.
		expect(items[0]).toEqual({
			json: {
				error: expect.stringMatching(
					/^No connection "node:never-connected" in SQLite table \S+ in \S+$/,
				),
				details: {
					description:
						'Connect the account first: start with "Build Authorization URL" for this connection ID (the Connect workflow) and complete the authorization, or check the connection ID for typos.',
					code: 'connection_not_found',
					connectionId: 'node:never-connected',
				},
			},
			pairedItem: { item: 0 },
		});
		expect(items[1]).toMatchObject({
			json: { connectionId: 'node:a', access_token: 'SENTINEL-access-1' },
			pairedItem: { item: 1 },
		});
	});

	it('a missing storage credential is reported, not swallowed', async () => {
		const error = await node.execute
			.call(
				executeContext({
					parameters: { storage: 'supabase', operation: 'getValidToken', connectionId: 'x' },
					credentials,
				}),
			)
			.catch((e) => e);
		expect(error.message).toMatch(/oAuth2TokenManagerSupabaseApi/);
	});
});

describe("as an AI agent's tool", () => {
	// n8n hands the agent's arguments to the tool as its one input item and runs execute under the "…Tool" type.
	const asTool = (parameters: Record<string, unknown>, continueOnFail = false) =>
		node.execute.call(
			executeContext({
				items: [{ json: { query: 'is the Pipedrive connection of acme healthy?' } }],
				parameters,
				credentials,
				continueOnFail,
				asAgentTool: true,
			}),
		);

	it('Get Valid Token and Refresh Token answer with status and expiry only, never a token', async () => {
		const endpoint = rotatingTokenEndpoint();
		await node.execute.call(executeContext({ parameters: exchange('tool:acme'), credentials }));
		const [[valid]] = await asTool({
			storage: 'embedded',
			operation: 'getValidToken',
			connectionId: 'tool:acme',
			minValiditySeconds: 300,
		});
		expect(Object.keys(valid.json).sort()).toEqual([
			'connectionId',
			'expires_at',
			'expires_in',
			'refreshed',
			'status',
		]);
		expect(valid.json).toMatchObject({
			connectionId: 'tool:acme',
			status: 'active',
			refreshed: false,
		});
		expect(valid.json.expires_in).toBeGreaterThan(3500);

		const [[refreshed]] = await asTool({
			storage: 'embedded',
			operation: 'refreshToken',
			connectionId: 'tool:acme',
			failedAccessToken: '',
			force: true,
		});
		expect(refreshed.json).toMatchObject({
			connectionId: 'tool:acme',
			status: 'active',
			refreshed: true,
		});
		expect(endpoint.requests.map((r) => r.grant_type)).toEqual([
			'authorization_code',
			'refresh_token',
		]);
		expect(JSON.stringify([valid, refreshed])).not.toMatch(
			/SENTINEL|access_token|refresh_token|token_type/,
		);
	});

	it('Revoke and the authorization steps are refused before anything runs; the connection stays active', async () => {
		rotatingTokenEndpoint();
		await node.execute.call(executeContext({ parameters: exchange('tool:keep'), credentials }));
		const revocations = nock(PROVIDER_ORIGIN).post('/oauth/revoke').reply(200);
		const refused = [
			{
				storage: 'embedded',
				operation: 'revoke',
				connectionId: 'tool:keep',
				revokeAtProvider: true,
			},
			{ storage: 'embedded', operation: 'buildAuthorizationUrl', connectionId: 'tool:keep' },
			exchange('tool:keep'),
		];
		for (const parameters of refused) {
			const error = await asTool(parameters).catch((e) => e);
			expect(error).toBeInstanceOf(NodeOperationError);
			expect(error.message).toBe(
				`The operation "${parameters.operation}" is not available to an AI agent`,
			);
			expect(error.description).toMatch(/never hands the agent a token/);
		}
		expect(revocations.isDone()).toBe(false);
		const [[stillThere]] = await node.execute.call(
			executeContext({
				parameters: { storage: 'embedded', operation: 'getValidToken', connectionId: 'tool:keep' },
				credentials,
			}),
		);
		expect(stillThere.json).toMatchObject({ status: 'active', access_token: 'SENTINEL-access-1' }); // the refused exchange issued nothing
	});

	it('an error the agent sees carries no re-authorization link (its signed state could bind another account)', async () => {
		rotatingTokenEndpoint();
		await node.execute.call(executeContext({ parameters: exchange('tool:dead'), credentials }));
		nock.cleanAll();
		nock(PROVIDER_ORIGIN).post('/oauth/token').reply(400, { error: 'invalid_grant' });
		const parameters = {
			storage: 'embedded',
			operation: 'refreshToken',
			connectionId: 'tool:dead',
			force: true,
		};
		const thrown = await asTool(parameters).catch((e) => e);
		expect(thrown.message).toMatch(/must be re-authorized/);
		const [[item]] = await asTool(parameters, true);
		expect(item.json).toMatchObject({ details: { code: 'needs_reauth' } });
		expect(JSON.stringify([item.json, thrown.message, thrown.description])).not.toMatch(
			/state=|https:\/\/provider\.test\/oauth\/authorize/,
		);
		// Outside an agent the link is still given, for an Error Workflow to send to the account owner.
		const [[plain]] = await node.execute.call(
			executeContext({ parameters, credentials, continueOnFail: true }),
		);
		expect(
			String((plain.json.details as { reauthorizationUrl?: string }).reauthorizationUrl),
		).toMatch(/^https:\/\/provider\.test\/oauth\/authorize\?.*state=/);
	});

	it('n8n\'s tool variant of the node (type name + "Tool") offers Get Valid Token, Refresh Token and (from version 1.2) API Request only', () => {
		const operationsShown = (description: INodeTypeDescription) =>
			description.properties
				.filter(
					(p) =>
						p.name === 'operation' &&
						NodeHelpers.displayParameter({}, p, { typeVersion: 1 }, description),
				)
				.flatMap((p) =>
					(p.options ?? []).filter((o) =>
						NodeHelpers.displayParameter({}, o, { typeVersion: 1 }, description),
					),
				)
				.map((o) => (o as { value: string }).value);
		const tool = { ...node.description, name: `${node.description.name}Tool` };
		expect(operationsShown(tool)).toEqual(['getValidToken', 'refreshToken']);
		const shownIn12 = (description: INodeTypeDescription) =>
			description.properties
				.filter((p) => p.name === 'operation')
				.flatMap((p) =>
					(p.options ?? []).filter((o) =>
						NodeHelpers.displayParameter({}, o, { typeVersion: 1.2 }, description),
					),
				)
				.map((o) => (o as { value: string }).value);
		expect(shownIn12(tool)).toEqual(['apiRequest', 'getValidToken', 'refreshToken']);
		expect(operationsShown(node.description)).toEqual([
			'buildAuthorizationUrl',
			'exchangeAuthorizationCode',
			'getValidToken',
			'refreshToken',
			'revoke',
		]);
	});
});
