/**
 * One retry policy for every endpoint of the authorization server: the token and revocation endpoints retry the
 * same failures, wait for the same Retry-After (seconds or HTTP-date, capped) and stop at the caller's deadline.
 */
import nock from 'nock';
import { TokenEndpointError } from '../../../engine/errors';
import { AuthorizationServerClient, type RequestPolicy } from '../../../engine/oauth';
import { CLIENT_SECRET, PROVIDER_ORIGIN } from '../../helpers/provider';

const client = (policy: Partial<RequestPolicy> = {}) =>
	new AuthorizationServerClient(
		{
			tokenUrl: `${PROVIDER_ORIGIN}/oauth/token`,
			revocationUrl: `${PROVIDER_ORIGIN}/oauth/revoke`,
			clientId: 'client-id',
			clientSecret: CLIENT_SECRET,
			clientAuthentication: 'basic',
		},
		{ retryBaseDelayMs: 1, timeoutMs: 500, ...policy },
	);

/** Each endpoint: its path, a success body, and one call through the client. */
const endpoints = [
	{
		name: 'token endpoint',
		path: '/oauth/token',
		success: { access_token: 'SENTINEL-access-after-wait', token_type: 'Bearer' },
		call: (c: AuthorizationServerClient, limits = {}) =>
			c.requestToken({ grant_type: 'refresh_token', refresh_token: 'SENTINEL-refresh-r' }, limits),
	},
	{
		name: 'revocation endpoint',
		path: '/oauth/revoke',
		success: '',
		call: (c: AuthorizationServerClient, limits = {}) =>
			c.revokeToken('SENTINEL-refresh-r', 'refresh_token', limits),
	},
] as const;

/** Answers the endpoint's requests in turn with `replies`; returns the time each request arrived. */
function provider(
	path: string,
	replies: Array<[number, nock.Body, Record<string, string>?] | 'too slow'>,
): number[] {
	const arrivals: number[] = [];
	const scope = nock(PROVIDER_ORIGIN);
	for (const reply of replies) {
		const interceptor = scope.post(path, () => (arrivals.push(Date.now()), true));
		// Slower than the attempt's timeout (500 ms): the client gives up on it.
		if (reply === 'too slow') interceptor.delay(2000).reply(200, {});
		else interceptor.reply(...reply);
	}
	return arrivals;
}

beforeAll(() => nock.disableNetConnect());
afterEach(() => {
	nock.abortPendingRequests();
	nock.cleanAll();
});
afterAll(() => nock.enableNetConnect());

describe.each(endpoints)('$name', ({ path, success, call }) => {
	it('retries a timed-out attempt and a 5xx, at most twice, and never a 4xx', async () => {
		const arrivals = provider(path, ['too slow', [502, 'Bad Gateway'], [200, success]]);
		await call(client());
		expect(arrivals).toHaveLength(3);
		nock.cleanAll();
		const refused = provider(path, [
			[401, { error: 'invalid_client' }],
			[200, success],
		]);
		expect(await call(client()).catch((e) => e)).toMatchObject({
			httpStatus: 401,
			error: 'invalid_client',
		});
		expect(refused).toHaveLength(1);
	});

	it('waits for a Retry-After given as an HTTP-date, then succeeds', async () => {
		// HTTP-dates have whole seconds: two seconds ahead is at least one second of waiting.
		const arrivals = provider(path, [
			[
				503,
				{ error: 'temporarily_unavailable' },
				{ 'Retry-After': new Date(Date.now() + 2000).toUTCString() },
			],
			[200, success],
		]);
		await call(client());
		expect(arrivals).toHaveLength(2);
		expect(arrivals[1] - arrivals[0]).toBeGreaterThanOrEqual(900);
	});

	it.each([
		['in seconds, above the default cap of 10 s', '3600', {}],
		['as an HTTP-date an hour ahead', new Date(Date.now() + 3600_000).toUTCString(), {}],
		['of 2 s, above a cap of 500 ms', '2', { maxRetryAfterMs: 500 }],
	])(
		'a Retry-After %s: fails at once with the status, without a second request',
		async (_case, retryAfter, policy) => {
			const arrivals = provider(path, [
				[429, { error: 'rate_limited' }, { 'Retry-After': retryAfter }],
				[200, success],
			]);
			const started = Date.now();
			const error = await call(client(policy)).catch((e) => e);
			expect(error).toBeInstanceOf(TokenEndpointError);
			expect(error).toMatchObject({ httpStatus: 429, error: 'rate_limited' });
			expect(arrivals).toHaveLength(1);
			expect(Date.now() - started).toBeLessThan(400);
		},
	);

	it("stops at the caller's deadline instead of waiting past it", async () => {
		const arrivals = provider(path, [
			[503, { error: 'temporarily_unavailable' }, { 'Retry-After': '1' }],
			[200, success],
		]);
		const started = Date.now();
		const error = await call(client(), { deadline: Date.now() + 500 }).catch((e) => e);
		expect(error).toMatchObject({ httpStatus: 503, error: 'temporarily_unavailable' });
		expect(arrivals).toHaveLength(1);
		expect(Date.now() - started).toBeLessThan(400);
	});
});
