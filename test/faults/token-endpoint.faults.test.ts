/**
 * Fault suite, token endpoint: what the provider answers on a refresh. Each scenario asserts a clear error
 * (or a correct success), that no token was lost (the stored refresh token is still the one that works), and
 * that no plaintext reached the table; the hygiene scan at the end finds no secret anywhere.
 */
import { createServer, type AddressInfo } from 'node:net';
import nock from 'nock';
import { NeedsReauthorizationError, TokenEndpointError } from '../../engine/errors';
import { EXPIRY_MARGIN_MS } from '../../engine/token-manager';
import { testClient } from '../helpers/provider';
import { PROVIDER_ORIGIN, expectFailure, useFaultEnv, type FaultEnv } from './harness';

let env: FaultEnv;
let n = 0;

useFaultEnv((e) => {
	env = e;
});

/** An authorized connection whose access token has expired, so the next Get Valid Token refreshes. */
async function expiredConnection(label: string): Promise<string> {
	const id = `fault:${label}:${++n}`;
	await env.authorize(id);
	await env.expire(id);
	return id;
}

/** The token endpoint answers every request with `reply`; returns a counter of requests. */
function endpoint(reply: (scope: nock.Interceptor) => nock.Scope): { count: () => number } {
	let count = 0;
	const interceptor = nock(PROVIDER_ORIGIN)
		.persist()
		.post('/oauth/token', () => {
			count += 1;
			return true;
		});
	reply(interceptor);
	return { count: () => count };
}

/** The stored tokens are still the ones the provider issued before the failure; status as expected. */
async function expectTokensKept(id: string, status = 'active') {
	const stored = await env.stored(id);
	expect(stored).toMatchObject({ accessToken: 'SENTINEL-access-1', refreshToken: 'SENTINEL-refresh-1', status });
	return stored;
}

const success = (extra: Record<string, unknown> = {}) => ({
	access_token: 'SENTINEL-access-new',
	token_type: 'Bearer',
	refresh_token: 'SENTINEL-refresh-new',
	expires_in: 3600,
	...extra,
});

describe('fault suite: token endpoint', () => {
	it.each([
		[500, { error: 'server_error' }],
		[502, 'Bad Gateway'],
		[503, ''],
	])('HTTP %s: retried (bounded), then a clear error naming the status; tokens kept', async (status, body) => {
		const id = await expiredConnection(`http-${status}`);
		const calls = endpoint((i) => i.reply(status as number, body as nock.Body));
		const error = await expectFailure(env.hygiene, `HTTP ${status}`, () => env.manager().getValidToken(id));
		expect(error).toBeInstanceOf(TokenEndpointError);
		expect(error.message).toMatch(new RegExp(`HTTP ${status}`));
		expect(calls.count()).toBe(3);
		const stored = await expectTokensKept(id);
		expect(stored.lastError).toMatch(new RegExp(`HTTP ${status}`));
	});

	it('timeout: a clear "timed out" error after bounded retries; tokens kept', async () => {
		const id = await expiredConnection('timeout');
		const calls = endpoint((i) => i.delay(400).reply(200, success()));
		const error = await expectFailure(env.hygiene, 'timeout', () =>
			env.manager({ endpoint: { timeoutMs: 100, retryBaseDelayMs: 1, maxRetries: 1 } }).getValidToken(id),
		);
		expect(error.message).toBe('The request to the token endpoint timed out after 100 ms, 2 attempt(s)');
		expect(error.description).toMatch(/reachable from n8n/);
		expect(calls.count()).toBe(2);
		await expectTokensKept(id);
	});

	it('connection reset (a real TCP server that resets every connection): a clear error naming ECONNRESET; tokens kept', async () => {
		const id = await expiredConnection('reset');
		let accepted = 0;
		const server = createServer((socket) => {
			accepted += 1;
			socket.resetAndDestroy();
		});
		await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
		try {
			const { port } = server.address() as AddressInfo;
			const m = env.manager({ client: { ...testClient(), tokenUrl: `http://127.0.0.1:${port}/oauth/token` } });
			const error = await expectFailure(env.hygiene, 'reset', () => m.getValidToken(id));
			expect(error.message).toBe('The request to the token endpoint failed (ECONNRESET), 3 attempt(s)');
			expect(error.description).toBe('Check that http://127.0.0.1:' + port + ' is reachable from n8n.');
			expect(accepted).toBe(3);
		} finally {
			server.close();
		}
		await expectTokensKept(id);
	});

	it('HTML error page (HTTP 200 and 404): the status and a short excerpt, never the page whole; tokens kept', async () => {
		const page = `<html><head><title>Maintenance</title></head><body>${'<p>We are down for maintenance</p>'.repeat(50)}</body></html>`;
		for (const status of [200, 404]) {
			const id = await expiredConnection(`html-${status}`);
			endpoint((i) => i.reply(status, page, { 'Content-Type': 'text/html' }));
			const error = await expectFailure(env.hygiene, `html ${status}`, () => env.manager().getValidToken(id));
			expect(error.message).toMatch(new RegExp(`^The token endpoint answered HTTP ${status} with a non-JSON body: <html><head><title>Maintenance`));
			expect(error.message.length).toBeLessThan(300);
			await expectTokensKept(id);
			nock.cleanAll();
		}
	});

	it('200 without access_token: a clear error listing the fields received (not their values); tokens kept', async () => {
		const id = await expiredConnection('no-access-token');
		endpoint((i) => i.reply(200, { token_type: 'Bearer', refresh_token: 'SENTINEL-refresh-broken', expires_in: 3600 }));
		const error = await expectFailure(env.hygiene, 'no access_token', () => env.manager().getValidToken(id));
		expect(error.message).toBe('The token endpoint answered without an access_token');
		expect(error.description).toBe('Fields received: token_type, refresh_token, expires_in');
		await expectTokensKept(id);
	});

	it('expires_in missing: the token is stored with an unknown expiry, and not refreshed again until asked', async () => {
		const id = await expiredConnection('expires-missing');
		const calls = endpoint((i) => i.reply(200, success({ expires_in: undefined })));
		const result = await env.manager().getValidToken(id);
		expect(result.connection).toMatchObject({ accessToken: 'SENTINEL-access-new', refreshToken: 'SENTINEL-refresh-new', expiresAt: null, lastError: null });
		await env.manager().getValidToken(id);
		expect(calls.count()).toBe(1);
	});

	it('expires_in as a string: understood as seconds', async () => {
		const id = await expiredConnection('expires-string');
		endpoint((i) => i.reply(200, success({ expires_in: '3600' })));
		const before = Date.now();
		const { connection } = await env.manager().getValidToken(id);
		expect(connection.expiresAt!.getTime()).toBeGreaterThanOrEqual(before + 3600_000 - EXPIRY_MARGIN_MS);
		expect(connection.lastError).toBeNull();
	});

	it('expires_in negative: the new tokens are kept (the old refresh token may be spent), expiry unknown, a warning recorded', async () => {
		const id = await expiredConnection('expires-negative');
		endpoint((i) => i.reply(200, success({ expires_in: -5 })));
		const { connection } = await env.manager().getValidToken(id);
		expect(connection).toMatchObject({ accessToken: 'SENTINEL-access-new', refreshToken: 'SENTINEL-refresh-new', expiresAt: null });
		expect(connection.lastError).toBe('The token endpoint sent an unusable expires_in (-5); the expiry is unknown until the next refresh');
		env.hygiene.record('negative expires_in lastError', connection.lastError);
	});

	it('429 with Retry-After: waits as told, then succeeds with a single refresh', async () => {
		const id = await expiredConnection('429-short');
		let count = 0;
		nock(PROVIDER_ORIGIN)
			.post('/oauth/token')
			.reply(() => {
				count += 1;
				return [429, { error: 'rate_limited' }, { 'Retry-After': '1' }];
			})
			.post('/oauth/token')
			.reply(() => {
				count += 1;
				return [200, success()];
			});
		const started = Date.now();
		const { connection } = await env.manager().getValidToken(id);
		expect(Date.now() - started).toBeGreaterThanOrEqual(950);
		expect(count).toBe(2);
		expect(connection.refreshToken).toBe('SENTINEL-refresh-new');
	});

	it('429 with a Retry-After longer than the caller waits: fails at once with HTTP 429; tokens kept', async () => {
		const id = await expiredConnection('429-long');
		const calls = endpoint((i) => i.reply(429, { error: 'rate_limited', message: 'Too many requests' }, { 'Retry-After': '3600' }));
		const error = await expectFailure(env.hygiene, '429 long', () => env.manager().getValidToken(id));
		expect(error.message).toBe('The token endpoint refused the request (HTTP 429): rate_limited – Too many requests');
		expect(calls.count()).toBe(1);
		await expectTokensKept(id);
	});

	it('invalid_client: not retried, not needs_reauth (the account is fine, the app credential is not); tokens kept', async () => {
		const id = await expiredConnection('invalid-client');
		const calls = endpoint((i) => i.reply(401, { error: 'invalid_client', error_description: 'Client authentication failed' }));
		const error = await expectFailure(env.hygiene, 'invalid_client', () => env.manager().getValidToken(id));
		expect(error).toBeInstanceOf(TokenEndpointError);
		expect(error.message).toBe('The token endpoint refused the request (HTTP 401): invalid_client – Client authentication failed');
		expect(error.description).toMatch(/Client ID and Client Secret/);
		expect(calls.count()).toBe(1);
		await expectTokensKept(id, 'active');
	});

	it('invalid_grant: needs_reauth with a re-authorization link; later calls fail fast; the dead token stays for the record', async () => {
		const id = await expiredConnection('invalid-grant');
		const calls = endpoint((i) => i.reply(400, { error: 'invalid_grant', message: 'Invalid grant: refresh token is invalid' }));
		const error = await expectFailure(env.hygiene, 'invalid_grant', () => env.manager().getValidToken(id));
		expect(error).toBeInstanceOf(NeedsReauthorizationError);
		expect(error.message).toBe(`Connection "${id}" must be re-authorized: the provider rejected its refresh token (invalid_grant)`);
		const link = new URL(error.reauthorizationUrl);
		expect(`${link.origin}${link.pathname}`).toBe(`${PROVIDER_ORIGIN}/oauth/authorize`);
		expect(link.searchParams.get('state')).toBeTruthy();
		expect(link.searchParams.get('redirect_uri')).toBe('https://n8n.test/webhook/oauth/callback');
		await expectTokensKept(id, 'needs_reauth');
		const again = await expectFailure(env.hygiene, 'invalid_grant again', () => env.manager().refreshToken(id, { force: true }));
		expect(again).toBeInstanceOf(NeedsReauthorizationError);
		expect(again.reauthorizationUrl).toMatch(/^https:\/\/provider\.test\/oauth\/authorize\?/);
		expect(calls.count()).toBe(1);
	});

	it('unsupported_grant_type: a clear error with a hint about the app settings; tokens kept', async () => {
		const id = await expiredConnection('unsupported-grant');
		endpoint((i) => i.reply(400, { error: 'unsupported_grant_type' }));
		const error = await expectFailure(env.hygiene, 'unsupported_grant_type', () => env.manager().getValidToken(id));
		expect(error.message).toBe('The token endpoint refused the request (HTTP 400): unsupported_grant_type');
		expect(error.description).toMatch(/not allowed this grant type/);
		await expectTokensKept(id);
	});

	it('an error body that echoes the refresh token and the client secret: both redacted', async () => {
		const id = await expiredConnection('echo');
		endpoint((i) =>
			i.reply(400, { error: 'invalid_request', error_description: 'bad token SENTINEL-refresh-1 for secret SENTINEL-client-secret-7c1f' }),
		);
		const error = await expectFailure(env.hygiene, 'echo', () => env.manager().getValidToken(id));
		expect(error.message).toBe('The token endpoint refused the request (HTTP 400): invalid_request – bad token [redacted] for secret [redacted]');
		await expectTokensKept(id);
	});
});
