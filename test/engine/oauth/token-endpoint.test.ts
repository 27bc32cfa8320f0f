import nock from 'nock';
import { TokenEndpointError } from '../../../engine/errors';
import {
	AuthorizationServerClient,
	basicAuthorization,
	type EndpointSettings,
	type RequestPolicy,
} from '../../../engine/oauth';
import { parseTokenResponse } from '../../../engine/oauth/token-endpoint';
import { CLIENT_SECRET, CLIENT_SECRET_FORMS, PROVIDER_ORIGIN } from '../../helpers/provider';

const settings: EndpointSettings = {
	tokenUrl: `${PROVIDER_ORIGIN}/oauth/token`,
	revocationUrl: `${PROVIDER_ORIGIN}/oauth/revoke`,
	clientId: 'client-id',
	clientSecret: CLIENT_SECRET,
	clientAuthentication: 'basic',
};
const client = (overrides: Partial<EndpointSettings> = {}, policy: Partial<RequestPolicy> = {}) =>
	new AuthorizationServerClient(
		{ ...settings, ...overrides },
		{ retryBaseDelayMs: 1, timeoutMs: 500, ...policy },
	);
const REFRESH = 'SENTINEL-refresh-token-9a2';
const refreshGrant = { grant_type: 'refresh_token' as const, refresh_token: REFRESH };

beforeAll(() => nock.disableNetConnect());
afterEach(() => {
	nock.abortPendingRequests();
	nock.cleanAll();
});
afterAll(() => {
	nock.enableNetConnect();
});

function expectNoSecret(error: unknown) {
	const text = `${(error as Error).message} ${(error as TokenEndpointError).description ?? ''}`;
	for (const secret of [CLIENT_SECRET, ...CLIENT_SECRET_FORMS, REFRESH])
		expect(text).not.toContain(secret);
}

describe('client authentication (RFC 6749 §2.3.1)', () => {
	it('form-urlencodes id and secret before base64 for Basic', () => {
		const header = basicAuthorization('id:with space', 's3cr3t&=+%');
		const decoded = Buffer.from(header.replace('Basic ', ''), 'base64').toString();
		expect(decoded).toBe('id%3Awith+space:s3cr3t%26%3D%2B%25');
	});

	it('sends a form-encoded grant with Basic authentication', async () => {
		let seen: { body?: string; auth?: string; type?: string } = {};
		nock(PROVIDER_ORIGIN)
			.post('/oauth/token')
			.reply(function (_uri, body) {
				seen = {
					body: body as string,
					auth: this.req.headers.authorization as string,
					type: this.req.headers['content-type'] as string,
				};
				return [200, { access_token: 'a', token_type: 'bearer', expires_in: '3600' }];
			});
		const response = await client().requestToken(refreshGrant);
		expect(seen.type).toContain('application/x-www-form-urlencoded');
		expect(seen.auth).toBe(basicAuthorization('client-id', CLIENT_SECRET));
		expect(new URLSearchParams(seen.body)).toEqual(
			new URLSearchParams({ grant_type: 'refresh_token', refresh_token: REFRESH }),
		);
		expect(response).toMatchObject({
			accessToken: 'a',
			tokenType: 'Bearer',
			expiresIn: 3600,
			refreshToken: null,
		});
	});

	it('puts the client credentials in the body when the preset says so', async () => {
		let body = '';
		let auth: unknown;
		nock(PROVIDER_ORIGIN)
			.post('/oauth/token')
			.reply(function (_uri, b) {
				body = b as string;
				auth = this.req.headers.authorization;
				return [200, { access_token: 'a' }];
			});
		await client({ clientAuthentication: 'body' }).requestToken(refreshGrant);
		expect(auth).toBeUndefined();
		expect(new URLSearchParams(body).get('client_secret')).toBe(CLIENT_SECRET);
		expect(new URLSearchParams(body).get('client_id')).toBe('client-id');
	});
});

describe('token response validation (RFC 6749 §5.1)', () => {
	it('keeps extra fields such as api_domain', () => {
		const parsed = parseTokenResponse({
			access_token: 'a',
			token_type: 'Bearer',
			refresh_token: 'r',
			expires_in: 60,
			api_domain: 'https://x',
		});
		expect(parsed.extra).toEqual({ api_domain: 'https://x' });
		expect(parsed.refreshToken).toBe('r');
	});

	it.each([
		[{ token_type: 'Bearer' }, /without an access_token/],
		[{ access_token: '' }, /without an access_token/],
		[{ access_token: 'a', token_type: 'mac' }, /only Bearer tokens/],
		[[], /without a JSON object/],
	])('refuses %j', (body, message) => {
		expect(() => parseTokenResponse(body)).toThrow(message);
	});

	it.each([
		[-5, null, true],
		['soon', null, true],
		['120', 120, false],
		[undefined, null, false],
	])('expires_in %j → %j (warning: %s)', (value, expected, warns) => {
		const parsed = parseTokenResponse({ access_token: 'a', expires_in: value });
		expect(parsed.expiresIn).toBe(expected);
		expect(parsed.warning !== null).toBe(warns);
	});
});

describe('errors (RFC 6749 §5.2) and retries', () => {
	it("parses error and Pipedrive's message without retrying a 4xx", async () => {
		const scope = nock(PROVIDER_ORIGIN)
			.post('/oauth/token')
			.once()
			.reply(400, { error: 'invalid_grant', message: 'Invalid grant: refresh token is invalid' });
		const error = await client()
			.requestToken(refreshGrant)
			.catch((e) => e);
		expect(error).toBeInstanceOf(TokenEndpointError);
		expect(error.error).toBe('invalid_grant');
		expect(error.error_description).toBe('Invalid grant: refresh token is invalid');
		expect(error.code).toBe('invalid_grant');
		expect(error.httpStatus).toBe(400);
		expect(error.message).toBe(
			'The token endpoint refused the request (HTTP 400): invalid_grant – Invalid grant: refresh token is invalid',
		);
		expect(scope.isDone()).toBe(true);
	});

	it('cuts an oversized error_description to an excerpt, since the message is also stored as last_error', async () => {
		nock(PROVIDER_ORIGIN)
			.post('/oauth/token')
			.reply(400, { error: 'invalid_request', error_description: 'x'.repeat(100_000) });
		const error = await client()
			.requestToken(refreshGrant)
			.catch((e) => e);
		expect(error.message).toBe(
			`The token endpoint refused the request (HTTP 400): invalid_request – ${'x'.repeat(200)}`,
		);
	});

	it('gives invalid_client a hint about the client credentials and never echoes the secret', async () => {
		nock(PROVIDER_ORIGIN)
			.post('/oauth/token')
			.reply(401, { error: 'invalid_client', error_description: `bad secret ${CLIENT_SECRET}` });
		const error = await client()
			.requestToken(refreshGrant)
			.catch((e) => e);
		expect(error.error).toBe('invalid_client');
		expect(error.error_description).toBe('bad secret [redacted]');
		expect(error.description).toMatch(
			/client id and client secret, and the client authentication method/,
		);
		expectNoSecret(error);
	});

	it('redacts the code, the PKCE verifier and the URL-encoded client secret from an echoed code exchange, and nothing else', async () => {
		nock(PROVIDER_ORIGIN)
			.post('/oauth/token')
			.reply((_uri, body) => [400, { error: 'invalid_request', error_description: `got ${body}` }]);
		const grant = {
			grant_type: 'authorization_code' as const,
			code: 'SENTINEL-code-5e1',
			redirect_uri: 'https://n8n.test/cb',
			code_verifier: 'SENTINEL-verifier-77d',
		};
		const error = await client({ clientAuthentication: 'body' })
			.requestToken(grant)
			.catch((e) => e);
		expect(error.message).toBe(
			'The token endpoint refused the request (HTTP 400): invalid_request – got grant_type=authorization_code&code=[redacted]&redirect_uri=https%3A%2F%2Fn8n.test%2Fcb&code_verifier=[redacted]&client_id=client-id&client_secret=[redacted]',
		);
	});

	it('describes an HTML error page by status and excerpt, redacting secrets', async () => {
		nock(PROVIDER_ORIGIN)
			.post('/oauth/token')
			.reply(403, `<html><body><h1>Forbidden</h1> token=${REFRESH}</body></html>`);
		const error = await client()
			.requestToken(refreshGrant)
			.catch((e) => e);
		expect(error.message).toMatch(
			/^The token endpoint answered HTTP 403 with a non-JSON body: <html><body><h1>Forbidden<\/h1> token=\[redacted\]/,
		);
		expectNoSecret(error);
	});

	it('retries 5xx and network errors, then succeeds', async () => {
		const scope = nock(PROVIDER_ORIGIN)
			.post('/oauth/token')
			.reply(503, 'busy')
			.post('/oauth/token')
			.replyWithError({ code: 'ECONNRESET', message: 'socket hang up' })
			.post('/oauth/token')
			.reply(200, { access_token: 'after-retries' });
		const response = await client().requestToken(refreshGrant);
		expect(response.accessToken).toBe('after-retries');
		expect(scope.isDone()).toBe(true);
	});

	it('gives up after the bounded retries with the last status', async () => {
		const scope = nock(PROVIDER_ORIGIN).post('/oauth/token').times(3).reply(502, 'Bad Gateway');
		const error = await client()
			.requestToken(refreshGrant)
			.catch((e) => e);
		expect(error.message).toBe(
			'The token endpoint answered HTTP 502 with a non-JSON body: Bad Gateway',
		);
		expect(scope.isDone()).toBe(true);
	});

	it('honours a short Retry-After on 429 and refuses to wait for a long one', async () => {
		nock(PROVIDER_ORIGIN)
			.post('/oauth/token')
			.reply(429, { error: 'rate_limited' }, { 'Retry-After': '0' })
			.post('/oauth/token')
			.reply(200, { access_token: 'ok' });
		expect((await client().requestToken(refreshGrant)).accessToken).toBe('ok');
		const scope = nock(PROVIDER_ORIGIN)
			.post('/oauth/token')
			.once()
			.reply(429, { error: 'rate_limited' }, { 'Retry-After': '3600' });
		const error = await client()
			.requestToken(refreshGrant)
			.catch((e) => e);
		expect(error.httpStatus).toBe(429);
		expect(scope.isDone()).toBe(true);
	});

	it('reports a timeout without the secret', async () => {
		nock(PROVIDER_ORIGIN)
			.post('/oauth/token')
			.times(3)
			.delay(2000)
			.reply(200, { access_token: 'late' });
		const error = await client({}, { timeoutMs: 50 })
			.requestToken(refreshGrant)
			.catch((e) => e);
		expect(error.message).toBe(
			'The request to the token endpoint timed out after 50 ms, 3 attempt(s)',
		);
		expectNoSecret(error);
	});
});
