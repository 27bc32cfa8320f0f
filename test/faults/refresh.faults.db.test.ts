/**
 * Fault suite, the refresh itself: how long it may take, what its expiry counts from, and what a refusal may
 * conclude. The provider is a real token endpoint on 127.0.0.1 (test/helpers/token-server.ts) or nock; the store
 * is the fault suite's real PostgreSQL database. The hygiene scan at the end finds no secret anywhere.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import nock from 'nock';
import { NeedsReauthorizationError } from '../../engine/errors';
import { EXPIRY_MARGIN_MS } from '../../engine/sealing';
import { TokenManager } from '../../engine/token-manager';
import { testClient } from '../helpers/provider';
import { afterRefreshAnswer } from '../helpers/token-endpoint';
import {
	startTokenServer,
	type TokenServer,
	type TokenServerOptions,
} from '../helpers/token-server';
import { PROVIDER_ORIGIN, expectFailure, useFaultEnv, type FaultEnv } from './harness';

let env: FaultEnv;
let n = 0;
const servers: TokenServer[] = [];

useFaultEnv((e) => {
	env = e;
});

afterEach(async () => {
	await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A connection authorized at a real local token endpoint, its access token expired. */
async function expiredConnectionAt(label: string, options: TokenServerOptions = {}) {
	const server = await startTokenServer(options);
	servers.push(server);
	const id = `refresh:${label}:${++n}`;
	const manager = (extra: Partial<ConstructorParameters<typeof TokenManager>[0]> = {}) =>
		env.manager({ client: testClient({ tokenUrl: server.tokenUrl }), ...extra });
	await manager().exchangeAuthorizationCode(id, { code: `code-${id}`, allowMissingState: true });
	await env.expire(id);
	return { id, server, manager };
}

describe('fault suite: the refresh, against a real token endpoint', () => {
	// nock replaces Node's http client with its own, whose timeouts behave differently: these cases use the real one.
	beforeAll(() => nock.restore());
	afterAll(() => nock.activate());

	it("expires_at counts from when the request was sent, less the margin: never later than the provider's own expiry", async () => {
		// The provider takes 1.5 s to answer; it counts the token's life from when it received the request,
		// rounded down to the second (as many do).
		const { id, server, manager } = await expiredConnectionAt('sent-time', {
			expiresIn: 3600,
			pace: () => ({ delayMs: 1500 }),
		});
		const sent = Date.now();
		const { connection } = await manager().getValidToken(id);
		const received = server.requests.at(-1)!.receivedAt;
		const providerExpiry = Math.floor(received / 1000) * 1000 + 3600_000;
		expect(connection.expiresAt!.getTime()).toBeLessThanOrEqual(providerExpiry);
		expect(connection.expiresAt!.getTime()).toBeGreaterThanOrEqual(
			sent + 3600_000 - EXPIRY_MARGIN_MS,
		);
		expect((await env.store.get(id))!.expiresAt!.getTime()).toBe(connection.expiresAt!.getTime());
	});

	it('a body that trickles in after the headers is cut at the refresh deadline, which ends before the lease; tokens kept', async () => {
		const { id, server, manager } = await expiredConnectionAt('trickle', {
			pace: () => ({ trickleMs: 6000 }),
		});
		const before = await env.stored(id);
		const started = Date.now();
		const error = await expectFailure(env.hygiene, 'trickle', () =>
			manager({
				leaseTtlMs: 2000,
				refreshDeadlineMs: 1000,
				endpoint: { maxRetries: 2, retryBaseDelayMs: 1 },
			}).getValidToken(id),
		);
		expect(error.message).toMatch(
			/^The request to the token endpoint did not finish before the refresh deadline, \d attempt\(s\)$/,
		);
		// Cut off while the lease (2 s) still held, long before the body would have ended.
		const [cutOff] = server.requests.filter((r) => r.grantType === 'refresh_token');
		expect(cutOff.closedAt! - cutOff.receivedAt).toBeLessThan(2000);
		expect(Date.now() - started).toBeLessThan(4000);
		expect(server.stats()).toMatchObject({ completedRefreshes: 0, overlapping: 0 });
		const after = await env.stored(id);
		expect(after).toMatchObject({
			status: 'active',
			accessToken: before.accessToken,
			refreshToken: before.refreshToken,
		});
		expect((await env.store.get(id))!.leaseHolder).toBeNull();
	});

	it("each attempt's timeout covers the body too", async () => {
		const { id, manager } = await expiredConnectionAt('attempt-timeout', {
			pace: () => ({ trickleMs: 5000 }),
		});
		const started = Date.now();
		const error = await expectFailure(env.hygiene, 'attempt timeout', () =>
			manager({ endpoint: { timeoutMs: 300, maxRetries: 0 } }).getValidToken(id),
		);
		expect(error.message).toBe(
			'The request to the token endpoint timed out after 300 ms, 1 attempt(s)',
		);
		expect(Date.now() - started).toBeLessThan(3000);
	});

	it('a revocation endpoint that trickles its body is cut at the per-attempt timeout: nothing erased, lease released', async () => {
		const { id, server, manager } = await expiredConnectionAt('revoke-trickle');
		const revocation = createServer((_request, res) => {
			// Headers at once, then a body that takes 5 s: a client bounded by headers alone waits for all of it.
			res.writeHead(200, { 'Content-Type': 'application/json' });
			const drip = setInterval(() => res.write(' '), 100);
			const end = setTimeout(() => res.end('{}'), 5000);
			res.on('close', () => {
				clearInterval(drip);
				clearTimeout(end);
			});
		});
		await new Promise<void>((resolve) => revocation.listen(0, '127.0.0.1', resolve));
		try {
			const { port } = revocation.address() as AddressInfo;
			const before = await env.stored(id);
			const started = Date.now();
			const error = await expectFailure(env.hygiene, 'revoke trickle', () =>
				manager({
					client: testClient({
						tokenUrl: server.tokenUrl,
						revocationUrl: `http://127.0.0.1:${port}/oauth/revoke`,
					}),
					endpoint: { timeoutMs: 300, maxRetries: 0 },
				}).revoke(id),
			);
			expect(error.message).toBe(
				'The request to the revocation endpoint timed out after 300 ms, 1 attempt(s)',
			);
			expect(Date.now() - started).toBeLessThan(3000);
			expect(await env.stored(id)).toMatchObject({
				status: 'active',
				accessToken: before.accessToken,
				refreshToken: before.refreshToken,
			});
			expect((await env.store.get(id))!.leaseHolder).toBeNull();
		} finally {
			revocation.closeAllConnections();
			revocation.close();
		}
	});

	it('the lease a refresh takes with the defaults ends within 30 s, and the refresh deadline must be shorter than the lease', async () => {
		const { id, server, manager } = await expiredConnectionAt('default-lease');
		let leaseLeft = NaN;
		const probe = async () => {
			const [row] = await env.db.sql<{ left_ms: number }>(
				`select extract(epoch from (lease_until - now())) * 1000 as left_ms from oauth2_tokens where connection_id = $1`,
				[id],
			);
			leaseLeft = Number(row.left_ms);
		};
		await manager({
			tokenEndpoint: afterRefreshAnswer(testClient({ tokenUrl: server.tokenUrl }), probe),
		}).getValidToken(id);
		expect(leaseLeft).toBeGreaterThan(25_000);
		expect(leaseLeft).toBeLessThanOrEqual(30_000);
		expect(() => manager({ leaseTtlMs: 5000, refreshDeadlineMs: 5000 })).toThrow(
			/must be positive and shorter than the lease/,
		);
	});

	it('the write after a successful refresh sets the connection active, even if another process marked it meanwhile', async () => {
		const { id, server, manager } = await expiredConnectionAt('reactivate');
		// Another process concluded needs_reauth while our refresh was under way (same refresh token stored).
		const markedElsewhere = async () => {
			const row = (await env.store.get(id))!;
			await env.store.update(id, row.version, {
				status: 'needs_reauth',
				lastError: 'the provider rejected its refresh token (invalid_grant)',
			});
		};
		const { connection } = await manager({
			tokenEndpoint: afterRefreshAnswer(testClient({ tokenUrl: server.tokenUrl }), markedElsewhere),
		}).getValidToken(id);
		const stored = await env.stored(id);
		expect(stored.status).toBe('active');
		expect(stored.accessToken).toBe(connection.accessToken);
		expect(server.accepts(stored.refreshToken)).toBe(true);
		expect(server.stats().completedRefreshes).toBe(1);
	});
});

describe('fault suite: the refresh, with the provider under nock', () => {
	it('invalid_grant for a refresh token that is no longer the stored one: the connection is not marked; the stored tokens are returned', async () => {
		const id = `refresh:reauthorized:${++n}`;
		await env.authorize(id);
		await env.expire(id);
		// The account owner re-authorizes while the refresh is at the provider, which then refuses the old grant.
		nock(PROVIDER_ORIGIN)
			.post('/oauth/token', /grant_type=authorization_code/)
			.reply(200, {
				access_token: 'SENTINEL-access-reauthorized',
				refresh_token: 'SENTINEL-refresh-reauthorized',
				token_type: 'Bearer',
				expires_in: 3600,
			});
		nock(PROVIDER_ORIGIN)
			.post('/oauth/token', /grant_type=refresh_token/)
			.reply((_uri, _body, callback) => {
				env
					.manager()
					.exchangeAuthorizationCode(id, { code: 'second-consent', allowMissingState: true })
					.then(
						() =>
							callback(null, [
								400,
								{ error: 'invalid_grant', error_description: 'Grant replaced' },
							]),
						(error) => callback(error, [500, '']),
					);
			});
		const result = await env.manager().getValidToken(id);
		expect(result.connection.accessToken).toBe('SENTINEL-access-reauthorized');
		expect(await env.stored(id)).toMatchObject({
			status: 'active',
			accessToken: 'SENTINEL-access-reauthorized',
			refreshToken: 'SENTINEL-refresh-reauthorized',
		});
		expect(nock.isDone()).toBe(true);
	});

	it('one needs_reauth message, whichever process reports it: the one that got invalid_grant, or any that reads the row later', async () => {
		const rejected = `refresh:one-message:${++n}`;
		await env.authorize(rejected);
		await env.expire(rejected);
		nock(PROVIDER_ORIGIN)
			.post('/oauth/token')
			.reply(400, { error: 'invalid_grant', error_description: 'Token is not active' });
		const first = await expectFailure(env.hygiene, 'invalid_grant reporter', () =>
			env.manager().getValidToken(rejected),
		);
		const later = await expectFailure(env.hygiene, 'invalid_grant reader', () =>
			env.manager().getValidToken(rejected),
		);
		expect(first).toBeInstanceOf(NeedsReauthorizationError);
		expect(first.message).toBe(
			`Connection "${rejected}" must be re-authorized: the provider rejected its refresh token (invalid_grant)`,
		);
		expect(later.message).toBe(first.message);

		const missing = `refresh:no-refresh-token:${++n}`;
		await env.authorize(missing);
		await env.expire(missing);
		await env.db.sql(`update oauth2_tokens set refresh_token = null where connection_id = $1`, [
			missing,
		]);
		const noToken = await expectFailure(env.hygiene, 'no refresh token reporter', () =>
			env.manager().getValidToken(missing),
		);
		const noTokenLater = await expectFailure(env.hygiene, 'no refresh token reader', () =>
			env.manager().getValidToken(missing),
		);
		expect(noToken.message).toBe(
			`Connection "${missing}" must be re-authorized: no refresh token is stored for it`,
		);
		expect(noTokenLater.message).toBe(noToken.message);
	});
});
