/**
 * Fault suite, token endpoint: what the provider answers on a refresh. Each scenario asserts a clear error
 * (or a correct success), that no token was lost (the stored refresh token is still the one that works), and
 * that no plaintext reached the table; the hygiene scan at the end finds no secret anywhere.
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import nock from 'nock';
import { NeedsReauthorizationError, TokenEndpointError } from '../../engine/errors';
import type { OAuthClient } from '../../engine/presets';
import { MySqlTokenStore } from '../../engine/stores';
import { EXPIRY_MARGIN_MS } from '../../engine/sealing';
import { describeEngineError } from '../../nodes/OAuth2TokenManager/actions/nodeErrors';
import { createTemporaryMySqlDatabase, TEST_MYSQL_URL } from '../../tools/temporary-database';
import { rotatingTokenEndpoint, testClient } from '../helpers/provider';
import { IN_CI, tcpReachable } from '../stores/servers';
import {
	CLIENT_SECRET,
	CLIENT_SECRET_FORMS,
	PROVIDER_ORIGIN,
	expectFailure,
	useFaultEnv,
	type FaultEnv,
} from './harness';

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

/**
 * For tests that refresh through a local server a connection authorized through provider.test: a row from before
 * app fingerprints, which the first app that refreshes it adopts.
 */
async function expiredConnectionOfNoApp(label: string): Promise<string> {
	const id = await expiredConnection(label);
	await env.db.sql('update oauth2_tokens set app_fingerprint = null where connection_id = $1', [
		id,
	]);
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
	expect(stored).toMatchObject({
		accessToken: 'SENTINEL-access-1',
		refreshToken: 'SENTINEL-refresh-1',
		status,
	});
	return stored;
}

/** The fault env's client (Basic authentication) with `overrides`. */
const client = (overrides: Partial<OAuthClient> = {}) =>
	testClient({
		authorizationUrl: `${PROVIDER_ORIGIN}/oauth/authorize`,
		revocationUrl: `${PROVIDER_ORIGIN}/oauth/revoke`,
		...overrides,
	});

/**
 * A real HTTP server whose every answer is a 64 MB JSON object (valid, with an access token), streamed in 64 KB
 * chunks as fast as the client reads; counts the requests and the bytes it managed to hand to the socket.
 */
async function hugeResponseServer(): Promise<{
	origin: string;
	requests: () => number;
	sentBytes: () => number;
	close: () => void;
}> {
	let requests = 0;
	let sent = 0;
	const chunk = 'x'.repeat(64 * 1024);
	// eslint-disable-next-line @typescript-eslint/no-misused-promises -- the handler only writes to the response: nothing rejects
	const server = createHttpServer(async (req, res) => {
		requests += 1;
		req.resume();
		let closed = false;
		res.on('close', () => (closed = true));
		res.writeHead(200, { 'Content-Type': 'application/json' });
		res.write(
			'{"access_token":"SENTINEL-access-huge","token_type":"Bearer","refresh_token":"SENTINEL-refresh-huge","padding":"',
		);
		for (let i = 0; i < 1024 && !closed; i++) {
			sent += chunk.length;
			if (!res.write(chunk))
				await new Promise((resolve) => (res.once('drain', resolve), res.once('close', resolve)));
		}
		if (!closed) res.end('"}');
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const { port } = server.address() as AddressInfo;
	return {
		origin: `http://127.0.0.1:${port}`,
		requests: () => requests,
		sentBytes: () => sent,
		close: () => {
			server.closeAllConnections();
			server.close();
		},
	};
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
	])(
		'HTTP %s: retried (bounded), then a clear error naming the status; tokens kept',
		async (status, body) => {
			const id = await expiredConnection(`http-${status}`);
			const calls = endpoint((i) => i.reply(status as number, body as nock.Body));
			const error = await expectFailure(env.hygiene, `HTTP ${status}`, () =>
				env.manager().getValidToken(id),
			);
			expect(error).toBeInstanceOf(TokenEndpointError);
			expect(error.message).toMatch(new RegExp(`HTTP ${status}`));
			expect(calls.count()).toBe(3);
			const stored = await expectTokensKept(id);
			expect(stored.lastError).toMatch(new RegExp(`HTTP ${status}`));
		},
	);

	it('timeout: a clear "timed out" error after bounded retries; tokens kept', async () => {
		const id = await expiredConnection('timeout');
		const calls = endpoint((i) => i.delay(400).reply(200, success()));
		const error = await expectFailure(env.hygiene, 'timeout', () =>
			env
				.manager({ endpoint: { timeoutMs: 100, retryBaseDelayMs: 1, maxRetries: 1 } })
				.getValidToken(id),
		);
		expect(error.message).toBe(
			'The request to the token endpoint timed out after 100 ms, 2 attempt(s)',
		);
		expect(error.description).toMatch(/reachable from this host/);
		expect(calls.count()).toBe(2);
		await expectTokensKept(id);
	});

	it('connection reset (a real TCP server that resets every connection): a clear error naming ECONNRESET; tokens kept', async () => {
		const id = await expiredConnectionOfNoApp('reset');
		let accepted = 0;
		const server = createServer((socket) => {
			accepted += 1;
			socket.resetAndDestroy();
		});
		await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
		try {
			const { port } = server.address() as AddressInfo;
			const m = env.manager({
				client: { ...testClient(), tokenUrl: `http://127.0.0.1:${port}/oauth/token` },
			});
			const error = await expectFailure(env.hygiene, 'reset', () => m.getValidToken(id));
			expect(error.message).toBe(
				'The request to the token endpoint failed (ECONNRESET), 3 attempt(s)',
			);
			expect(error.description).toBe(
				'Check that http://127.0.0.1:' + port + ' is reachable from this host.',
			);
			expect(accepted).toBe(3);
		} finally {
			server.close();
		}
		await expectTokensKept(id);
	});

	it('HTML error page: with HTTP 404 the status and a short excerpt, never the page whole; with HTTP 200 no excerpt at all; tokens kept', async () => {
		const page = `<html><head><title>Maintenance</title></head><body>${'<p>We are down for maintenance</p>'.repeat(50)}</body></html>`;
		const id404 = await expiredConnection('html-404');
		endpoint((i) => i.reply(404, page, { 'Content-Type': 'text/html' }));
		const error404 = await expectFailure(env.hygiene, 'html 404', () =>
			env.manager().getValidToken(id404),
		);
		expect(error404.message).toMatch(
			/^The token endpoint answered HTTP 404 with a non-JSON body: <html><head><title>Maintenance/,
		);
		expect(error404.message.length).toBeLessThan(300);
		await expectTokensKept(id404);
		nock.cleanAll();
		const id200 = await expiredConnection('html-200');
		endpoint((i) => i.reply(200, page, { 'Content-Type': 'text/html; charset=utf-8' }));
		const error200 = await expectFailure(env.hygiene, 'html 200', () =>
			env.manager().getValidToken(id200),
		);
		expect(error200.message).toBe(
			`The token endpoint answered HTTP 200 with a body that is neither JSON nor form-encoded (Content-Type text/html, ${page.length} bytes); it is not shown, as a successful answer may carry tokens`,
		);
		await expectTokensKept(id200);
	});

	it('HTTP 200 form-encoded, as some providers answer: parsed, and the new tokens (the rotated refresh token too) are stored', async () => {
		const id = await expiredConnection('form-200');
		const calls = endpoint((i) =>
			i.reply(
				200,
				'access_token=SENTINEL-access-form&token_type=bearer&refresh_token=SENTINEL-refresh-form&expires_in=3600&scope=base+deals%3Aread',
				{
					'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8',
				},
			),
		);
		const before = Date.now();
		const { connection } = await env.manager().getValidToken(id);
		expect(connection).toMatchObject({
			accessToken: 'SENTINEL-access-form',
			scope: 'base deals:read',
			status: 'active',
			lastError: null,
		});
		expect(connection.expiresAt!.getTime()).toBeGreaterThanOrEqual(
			before + 3599_000 - EXPIRY_MARGIN_MS,
		);
		expect(await env.stored(id)).toMatchObject({
			accessToken: 'SENTINEL-access-form',
			refreshToken: 'SENTINEL-refresh-form',
			lastError: null,
		});
		await env.manager().getValidToken(id);
		expect(calls.count()).toBe(1);
	});

	it('HTTP 200 that is neither JSON nor form-encoded but carries tokens: the error and last_error never quote it; tokens kept', async () => {
		const id = await expiredConnection('text-200');
		const body = 'access_token: SENTINEL-access-text\nrefresh_token: SENTINEL-refresh-text\n';
		endpoint((i) => i.reply(200, body, { 'Content-Type': 'text/plain' }));
		const error = await expectFailure(env.hygiene, 'text 200', () =>
			env.manager().getValidToken(id),
		);
		expect(error.message).toBe(
			`The token endpoint answered HTTP 200 with a body that is neither JSON nor form-encoded (Content-Type text/plain, ${body.length} bytes); it is not shown, as a successful answer may carry tokens`,
		);
		expect((await expectTokensKept(id)).lastError).toBe(error.message);
	});

	it('200 without access_token: a clear error listing the fields received (not their values); tokens kept', async () => {
		const id = await expiredConnection('no-access-token');
		endpoint((i) => i.reply(200, { token_type: 'Bearer', expires_in: 3600 }));
		const error = await expectFailure(env.hygiene, 'no access_token', () =>
			env.manager().getValidToken(id),
		);
		expect(error.message).toBe('The token endpoint answered without an access_token');
		expect(error.description).toBe('Fields received: token_type, expires_in');
		await expectTokensKept(id);
	});

	it.each([
		[
			'without access_token',
			{ token_type: 'Bearer', refresh_token: 'SENTINEL-refresh-rotated', expires_in: 3600 },
			'The token endpoint answered without an access_token',
		],
		[
			'with token_type "mac"',
			{
				access_token: 'SENTINEL-access-mac',
				token_type: 'mac',
				refresh_token: 'SENTINEL-refresh-rotated',
			},
			'The token endpoint issued a token of type "mac"; only Bearer tokens are supported',
		],
	])(
		'200 %s but with a new refresh token: a clear error, and the rotated refresh token is stored (the old one may be spent)',
		async (label, body, message) => {
			const id = await expiredConnection(`refused-rotated-${label.split(' ')[0]}`);
			endpoint((i) => i.reply(200, body));
			const error = await expectFailure(env.hygiene, `refused ${label}`, () =>
				env.manager().getValidToken(id),
			);
			expect(error.message).toBe(message);
			expect(await env.stored(id)).toMatchObject({
				accessToken: 'SENTINEL-access-1',
				refreshToken: 'SENTINEL-refresh-rotated',
				status: 'active',
				lastError: message,
			});
		},
	);

	it('expires_in missing: the token is stored with an unknown expiry, and not refreshed again until asked', async () => {
		const id = await expiredConnection('expires-missing');
		const calls = endpoint((i) => i.reply(200, success({ expires_in: undefined })));
		const result = await env.manager().getValidToken(id);
		expect(result.connection).toMatchObject({
			accessToken: 'SENTINEL-access-new',
			refreshToken: 'SENTINEL-refresh-new',
			expiresAt: null,
			lastError: null,
		});
		await env.manager().getValidToken(id);
		expect(calls.count()).toBe(1);
	});

	it.each([
		[
			'1e13',
			'10000000000000',
			'an expires_in of 10000000000000 s, more than the maximum of 315360000 s (10 years)',
		],
		['1e400 (not finite once parsed)', '1e400', 'an unusable expires_in (Infinity)'],
		[
			'10 years and 1 s',
			'315360001',
			'an expires_in of 315360001 s, more than the maximum of 315360000 s (10 years)',
		],
	])(
		'expires_in %s: the new tokens, the rotated refresh token too, are stored with an unknown expiry and a warning',
		async (_label, raw, what) => {
			const id = await expiredConnection(`expires-absurd-${raw}`);
			const calls = endpoint((i) =>
				i.reply(
					200,
					`{"access_token":"SENTINEL-access-new","token_type":"Bearer","refresh_token":"SENTINEL-refresh-new","expires_in":${raw}}`,
					{
						'Content-Type': 'application/json',
					},
				),
			);
			const warning = `The token endpoint sent ${what}; the expiry is unknown until the next refresh`;
			const { connection } = await env.manager().getValidToken(id);
			expect(connection).toMatchObject({
				accessToken: 'SENTINEL-access-new',
				refreshToken: 'SENTINEL-refresh-new',
				expiresAt: null,
				status: 'active',
				lastError: warning,
			});
			expect(await env.stored(id)).toMatchObject({
				accessToken: 'SENTINEL-access-new',
				refreshToken: 'SENTINEL-refresh-new',
				lastError: warning,
			});
			expect(calls.count()).toBe(1);
		},
	);

	it('NUL characters in scope and in a kept field (which PostgreSQL refuses): dropped, so the write after the refresh succeeds', async () => {
		const id = await expiredConnection('nul');
		endpoint((i) =>
			i.reply(
				200,
				success({ scope: 'base\u0000deals:read', api_domain: 'https://acme\u0000.pipedrive.test' }),
			),
		);
		const { connection } = await env.manager().getValidToken(id);
		expect(connection).toMatchObject({
			refreshToken: 'SENTINEL-refresh-new',
			scope: 'basedeals:read',
			metadata: { api_domain: 'https://acme.pipedrive.test' },
		});
		expect(await env.stored(id)).toMatchObject({
			refreshToken: 'SENTINEL-refresh-new',
			status: 'active',
		});
	});

	(IN_CI || tcpReachable(TEST_MYSQL_URL, 3306) ? it : it.skip)(
		'a 77,000-character scope (more than a MariaDB TEXT column holds): not stored, a warning; the write after the refresh succeeds',
		async () => {
			const mdb = await createTemporaryMySqlDatabase('oauth2tm_faults');
			const store = new MySqlTokenStore({ uri: mdb.url, createTableIfMissing: true });
			try {
				const m = () => env.manager({ store });
				rotatingTokenEndpoint();
				await m().exchangeAuthorizationCode('fault:long-scope', {
					code: 'c',
					allowMissingState: true,
				});
				nock.cleanAll();
				endpoint((i) => i.reply(200, success({ scope: 'deals:read '.repeat(7000) })));
				const warning =
					'The token endpoint sent a scope of 77000 characters, more than the 16000 that are stored; the scope is unknown until the next refresh';
				const { connection } = await m().refreshToken('fault:long-scope', { force: true });
				expect(connection).toMatchObject({
					accessToken: 'SENTINEL-access-new',
					refreshToken: 'SENTINEL-refresh-new',
					scope: null,
					lastError: warning,
				});
				const [row] = await mdb.sql<{ scope: string | null; last_error: string }>(
					'select scope, last_error from oauth2_tokens',
				);
				expect(row).toEqual({ scope: null, last_error: warning });
			} finally {
				await store.close();
				await mdb.drop();
			}
		},
	);

	it.each([
		['as a string: understood as seconds', '3600', 3600],
		['of exactly 10 years: taken as given', 315_360_000, 315_360_000],
	])('expires_in %s', async (_case, expiresIn, seconds) => {
		const id = await expiredConnection(`expires-${seconds}`);
		endpoint((i) => i.reply(200, success({ expires_in: expiresIn })));
		const before = Date.now();
		const { connection } = await env.manager().getValidToken(id);
		expect(connection.expiresAt!.getTime()).toBeGreaterThanOrEqual(
			before + seconds * 1000 - EXPIRY_MARGIN_MS,
		);
		expect(connection.expiresAt!.getTime()).toBeLessThanOrEqual(Date.now() + seconds * 1000);
		expect(connection.lastError).toBeNull();
	});

	it('expires_in negative: the new tokens are kept (the old refresh token may be spent), expiry unknown, a warning recorded', async () => {
		const id = await expiredConnection('expires-negative');
		endpoint((i) => i.reply(200, success({ expires_in: -5 })));
		const { connection } = await env.manager().getValidToken(id);
		expect(connection).toMatchObject({
			accessToken: 'SENTINEL-access-new',
			refreshToken: 'SENTINEL-refresh-new',
			expiresAt: null,
		});
		expect(connection.lastError).toBe(
			'The token endpoint sent an unusable expires_in (-5); the expiry is unknown until the next refresh',
		);
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
		const calls = endpoint((i) =>
			i.reply(
				429,
				{ error: 'rate_limited', message: 'Too many requests' },
				{ 'Retry-After': '3600' },
			),
		);
		const error = await expectFailure(env.hygiene, '429 long', () =>
			env.manager().getValidToken(id),
		);
		expect(error.message).toBe(
			'The token endpoint refused the request (HTTP 429): rate_limited – Too many requests',
		);
		expect(calls.count()).toBe(1);
		await expectTokensKept(id);
	});

	it('invalid_client: not retried, not needs_reauth (the account is fine, the app credential is not); tokens kept', async () => {
		const id = await expiredConnection('invalid-client');
		const calls = endpoint((i) =>
			i.reply(401, { error: 'invalid_client', error_description: 'Client authentication failed' }),
		);
		const error = await expectFailure(env.hygiene, 'invalid_client', () =>
			env.manager().getValidToken(id),
		);
		expect(error).toBeInstanceOf(TokenEndpointError);
		expect(error.message).toBe(
			'The token endpoint refused the request (HTTP 401): invalid_client – Client authentication failed',
		);
		expect(error.description).toMatch(/client id and client secret/);
		expect(describeEngineError(error as TokenEndpointError).description).toMatch(
			/Client ID and Client Secret in the OAuth2 Token Manager App credential/,
		);
		expect(calls.count()).toBe(1);
		await expectTokensKept(id, 'active');
	});

	it('invalid_grant: needs_reauth with a re-authorization link; later calls fail fast; the dead token stays for the record', async () => {
		const id = await expiredConnection('invalid-grant');
		const calls = endpoint((i) =>
			i.reply(400, { error: 'invalid_grant', message: 'Invalid grant: refresh token is invalid' }),
		);
		const error = await expectFailure(env.hygiene, 'invalid_grant', () =>
			env.manager().getValidToken(id),
		);
		expect(error).toBeInstanceOf(NeedsReauthorizationError);
		expect(error.message).toBe(
			`Connection "${id}" must be re-authorized: the provider rejected its refresh token (invalid_grant)`,
		);
		const link = new URL(error.reauthorizationUrl);
		expect(`${link.origin}${link.pathname}`).toBe(`${PROVIDER_ORIGIN}/oauth/authorize`);
		expect(link.searchParams.get('state')).toBeTruthy();
		expect(link.searchParams.get('redirect_uri')).toBe('https://n8n.test/webhook/oauth/callback');
		await expectTokensKept(id, 'needs_reauth');
		const again = await expectFailure(env.hygiene, 'invalid_grant again', () =>
			env.manager().refreshToken(id, { force: true }),
		);
		expect(again).toBeInstanceOf(NeedsReauthorizationError);
		expect(again.reauthorizationUrl).toMatch(/^https:\/\/provider\.test\/oauth\/authorize\?/);
		expect(calls.count()).toBe(1);
	});

	it('unsupported_grant_type: a clear error with a hint about the app settings; tokens kept', async () => {
		const id = await expiredConnection('unsupported-grant');
		endpoint((i) => i.reply(400, { error: 'unsupported_grant_type' }));
		const error = await expectFailure(env.hygiene, 'unsupported_grant_type', () =>
			env.manager().getValidToken(id),
		);
		expect(error.message).toBe(
			'The token endpoint refused the request (HTTP 400): unsupported_grant_type',
		);
		expect(error.description).toMatch(/not allowed this grant type/);
		await expectTokensKept(id);
	});

	it('an error body that echoes the Authorization header (base64 of id and secret): redacted, in JSON and in plain text', async () => {
		const echo = (req: { headers: Record<string, unknown> }) =>
			`rejected Authorization: ${String(req.headers.authorization)}`;
		const id = await expiredConnection('echo-basic-json');
		nock(PROVIDER_ORIGIN)
			.post('/oauth/token')
			.reply(function () {
				return [401, { error: 'invalid_client', error_description: echo(this.req) }];
			});
		const json = await expectFailure(env.hygiene, 'echo basic json', () =>
			env.manager().getValidToken(id),
		);
		expect(json.message).toBe(
			'The token endpoint refused the request (HTTP 401): invalid_client – rejected Authorization: Basic [redacted]',
		);
		expect((await expectTokensKept(id)).lastError).toBe(json.message);

		const id2 = await expiredConnection('echo-basic-text');
		nock(PROVIDER_ORIGIN)
			.post('/oauth/token')
			.reply(function () {
				return [401, echo(this.req), { 'Content-Type': 'text/plain' }];
			});
		const text = await expectFailure(env.hygiene, 'echo basic text', () =>
			env.manager().getValidToken(id2),
		);
		expect(text.message).toBe(
			'The token endpoint answered HTTP 401 with a non-JSON body: rejected Authorization: Basic [redacted]',
		);
		expect((await expectTokensKept(id2)).lastError).toBe(text.message);
	});

	it('an error body that echoes the form body (client secret URL-encoded in it): redacted', async () => {
		const id = await expiredConnection('echo-form');
		let sent = '';
		nock(PROVIDER_ORIGIN)
			.post('/oauth/token')
			.reply((_uri, body) => {
				sent = body as string;
				return [400, { error: 'invalid_request', error_description: `cannot parse ${sent}` }];
			});
		const error = await expectFailure(env.hygiene, 'echo form', () =>
			env.manager({ client: client({ clientAuthentication: 'body' }) }).getValidToken(id),
		);
		expect(sent).toContain(`client_secret=${CLIENT_SECRET_FORMS[2]}`);
		expect(error.message).toBe(
			'The token endpoint refused the request (HTTP 400): invalid_request – cannot parse grant_type=refresh_token&refresh_token=[redacted]&client_id=client-id&client_secret=[redacted]',
		);
		expect((await expectTokensKept(id)).lastError).toBe(error.message);
	});

	it('revocation: an error body that echoes the Authorization header or the form body: redacted; nothing erased', async () => {
		for (const clientAuthentication of ['basic', 'body'] as const) {
			const id = await expiredConnection(`echo-revoke-${clientAuthentication}`);
			nock(PROVIDER_ORIGIN)
				.post('/oauth/revoke')
				.reply(function (_uri, body) {
					return [
						400,
						`bad request: ${String(this.req.headers.authorization ?? 'no header')} ${String(body)}`,
						{ 'Content-Type': 'text/plain' },
					];
				});
			const error = await expectFailure(env.hygiene, `echo revoke ${clientAuthentication}`, () =>
				env.manager({ client: client({ clientAuthentication }) }).revoke(id),
			);
			expect(error.message).toBe(
				clientAuthentication === 'basic'
					? 'The revocation endpoint answered HTTP 400 with a non-JSON body: bad request: Basic [redacted] token=[redacted]&token_type_hint=refresh_token'
					: 'The revocation endpoint answered HTTP 400 with a non-JSON body: bad request: no header token=[redacted]&token_type_hint=refresh_token&client_id=client-id&client_secret=[redacted]',
			);
			await expectTokensKept(id);
		}
	});

	it('a 64 MB answer from a real server: reading stops at 1 MB with a clear error, not retried; tokens kept', async () => {
		const server = await hugeResponseServer();
		try {
			const id = await expiredConnectionOfNoApp('huge');
			const m = env.manager({ client: client({ tokenUrl: `${server.origin}/oauth/token` }) });
			const error = await expectFailure(env.hygiene, 'huge', () => m.getValidToken(id));
			expect(error).toBeInstanceOf(TokenEndpointError);
			expect(error.message).toBe(
				'The token endpoint sent a response larger than 1 MB; it was not read further',
			);
			expect(server.requests()).toBe(1);
			expect(server.sentBytes()).toBeLessThan(16 * 1024 * 1024);
			expect((await expectTokensKept(id)).lastError).toBe(error.message);

			const revoked = await expectFailure(env.hygiene, 'huge revoke', () =>
				env
					.manager({ client: client({ revocationUrl: `${server.origin}/oauth/revoke` }) })
					.revoke(id),
			);
			expect(revoked.message).toBe(
				'The revocation endpoint sent a response larger than 1 MB; it was not read further',
			);
			expect(revoked.description).toMatch(/^Nothing was erased/);
			expect(server.requests()).toBe(2);
			await expectTokensKept(id);
		} finally {
			server.close();
		}
	});

	it('an error body that echoes the refresh token and the client secret: both redacted', async () => {
		const id = await expiredConnection('echo');
		endpoint((i) =>
			i.reply(400, {
				error: 'invalid_request',
				error_description: `bad token SENTINEL-refresh-1 for secret ${CLIENT_SECRET}`,
			}),
		);
		const error = await expectFailure(env.hygiene, 'echo', () => env.manager().getValidToken(id));
		expect(error.message).toBe(
			'The token endpoint refused the request (HTTP 400): invalid_request – bad token [redacted] for secret [redacted]',
		);
		await expectTokensKept(id);
	});
});
