/**
 * Secret hygiene through the node itself: every operation runs through OAuth2TokenManager.execute with
 * sentinel secrets in its credentials, the happy path and the failures (with and without Continue On Fail).
 * Every output item (except Get Valid Token's and Refresh Token's access_token), every thrown error and every
 * raw row is scanned: no sentinel, no PKCE verifier.
 */
import nock from 'nock';
import type { ICredentialDataDecryptedObject, IDataObject } from 'n8n-workflow';
import { basicAuthorization } from '../../engine/oauth';
import { OAuth2TokenManager } from '../../nodes/OAuth2TokenManager/OAuth2TokenManager.node';
import { executeContext, nodeCredentials } from '../helpers/node-context';
import { CLIENT_SECRET, PROVIDER_ORIGIN, rotatingTokenEndpoint } from '../helpers/provider';
import { ENCRYPTION_KEY, Hygiene, useFaultEnv, type FaultEnv } from './harness';

let env: FaultEnv;
let credentials: Record<string, ICredentialDataDecryptedObject>;

useFaultEnv((e) => {
	env = e;
	credentials = nodeCredentials(env.db, ENCRYPTION_KEY);
});

const node = new OAuth2TokenManager();

async function run(
	parameters: Record<string, unknown>,
	continueOnFail = false,
): Promise<IDataObject[]> {
	const ctx = executeContext({ parameters, credentials, continueOnFail });
	try {
		const [items] = await node.execute.call(ctx);
		return items.map((item) => item.json);
	} catch (error) {
		env.hygiene.record(`thrown by ${String(parameters.operation)}`, error);
		let serialized = '';
		try {
			serialized = JSON.stringify(error);
		} catch {
			serialized = '';
		}
		env.hygiene.record(`serialized error of ${String(parameters.operation)}`, serialized);
		throw error;
	}
}

/** Records an output for the scan; `allowAccessToken` leaves out the one field that may hold a token. */
function recordOutput(where: string, json: IDataObject, allowAccessToken = false) {
	const { access_token: _token, ...rest } = json;
	env.hygiene.record(where, allowAccessToken ? rest : json);
}

const base = { storage: 'postgres', connectionId: 'node:acme' };

describe('secret hygiene through the node', () => {
	it('the scanner itself finds a sentinel in an error, an object and a raw string, and a PKCE verifier', () => {
		const h = new Hygiene();
		h.extraSecrets.add('verifier-abc-123');
		h.record('error', Object.assign(new Error('x'), { description: 'token SENTINEL-refresh-9' }));
		h.record('object', { nested: { value: 'SENTINEL-client-secret-7c1f' } });
		h.record('string', 'SENTINEL-encryption-key-4d2a9e');
		h.record('verifier', 'code_verifier=verifier-abc-123');
		h.record('clean', { access: 'enc:v1:abc' });
		expect(h.leaks()).toHaveLength(4);
	});

	it('the scanner also finds the client secret as it travels: in a Basic header and form-encoded in a body', () => {
		const h = new Hygiene();
		h.record('header', `echo: ${basicAuthorization('client-id', CLIENT_SECRET)}`);
		h.record(
			'body',
			`echo: ${new URLSearchParams({ client_id: 'client-id', client_secret: CLIENT_SECRET })}`,
		);
		expect(h.leaks()).toEqual([
			expect.stringMatching(/^header: contains the client secret, encoded/),
			expect.stringMatching(/^body: /),
			expect.stringMatching(/^body: contains the client secret, encoded/),
		]);
	});

	it('a whole life: build URL, callback, get, refresh, failures, needs_reauth, revoke', async () => {
		const endpoint = rotatingTokenEndpoint();
		const [start] = await run({
			...base,
			operation: 'buildAuthorizationUrl',
			authorizationOptions: {},
		});
		recordOutput('build', start);
		expect(start).toMatchObject({ connectionId: 'node:acme', pkce: true });
		const authorizationUrl = new URL(String(start.authorizationUrl));
		const state = authorizationUrl.searchParams.get('state')!;

		// The callback workflow maps Connection ID to the raw state: the node reads the connection from it.
		const [connected] = await run({
			...base,
			connectionId: state,
			operation: 'exchangeAuthorizationCode',
			code: 'the-code',
			state,
			providerError: '',
		});
		recordOutput('exchange', connected);
		expect(connected).toMatchObject({
			connectionId: 'node:acme',
			status: 'active',
			api_domain: 'https://acme.pipedrive.test',
		});
		expect(connected).not.toHaveProperty('access_token');
		const verifier = (endpoint.requests[0] as unknown as { code_verifier: string }).code_verifier;
		expect(verifier).toBeTruthy();
		env.hygiene.extraSecrets.add(verifier);
		env.hygiene.record('authorization URL', start.authorizationUrl);

		const [valid] = await run({ ...base, operation: 'getValidToken', minValiditySeconds: 300 });
		expect(valid.access_token).toBe('SENTINEL-access-1');
		recordOutput('getValidToken', valid, true);
		const [refreshed] = await run({
			...base,
			operation: 'refreshToken',
			failedAccessToken: 'SENTINEL-access-1',
			force: false,
		});
		expect(refreshed).toMatchObject({ access_token: 'SENTINEL-access-2', refreshed: true });
		recordOutput('refreshToken', refreshed, true);
		expect(JSON.stringify([valid, refreshed])).not.toMatch(/SENTINEL-refresh/);

		// Replay of the callback: refused, with Continue On Fail an error item.
		const [replayed] = await run(
			{
				...base,
				connectionId: state,
				operation: 'exchangeAuthorizationCode',
				code: 'the-code',
				state,
				providerError: '',
			},
			true,
		);
		recordOutput('replayed', replayed);
		expect(replayed).toMatchObject({
			details: { code: 'invalid_state' },
			error:
				'The state was already used for connection "node:acme" (or a newer authorization of it completed)',
		});
		await expect(
			run({
				...base,
				connectionId: state,
				operation: 'exchangeAuthorizationCode',
				code: 'the-code',
				state,
				providerError: '',
			}),
		).rejects.toThrow(/already used/);

		// Declined consent.
		const [declined] = await run(
			{
				...base,
				operation: 'exchangeAuthorizationCode',
				code: '',
				state: '',
				providerError: 'access_denied',
			},
			true,
		);
		recordOutput('declined', declined);
		expect(declined).toMatchObject({
			details: { code: 'access_denied' },
			error: 'The account owner declined the authorization at the provider (access_denied)',
		});

		// The provider forgets the grant: needs_reauth, with the link, as an item and as a thrown NodeApiError.
		nock.cleanAll();
		nock(PROVIDER_ORIGIN).persist().post('/oauth/token').reply(400, { error: 'invalid_grant' });
		const [reauth] = await run(
			{ ...base, operation: 'refreshToken', failedAccessToken: '', force: true },
			true,
		);
		recordOutput('needs_reauth item', reauth);
		expect(reauth).toMatchObject({ details: { code: 'needs_reauth' } });
		expect(String((reauth.details as IDataObject).reauthorizationUrl)).toMatch(
			/^https:\/\/provider\.test\/oauth\/authorize\?.*state=/,
		);
		const thrown = await run({
			...base,
			operation: 'getValidToken',
			minValiditySeconds: 300,
		}).catch((e) => e);
		expect(thrown.description).toMatch(
			/Re-authorization link: https:\/\/provider\.test\/oauth\/authorize\?/,
		);

		// Revoke: the provider is asked with the refresh token, which never appears in the output.
		nock(PROVIDER_ORIGIN).post('/oauth/revoke').reply(200, '');
		const [revoked] = await run({ ...base, operation: 'revoke', revokeAtProvider: true });
		recordOutput('revoke', revoked);
		expect(revoked).toMatchObject({
			connectionId: 'node:acme',
			status: 'revoked',
			revoked_at_provider: true,
			revoked_token_type: 'refresh_token',
		});
		const [gone] = await run(
			{ ...base, operation: 'getValidToken', minValiditySeconds: 300 },
			true,
		);
		recordOutput('after revoke', gone);
		expect(gone).toMatchObject({ details: { code: 'revoked' } });
	});

	it('the Custom preset\'s "Use PKCE" switch turns the code challenge off', async () => {
		const app = credentials.oAuth2TokenManagerAppApi;
		credentials.oAuth2TokenManagerAppApi = { ...app, pkce: false };
		try {
			const [start] = await run({
				...base,
				connectionId: 'node:no-pkce',
				operation: 'buildAuthorizationUrl',
				authorizationOptions: { expiresInMinutes: 5 },
			});
			recordOutput('build without pkce', start);
			expect(start.pkce).toBe(false);
			expect(String(start.authorizationUrl)).not.toContain('code_challenge');
			expect(Date.parse(String(start.expires_at)) - Date.now()).toBeLessThanOrEqual(300_000);
		} finally {
			credentials.oAuth2TokenManagerAppApi = app;
		}
	});

	it('bad input through the node names the field (NodeOperationError), and leaks nothing', async () => {
		const [badId] = await run({ ...base, connectionId: '', operation: 'getValidToken' }, true);
		recordOutput('bad id', badId);
		expect(badId).toMatchObject({
			details: { code: 'invalid_input', description: 'Check the "Connection ID" field.' },
		});
		const [badState] = await run(
			{
				...base,
				operation: 'exchangeAuthorizationCode',
				code: 'c',
				state: 'x.y',
				providerError: '',
			},
			true,
		);
		recordOutput('bad state', badState);
		expect(badState).toMatchObject({ details: { code: 'invalid_state' } });
	});
	it('API Request: an API that echoes the Authorization header, in refusals, errors and a success, leaks the token nowhere', async () => {
		rotatingTokenEndpoint();
		const [connected] = await run({
			...base,
			connectionId: 'node:api',
			operation: 'exchangeAuthorizationCode',
			code: 'code',
			state: '',
			providerError: '',
			exchangeOptions: { allowMissingState: true },
		});
		recordOutput('exchange for API Request', connected);
		const echo = function (this: { req: { headers: Record<string, unknown> } }) {
			return {
				error: `bad token: ${String(this.req.headers.authorization)}`,
				echoed: this.req.headers,
			};
		};
		const api = nock('https://acme.pipedrive.test');
		api.get('/api/v1/users/me').times(2).reply(401, echo);
		const request = {
			...base,
			connectionId: 'node:api',
			operation: 'apiRequest',
			method: 'GET',
			url: '/api/v1/users/me',
			minValiditySeconds: 300,
		};
		const thrown = await run(request).catch((e) => e);
		expect(thrown.message).toMatch(
			/again after one refresh \(HTTP 401\): bad token: Bearer \[redacted\]/,
		);
		api.get('/api/v1/users/me').times(2).reply(401, echo);
		const [refusedItem] = await run(request, true);
		recordOutput('API Request refused twice', refusedItem);
		api.get('/api/v1/deals').reply(500, echo);
		const [failedItem] = await run({ ...request, url: '/api/v1/deals' }, true);
		recordOutput('API Request answered 500', failedItem);
		expect(failedItem).toMatchObject({ details: { code: 'api_error' } });
		api.get('/api/v1/users/me').reply(200, function () {
			return { data: { seen: this.req.headers.authorization } };
		});
		const [okItem] = await run({
			...request,
			apiOptions: { fullResponse: true, connectionStatus: true },
		});
		recordOutput('API Request answered 200', okItem);
		expect(okItem).toMatchObject({
			statusCode: 200,
			body: { data: { seen: 'Bearer [redacted]' } },
		});
		await env.scanRawRows();
	});
});
