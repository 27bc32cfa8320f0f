import nock from 'nock';
import { NodeApiError, NodeOperationError, type ICredentialDataDecryptedObject } from 'n8n-workflow';
import { OAuth2TokenManager } from '../../nodes/OAuth2TokenManager/OAuth2TokenManager.node';
import { executeContext, nodeCredentials } from '../helpers/node-context';
import { createTemporaryPostgresDatabase, type TemporaryDatabase } from '../helpers/postgres';
import { CLIENT_SECRET, PROVIDER_ORIGIN, rotatingTokenEndpoint } from '../helpers/provider';

const node = new OAuth2TokenManager();
let db: TemporaryDatabase;
let credentials: Record<string, ICredentialDataDecryptedObject>;

beforeAll(async () => {
	nock.disableNetConnect();
	nock.enableNetConnect(/127\.0\.0\.1|localhost/);
	db = await createTemporaryPostgresDatabase('oauth2tm_node');
	credentials = nodeCredentials(db, 'node-test-encryption-key');
});
afterEach(() => nock.cleanAll());
afterAll(async () => {
	nock.enableNetConnect();
	await db?.drop();
});

const exchange = (connectionId: string) => ({
	storage: 'postgres',
	operation: 'exchangeAuthorizationCode',
	connectionId,
	code: `code-${connectionId}`,
	state: '',
	providerError: '',
	exchangeOptions: { allowMissingState: true },
});

describe('OAuth2 Token Manager node', () => {
	it('runs every item with its own parameters, pairs outputs with inputs, and returns the access token only where asked', async () => {
		rotatingTokenEndpoint();
		const ids = ['node:a', 'node:b'];
		const [connected] = await node.execute.call(
			executeContext({ items: ids.map((id) => ({ json: { id } })), parameters: (i) => exchange(ids[i]), credentials }),
		);
		expect(connected.map((item) => item.pairedItem)).toEqual([{ item: 0 }, { item: 1 }]);
		expect(connected.map((item) => item.json.connectionId)).toEqual(ids);
		for (const item of connected) {
			expect(item.json).toMatchObject({ status: 'active', token_type: 'Bearer', api_domain: 'https://acme.pipedrive.test', refreshed: false });
			expect(item.json).not.toHaveProperty('access_token');
			expect(item.json.expires_in).toBeGreaterThan(3500);
		}

		const [valid] = await node.execute.call(
			executeContext({
				items: ids.map((id) => ({ json: { id } })),
				parameters: (i) => ({ storage: 'postgres', operation: 'getValidToken', connectionId: ids[i], minValiditySeconds: 300 }),
				credentials,
			}),
		);
		expect(valid.map((item) => item.json.access_token)).toEqual(['SENTINEL-access-1', 'SENTINEL-access-2']);
		expect(JSON.stringify(valid)).not.toContain('SENTINEL-refresh');
	});

	it('Get Valid Token says which Minimum Validity it applied, and when it capped it to half the token\'s lifetime', async () => {
		const endpoint = rotatingTokenEndpoint();
		await node.execute.call(executeContext({ parameters: exchange('node:capped'), credentials }));
		const get = async (minValiditySeconds: number) =>
			(await node.execute.call(executeContext({ parameters: { storage: 'postgres', operation: 'getValidToken', connectionId: 'node:capped', minValiditySeconds }, credentials })))[0][0].json;
		expect(await get(300)).toMatchObject({ refreshed: false, min_validity_seconds: 300, min_validity_capped: false });
		// The token lives 3600 s (less the 2 s expiry margin): 3600 s of Minimum Validity would refresh it at once.
		expect(await get(3600)).toMatchObject({ refreshed: false, min_validity_seconds: 1799, min_validity_capped: true });
		expect(endpoint.refreshRequests()).toHaveLength(0);
	});

	it('bad input is a NodeOperationError that names the parameter and the item', async () => {
		// Item 0 is fine (a fresh stored token, no provider call); item 1 has a blank Connection ID.
		const error = await node.execute
			.call(
				executeContext({
					items: [{ json: {} }, { json: {} }],
					parameters: (i) => ({ storage: 'postgres', operation: 'getValidToken', connectionId: i === 0 ? 'node:a' : '   ' }),
					credentials,
				}),
			)
			.catch((e) => e);
		expect(error).toBeInstanceOf(NodeOperationError);
		expect(error.message).toMatch(/Connection ID is empty/);
		expect(error.description).toBe('Check the "Connection ID" field.');
		expect(error.context.itemIndex).toBe(1);
		const badCode = await node.execute.call(executeContext({ parameters: { ...exchange('node:a'), code: '' }, credentials })).catch((e) => e);
		expect(badCode).toBeInstanceOf(NodeOperationError);
		expect(badCode.description).toBe('Check the "Authorization Code" field.');
	});

	it('provider and store failures are NodeApiErrors; with Continue On Fail they become error items and the rest still run', async () => {
		nock(PROVIDER_ORIGIN).post('/oauth/token').reply(401, { error: 'invalid_client', error_description: `wrong secret ${CLIENT_SECRET}` });
		const thrown = await node.execute.call(executeContext({ parameters: exchange('node:c'), credentials })).catch((e) => e);
		expect(thrown).toBeInstanceOf(NodeApiError);
		expect(thrown.message).toBe('The token endpoint refused the request (HTTP 401): invalid_client – wrong secret [redacted]');
		expect(thrown.description).toMatch(/Client ID and Client Secret/);
		expect(thrown.httpCode).toBe('401');

		rotatingTokenEndpoint();
		const [items] = await node.execute.call(
			executeContext({
				items: [{ json: {} }, { json: {} }],
				parameters: (i) => (i === 0 ? { storage: 'postgres', operation: 'getValidToken', connectionId: 'node:never-connected' } : { storage: 'postgres', operation: 'getValidToken', connectionId: 'node:a' }),
				credentials,
				continueOnFail: true,
			}),
		);
		expect(items[0].error).toBeInstanceOf(NodeApiError);
		expect(items[0]).toMatchObject({
			json: {
				error: 'No connection "node:never-connected" is stored',
				description: 'Run "Exchange Authorization Code" for this connection ID first, or check the connection ID for typos.',
				code: 'connection_not_found',
			},
			pairedItem: { item: 0 },
		});
		expect(items[1]).toMatchObject({ json: { connectionId: 'node:a', access_token: 'SENTINEL-access-1' }, pairedItem: { item: 1 } });
	});

	it('a missing storage credential is reported, not swallowed', async () => {
		const error = await node.execute
			.call(executeContext({ parameters: { storage: 'supabase', operation: 'getValidToken', connectionId: 'x' }, credentials }))
			.catch((e) => e);
		expect(error.message).toMatch(/oAuth2TokenManagerSupabaseApi/);
	});
});
