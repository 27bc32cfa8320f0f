import nock from 'nock';
import {
	NodeApiError,
	NodeOperationError,
	type ICredentialDataDecryptedObject,
} from 'n8n-workflow';
import { OAuth2TokenManager } from '../../nodes/OAuth2TokenManager/OAuth2TokenManager.node';
import { AGENT_RESPONSE_LIMIT } from '../../nodes/OAuth2TokenManager/actions/apiRequest.operation';
import { SqlTokenStore } from '../../engine/stores/sql-store';
import { executeContext, locator, useNodeTestDatabase } from '../helpers/node-context';
import { rotatingTokenEndpoint } from '../helpers/provider';

/*
 * API Request on a Custom app whose token responses carry Pipedrive's api_domain (https://acme.pipedrive.test): the
 * token endpoint and the API are played by nock, the tokens live in a real PostgreSQL database.
 */
const node = new OAuth2TokenManager();
let credentials: Record<string, ICredentialDataDecryptedObject>;
const API = 'https://acme.pipedrive.test';

useNodeTestDatabase(
	'oauth2tm_api_request',
	'api-request-test-encryption-key',
	(_database, nodeCredentials) => {
		credentials = nodeCredentials;
	},
);

async function connect(connectionId: string) {
	const endpoint = rotatingTokenEndpoint();
	await node.execute.call(
		executeContext({
			parameters: {
				storage: 'postgres',
				operation: 'exchangeAuthorizationCode',
				connectionId,
				code: 'code',
				state: '',
				providerError: '',
				exchangeOptions: { allowMissingState: true },
			},
			credentials,
		}),
	);
	return endpoint;
}

const request = (connectionId: string, parameters: Record<string, unknown> = {}) => ({
	storage: 'postgres',
	operation: 'apiRequest',
	connectionId: locator(connectionId),
	method: 'GET',
	url: '/api/v1/users/me',
	minValiditySeconds: 300,
	...parameters,
});

const run = (
	parameters: Record<string, unknown>,
	options: { asAgentTool?: boolean; continueOnFail?: boolean } = {},
) => node.execute.call(executeContext({ parameters, credentials, typeVersion: 1.2, ...options }));

/** Everything a test saw, as one text: no token may be in it. */
const noTokenIn = (...seen: unknown[]) => expect(JSON.stringify(seen)).not.toMatch(/SENTINEL/);

describe('API Request', () => {
	it("calls a path under the connection's api_domain with its token, query and headers, and outputs the JSON body", async () => {
		const endpoint = await connect('api:ok');
		const api = nock(API)
			.get('/api/v1/users/me')
			.query({ limit: '5' })
			.matchHeader('authorization', 'Bearer SENTINEL-access-1')
			.matchHeader('x-trace', 'abc')
			.reply(200, { success: true, data: { id: 7, name: 'Ada' } });
		const [[item]] = await run(
			request('api:ok', {
				queryParameters: { parameters: [{ name: 'limit', value: '5' }] },
				headerParameters: { parameters: [{ name: 'X-Trace', value: 'abc' }] },
			}),
		);
		expect(api.isDone()).toBe(true);
		expect(item.json).toEqual({ success: true, data: { id: 7, name: 'Ada' } });
		expect(endpoint.requests.map((r) => r.grant_type)).toEqual(['authorization_code']);
	});

	it('with Include Response Headers and Status, outputs body, status and headers; never the token', async () => {
		await connect('api:full');
		nock(API)
			.post('/api/v1/deals', { title: 'New deal' })
			.reply(201, { data: { id: 1 } }, { 'x-ratelimit-remaining': '99' });
		const [[item]] = await run(
			request('api:full', {
				method: 'POST',
				url: '/api/v1/deals',
				jsonBody: '{"title": "New deal"}',
				apiOptions: { fullResponse: true },
			}),
		);
		expect(item.json).toMatchObject({
			body: { data: { id: 1 } },
			statusCode: 201,
			headers: { 'x-ratelimit-remaining': '99' },
		});
		noTokenIn(item);
	});

	it('a 401 refreshes once with the failed token and retries once: exactly one token request', async () => {
		const endpoint = await connect('api:expired');
		const api = nock(API)
			.get('/api/v1/users/me')
			.matchHeader('authorization', 'Bearer SENTINEL-access-1')
			.reply(401, { success: false, error: 'unauthorized access' })
			.get('/api/v1/users/me')
			.matchHeader('authorization', 'Bearer SENTINEL-access-2')
			.reply(200, { data: { id: 7 } });
		const [[item]] = await run(request('api:expired', { apiOptions: { connectionStatus: true } }));
		expect(api.isDone()).toBe(true);
		expect(item.json).toEqual({
			body: { data: { id: 7 } },
			connection: {
				connectionId: 'api:expired',
				status: 'active',
				expiresAt: expect.any(String),
				refreshedBeforeCall: false,
				retriedAfter401: true,
			},
		});
		noTokenIn(item);
		expect(endpoint.refreshRequests()).toHaveLength(1);
		expect(endpoint.refreshRequests()[0].refresh_token).toBe('SENTINEL-refresh-1');
	});

	it('over many items: one store read; items that all meet a 401 share one refresh, each retried once', async () => {
		const endpoint = await connect('api:many');
		const sent: string[] = [];
		const api = nock(API)
			.persist()
			.get('/api/v1/users/me')
			.reply(function () {
				const authorization = String(this.req.headers.authorization);
				sent.push(authorization);
				return authorization === 'Bearer SENTINEL-access-1'
					? [401, { success: false, error: 'unauthorized access' }]
					: [200, { data: { id: 7 } }];
			});
		const getMany = jest.spyOn(SqlTokenStore.prototype, 'getMany');
		const get = jest.spyOn(SqlTokenStore.prototype, 'get');
		try {
			const [items] = await node.execute.call(
				executeContext({
					items: [0, 1, 2, 3].map(() => ({ json: {} })),
					parameters: request('api:many', { apiOptions: { connectionStatus: true } }),
					credentials,
					typeVersion: 1.2,
				}),
			);
			expect(getMany).toHaveBeenCalledTimes(1);
			expect(items.map((item) => item.pairedItem)).toEqual([0, 1, 2, 3].map((item) => ({ item })));
			for (const item of items)
				expect(item.json).toMatchObject({
					body: { data: { id: 7 } },
					connection: { connectionId: 'api:many', retriedAfter401: true },
				});
			expect(endpoint.refreshRequests()).toHaveLength(1);
			// Four calls with the refused token, four retries with the new one: never a second 401 per item.
			expect(sent.filter((h) => h.endsWith('access-1'))).toHaveLength(4);
			expect(sent.filter((h) => h.endsWith('access-2'))).toHaveLength(4);
			// Single reads only where the refresh decides again under its lease.
			expect(get.mock.calls.length).toBeLessThan(12);
			noTokenIn(items);
		} finally {
			api.persist(false);
			nock.cleanAll();
			getMany.mockRestore();
			get.mockRestore();
		}
	});

	it('a second 401 is an error naming the connection and its state, after one refresh; the echoed token is redacted', async () => {
		const endpoint = await connect('api:refused');
		// The API echoes the Authorization header it was sent.
		nock(API)
			.get('/api/v1/users/me')
			.times(2)
			.reply(401, function () {
				return { error: `token ${String(this.req.headers.authorization)} is not valid` };
			});
		const error = await run(request('api:refused')).catch((e) => e);
		expect(error).toBeInstanceOf(NodeApiError);
		expect(error.message).toMatch(
			/refused connection "api:refused"'s token again after one refresh \(HTTP 401\): token Bearer \[redacted\] is not valid/,
		);
		expect(error.description).toMatch(/The connection is active, its token refreshed at /);
		expect(error.httpCode).toBe('401');
		expect(endpoint.refreshRequests()).toHaveLength(1);
		noTokenIn(error.message, error.description, error.context, error.cause?.message);

		nock(API).get('/api/v1/users/me').times(2).reply(401, { error: 'no' });
		const [[item]] = await run(request('api:refused'), { continueOnFail: true });
		expect(item.json).toMatchObject({
			details: { code: 'api_token_refused', connectionId: 'api:refused' },
		});
		noTokenIn(item);
	});

	it("an API error gives its HTTP status and the provider's message, cut to an excerpt; no refresh", async () => {
		const endpoint = await connect('api:missing');
		nock(API)
			.get('/api/v1/deals/9')
			.reply(404, { success: false, error: `Deal not found ${'x'.repeat(1000)}` });
		const error = await run(request('api:missing', { url: '/api/v1/deals/9' })).catch((e) => e);
		expect(error).toBeInstanceOf(NodeApiError);
		expect(error.httpCode).toBe('404');
		expect(error.message).toMatch(/^The API answered HTTP 404: Deal not found x+…$/);
		expect(error.message.length).toBeLessThan(400);
		expect(endpoint.refreshRequests()).toHaveLength(0);
	});

	it('an Authorization header of the user is refused, naming the field; nothing is sent', async () => {
		const endpoint = await connect('api:own-auth');
		const api = nock(API).get('/api/v1/users/me').reply(200, {});
		const error = await run(
			request('api:own-auth', {
				headerParameters: { parameters: [{ name: 'authorization', value: 'Bearer mine' }] },
			}),
		).catch((e) => e);
		expect(error).toBeInstanceOf(NodeOperationError);
		expect(error.message).toMatch(/The Headers cannot set Authorization/);
		expect(api.isDone()).toBe(false);
		expect(endpoint.requests).toHaveLength(1);
	});
});

describe('API Request with a provider\'s own "token not valid" answer (preset data)', () => {
	it('Slack: HTTP 200 with ok:false and invalid_auth refreshes once and retries; its bot token goes as Bearer', async () => {
		const slack = {
			...credentials,
			oAuth2TokenManagerAppApi: {
				preset: 'slack',
				clientId: 'client-id',
				clientSecret: 'slack-client-secret',
				redirectUri: 'https://n8n.test/webhook/oauth/callback',
				scopes: 'chat:write',
			},
		};
		const grants: string[] = [];
		let issued = 0;
		nock('https://slack.com')
			.persist()
			.post('/api/oauth.v2.access')
			.reply((_uri, body) => {
				grants.push(String(new URLSearchParams(body as string).get('grant_type')));
				issued += 1;
				return [
					200,
					{
						ok: true,
						access_token: `SENTINEL-xoxb-${issued}`,
						token_type: 'bot',
						expires_in: 43200,
						refresh_token: `SENTINEL-xoxe-${issued}`,
						app_id: 'A1',
					},
				];
			});
		const exchange = {
			storage: 'postgres',
			operation: 'exchangeAuthorizationCode',
			connectionId: 'slack:T1',
			code: 'code',
			state: '',
			providerError: '',
			exchangeOptions: { allowMissingState: true },
		};
		await node.execute.call(executeContext({ parameters: exchange, credentials: slack }));
		const api = nock('https://slack.com')
			.post('/api/auth.test')
			.matchHeader('authorization', 'Bearer SENTINEL-xoxb-1')
			.reply(200, { ok: false, error: 'invalid_auth' })
			.post('/api/auth.test')
			.matchHeader('authorization', 'Bearer SENTINEL-xoxb-2')
			.reply(200, { ok: true, team: 'Acme' });
		const [[item]] = await node.execute.call(
			executeContext({
				parameters: request('slack:T1', { method: 'POST', url: 'auth.test' }),
				credentials: slack,
				typeVersion: 1.2,
			}),
		);
		expect(api.isDone()).toBe(true);
		expect(item.json).toEqual({ ok: true, team: 'Acme' });
		expect(grants).toEqual(['authorization_code', 'refresh_token']);
	});
});

describe("API Request as an AI agent's tool", () => {
	it('calls under the API base and answers with the body, never a token', async () => {
		await connect('tool:api');
		nock(API)
			.get('/api/v1/users/me')
			.reply(200, { data: { id: 7, token_hint: 'none' } });
		const [[item]] = await run(request('tool:api'), { asAgentTool: true });
		expect(item.json).toEqual({ data: { id: 7, token_hint: 'none' } });
		noTokenIn(item);
	});

	it("refuses a URL outside the connection's API base before any request (API or token endpoint)", async () => {
		const endpoint = await connect('tool:outside');
		const elsewhere = nock('https://attacker.test').get(/.*/).reply(200, {});
		const api = nock(API).get(/.*/).reply(200, {});
		for (const url of [
			'https://attacker.test/collect',
			'http://acme.pipedrive.test/api/v1/users/me',
			'https://acme.pipedrive.test.attacker.test/x',
		]) {
			const error = await run(request('tool:outside', { url }), { asAgentTool: true }).catch(
				(e) => e,
			);
			expect(error).toBeInstanceOf(Error);
			expect(`${error.message} ${error.description ?? ''}`).toMatch(
				/under the connection's API base|https:\/\//,
			);
		}
		const [[item]] = await run(request('tool:outside', { url: 'https://attacker.test/collect' }), {
			asAgentTool: true,
			continueOnFail: true,
		});
		expect(item.json).toMatchObject({ details: { code: 'api_url_refused' } });
		expect(elsewhere.isDone()).toBe(false);
		expect(api.isDone()).toBe(false);
		expect(endpoint.requests).toHaveLength(1); // the exchange only: no refresh either
	});

	it('does not follow a redirect out of the API base: the redirect is the answer, nothing reaches the other host', async () => {
		await connect('tool:redirect');
		nock(API)
			.get('/api/v1/users/me')
			.reply(302, { moved: true }, { location: 'https://attacker.test/collect' });
		const elsewhere = nock('https://attacker.test').get('/collect').reply(200, { stolen: true });
		const [[item]] = await run(request('tool:redirect'), { asAgentTool: true });
		expect(item.json).toEqual({ moved: true });
		expect(elsewhere.isDone()).toBe(false);
	});

	it('an answer over the size limit is cut, with a note', async () => {
		await connect('tool:big');
		nock(API)
			.get('/api/v1/deals')
			.reply(200, {
				data: Array.from({ length: 2000 }, (_, id) => ({ id, title: `Deal number ${id}` })),
			});
		const [[item]] = await run(request('tool:big', { url: '/api/v1/deals' }), {
			asAgentTool: true,
		});
		expect(item.json.truncated).toBe(true);
		expect(item.json.note).toMatch(/first 20000 follow/);
		expect(String(item.json.partialResponse)).toHaveLength(AGENT_RESPONSE_LIMIT);
	});
});
