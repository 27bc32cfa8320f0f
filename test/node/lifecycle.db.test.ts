/**
 * Keep Alive, Connect with Client Credentials, and what Get Valid Token and Refresh Token say about a failing
 * provider (node version 1.2), on a real PostgreSQL store through the node's credentials; the provider under nock.
 */
import nock from 'nock';
import {
	NodeApiError,
	NodeOperationError,
	type ICredentialDataDecryptedObject,
	type IDataObject,
} from 'n8n-workflow';
import { OAuth2TokenManager } from '../../nodes/OAuth2TokenManager/OAuth2TokenManager.node';
import {
	executeContext,
	locator,
	useNodeTestDatabase,
	stateLessExchange,
} from '../helpers/node-context';
import type { TemporaryPostgresDatabase } from '../../tools/temporary-database';
import { PROVIDER_ORIGIN, rotatingTokenEndpoint } from '../helpers/provider';

const node = new OAuth2TokenManager();
let db: TemporaryPostgresDatabase;
let credentials: Record<string, ICredentialDataDecryptedObject>;

useNodeTestDatabase(
	'oauth2tm_node_lifecycle',
	'lifecycle-test-encryption-key',
	(database, nodeCredentials) => {
		db = database;
		credentials = nodeCredentials;
	},
);

const runItems = async (parameters: Record<string, unknown>, continueOnFail = false) =>
	(
		await node.execute.call(
			executeContext({
				parameters: { storage: 'postgres', ...parameters },
				credentials,
				typeVersion: 1.2,
				continueOnFail,
			}),
		)
	)[0];
const run = async (
	parameters: Record<string, unknown>,
	continueOnFail = false,
): Promise<IDataObject> => (await runItems(parameters, continueOnFail))[0].json;
const exchange = (connectionId: string) =>
	run(stateLessExchange(connectionId, { asLocator: true }));
const keepAlive = (parameters: Record<string, unknown> = {}) =>
	runItems({
		operation: 'keepAlive',
		expiresWithinSeconds: 600,
		idleAfterDays: 30,
		keepAliveOptions: {},
		...parameters,
	});

/** Form bodies of the token requests a nock reply function saw. */
type Form = Record<string, string>;
const formOf = (body: unknown): Form => Object.fromEntries(new URLSearchParams(body as string));

/** A token endpoint that accepts every grant and issues numbered tokens; resolves the forms it saw. */
function acceptingTokenEndpoint(prefix: string): Form[] {
	const requests: Form[] = [];
	nock(PROVIDER_ORIGIN)
		.persist()
		.post('/oauth/token')
		.reply((_uri, body) => {
			requests.push(formOf(body));
			return [
				200,
				{
					access_token: `SENTINEL-${prefix}-${requests.length}`,
					refresh_token: `SENTINEL-refresh-${prefix}-${requests.length}`,
					token_type: 'Bearer',
					expires_in: 3600,
				},
			];
		});
	return requests;
}

function expectNoToken(items: unknown) {
	expect(JSON.stringify(items)).not.toMatch(/SENTINEL|access_token|refresh_token/);
}

describe('Keep Alive', () => {
	it('refreshes the connections that expire soon or went idle, one item each, and reports the ones that need re-authorization', async () => {
		// tokens named after their connection; ka:due and ka:dead expire within Keep Alive's window
		nock(PROVIDER_ORIGIN)
			.persist()
			.post('/oauth/token')
			.reply((_uri, body) => {
				const id = formOf(body).code.replace(/^code-/, '');
				const expiresIn = ['ka:due', 'ka:dead'].includes(id) ? 60 : 3600;
				return [
					200,
					{
						access_token: `SENTINEL-access-${id}`,
						refresh_token: `SENTINEL-refresh-${id}`,
						token_type: 'Bearer',
						expires_in: expiresIn,
					},
				];
			});
		for (const id of ['ka:fresh', 'ka:idle', 'ka:due', 'ka:dead']) await exchange(id);
		nock.cleanAll();
		// ka:idle got its tokens 40 days ago and was never refreshed since
		await db.sql(
			`update oauth2_tokens set created_at = now() - interval '40 days', token_issued_at = now() - interval '40 days' where connection_id = 'ka:idle'`,
		);

		const requests: Form[] = [];
		let issued = 100;
		nock(PROVIDER_ORIGIN)
			.persist()
			.post('/oauth/token')
			.reply((_uri, body) => {
				const form = formOf(body);
				requests.push(form);
				if (form.refresh_token === 'SENTINEL-refresh-ka:dead')
					return [400, { error: 'invalid_grant' }];
				issued += 1;
				return [
					200,
					{
						access_token: `SENTINEL-access-${issued}`,
						refresh_token: `SENTINEL-refresh-${issued}`,
						token_type: 'Bearer',
						expires_in: 3600,
					},
				];
			});

		const items = await keepAlive();
		expect(
			items.map((item) => [item.json.connectionId, item.json.outcome, item.json.status]),
		).toEqual([
			['ka:dead', 'needs_reauth', 'needs_reauth'],
			['ka:due', 'refreshed', 'active'],
			['ka:idle', 'refreshed', 'active'],
		]);
		for (const item of items) expect(item.pairedItem).toEqual({ item: 0 });
		const [dead, due] = items.map((item) => item.json);
		expect(Object.keys(due)).toEqual([
			'connectionId',
			'outcome',
			'status',
			'expiresAt',
			'expires_in',
			'nextAttemptAt',
			'errorCode',
			'errorMessage',
		]);
		expect(due).toMatchObject({ nextAttemptAt: null, errorCode: null, errorMessage: null });
		expect(due.expires_in).toBeGreaterThan(3500);
		expect(dead).toMatchObject({
			errorCode: 'needs_reauth',
			errorMessage: expect.stringMatching(/^Connection "ka:dead" must be re-authorized/),
		});
		expect(String(dead.reauthorizationUrl)).toMatch(
			new RegExp(`^${PROVIDER_ORIGIN}/oauth/authorize\\?.*state=`),
		);
		expect(dead).not.toHaveProperty('error'); // n8n would take the item for a failed one
		expect(requests.map((r) => r.grant_type)).toEqual([
			'refresh_token',
			'refresh_token',
			'refresh_token',
		]);
		expectNoToken(items);

		// Nothing is due any more: the refreshed ones are fresh, the dead one waits for its owner.
		expect(await keepAlive()).toEqual([]);
		expect(requests).toHaveLength(3);
	});

	it('Max Connections bounds one run; the rest wait for the next', async () => {
		rotatingTokenEndpoint({ expiresIn: 60 });
		for (const id of ['kb:1', 'kb:2', 'kb:3']) await exchange(id);
		nock.cleanAll();
		acceptingTokenEndpoint('kb'); // refreshed tokens live an hour: no longer due
		const first = await keepAlive({ keepAliveOptions: { maxConnections: 2, concurrency: 1 } });
		const second = await keepAlive({ keepAliveOptions: { maxConnections: 2, concurrency: 1 } });
		// ka:* from the test above are fresh, so only kb:* are due
		expect(first.map((item) => item.json.connectionId)).toEqual(['kb:1', 'kb:2']);
		expect(second.map((item) => item.json.connectionId)).toEqual(['kb:3']);
	});

	it('a setting out of range is a NodeOperationError naming its field', async () => {
		const error = await keepAlive({ idleAfterDays: 0 }).catch((e) => e);
		expect(error).toBeInstanceOf(NodeOperationError);
		expect(error.message).toBe('The Idle After (Days) must be a number of days, more than 0');
		expect(error.description).toBe('Check the "Idle After (Days)" field.');
		const concurrency = await keepAlive({ keepAliveOptions: { concurrency: 500 } }).catch((e) => e);
		expect(concurrency.description).toBe('Check the "Concurrency" field.');
	});
});

describe('Connect with Client Credentials', () => {
	it('gets a token for the app itself, stores it, and Refresh Token asks for a new one the same way', async () => {
		const requests: Array<Record<string, string | undefined>> = [];
		let issued = 0;
		nock(PROVIDER_ORIGIN)
			.persist()
			.post('/oauth/token')
			.reply(function (_uri, body) {
				requests.push({
					...formOf(body),
					authorization: this.req.headers.authorization as string | undefined,
				});
				issued += 1;
				return [
					200,
					{
						access_token: `SENTINEL-cc-${issued}`,
						token_type: 'Bearer',
						expires_in: 3600,
						scope: 'read write',
					},
				];
			});
		const connected = await run({
			operation: 'connectClientCredentials',
			connectionId: locator('cc:app'),
			clientCredentialsScopes: 'read, write',
			clientCredentialsOptions: { additionalParameters: 'audience=https://api.example.test' },
		});
		expect(connected).toMatchObject({
			connectionId: 'cc:app',
			status: 'active',
			token_type: 'Bearer',
			scope: 'read write',
			refreshed: false,
		});
		expect(connected).not.toHaveProperty('access_token');

		const summary = await run({ operation: 'getConnection', connectionId: locator('cc:app') });
		expect(summary).toMatchObject({ grantType: 'client_credentials', status: 'active' });

		const refreshed = await run({
			operation: 'refreshToken',
			connectionId: locator('cc:app'),
			force: true,
		});
		expect(refreshed).toMatchObject({ access_token: 'SENTINEL-cc-2', refreshed: true });
		expect(
			requests.map(({ grant_type, scope, audience }) => ({ grant_type, scope, audience })),
		).toEqual([
			{
				grant_type: 'client_credentials',
				scope: 'read write',
				audience: 'https://api.example.test',
			},
			{
				grant_type: 'client_credentials',
				scope: 'read write',
				audience: 'https://api.example.test',
			},
		]);
		for (const request of requests) expect(request.authorization).toMatch(/^Basic /); // the App credential's client authentication
	});

	it('a parameter the grant sets itself is refused, naming the field', async () => {
		const error = await run({
			operation: 'connectClientCredentials',
			connectionId: locator('cc:bad'),
			clientCredentialsOptions: { additionalParameters: 'grant_type=password' },
		}).catch((e) => e);
		expect(error).toBeInstanceOf(NodeOperationError);
		expect(error.description).toBe('Check the "Additional Parameters" field.');
	});
});

describe('a failing provider', () => {
	it('Refresh Token records the failure; in the cooldown calls fail at once with provider_failing; the first success says recovered', async () => {
		rotatingTokenEndpoint({ expiresIn: 3600 });
		await exchange('pf:a');
		nock.cleanAll();
		const down = nock(PROVIDER_ORIGIN)
			.persist()
			.post('/oauth/token')
			.reply(503, 'Service Unavailable');
		const failed = await run({
			operation: 'refreshToken',
			connectionId: locator('pf:a'),
			force: true,
		}).catch((e) => e);
		expect(failed).toBeInstanceOf(NodeApiError);
		expect(failed.httpCode).toBe('503');
		down.persist(false);
		nock.cleanAll();

		// in the cooldown: no request to the provider, an error that says when it is asked again
		const cooling = nock(PROVIDER_ORIGIN).post('/oauth/token').reply(200, {});
		const [item] = await runItems(
			{ operation: 'refreshToken', connectionId: locator('pf:a'), force: true },
			true,
		);
		expect(item.json).toEqual({
			error: expect.stringMatching(
				/^Connection "pf:a": the provider is failing, next attempt at \d{4}-\d\d-\d\dT/,
			),
			details: {
				description: expect.stringMatching(
					/^The node does not call the provider again before .*Retry On Fail/,
				),
				code: 'provider_failing',
				connectionId: 'pf:a',
			},
		});
		expect(cooling.isDone()).toBe(false);
		nock.cleanAll();

		// Get Valid Token in the cooldown serves the stored token while it lasts, and says until when the provider rests
		await db.sql(
			`update oauth2_tokens set token_issued_at = now() - interval '1 hour', expires_at = now() + interval '60 seconds' where connection_id = 'pf:a'`,
		);
		const served = await run({
			operation: 'getValidToken',
			connectionId: locator('pf:a'),
			minValiditySeconds: 300,
		});
		expect(served).toMatchObject({
			access_token: 'SENTINEL-access-1',
			refreshed: false,
			minValidityCapped: true,
		});
		expect(Date.parse(String(served.nextAttemptAt))).toBeGreaterThan(Date.now());
		expect(served).not.toHaveProperty('recovered');

		// the cooldown is over and the provider is back
		await db.sql(
			`update oauth2_tokens set next_attempt_at = now() - interval '1 second' where connection_id = 'pf:a'`,
		);
		const requests = acceptingTokenEndpoint('back');
		const back = await run({
			operation: 'getValidToken',
			connectionId: locator('pf:a'),
			minValiditySeconds: 300,
		});
		expect(back).toMatchObject({ refreshed: true, recovered: true });
		expect(back).not.toHaveProperty('nextAttemptAt');
		const after = await run({
			operation: 'refreshToken',
			connectionId: locator('pf:a'),
			force: true,
		});
		expect(after).toMatchObject({ refreshed: true });
		expect(after).not.toHaveProperty('recovered'); // said once
		const summary = await run({ operation: 'getConnection', connectionId: locator('pf:a') });
		expect(summary).toMatchObject({
			status: 'active',
			failureCount: 0,
			nextAttemptAt: null,
			firstFailureAt: null,
		});
		expect(requests).toHaveLength(2);
		nock.cleanAll();

		// Refresh Token says it too, when its refresh is the first success after a failure
		nock(PROVIDER_ORIGIN).persist().post('/oauth/token').reply(500, 'Internal Server Error');
		expect(
			await run({ operation: 'refreshToken', connectionId: locator('pf:a'), force: true }).catch(
				(e) => e,
			),
		).toBeInstanceOf(NodeApiError);
		nock.cleanAll();
		await db.sql(
			`update oauth2_tokens set next_attempt_at = now() - interval '1 second' where connection_id = 'pf:a'`,
		);
		acceptingTokenEndpoint('again');
		expect(
			await run({ operation: 'refreshToken', connectionId: locator('pf:a'), force: true }),
		).toMatchObject({ refreshed: true, recovered: true });
	});
});
