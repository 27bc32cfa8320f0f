/**
 * Fault suite, token store: unreachable, failing after the provider rotated the refresh token, slow, a lease
 * holder killed with SIGKILL, and clocks that disagree between n8n and the database.
 */
import { spawn } from 'node:child_process';
import nock from 'nock';
import { LeaseTimeoutError, ProviderFailingError, StoreError } from '../../engine/errors';
import { RefreshRegistry } from '../../engine/refresh/coordinator';
import { COOLDOWN_BASE_MS } from '../../engine/refresh/policy';
import { PostgresTokenStore } from '../../engine/stores/postgres';
import type { TokenStore } from '../../engine/store';
import { testClient } from '../helpers/provider';
import { afterRefreshAnswer } from '../helpers/token-endpoint';
import { PROVIDER_ORIGIN, expectFailure, useFaultEnv, type FaultEnv } from './harness';
import { sleep } from '../../tools/sleep';

let env: FaultEnv;
let n = 0;

useFaultEnv((e) => {
	env = e;
});

const HOUR_MS = 3_600_000;

async function expiredConnection(label: string): Promise<string> {
	const id = `fault:${label}:${++n}`;
	await env.authorize(id);
	await env.expire(id);
	return id;
}

/** After authorize(), the rotating endpoint's refresh token SENTINEL-refresh-1 is not live in a new endpoint: use one that accepts any. */
function refreshEndpoint(delayMs = 0) {
	let issued = 0;
	const requests: string[] = [];
	nock(PROVIDER_ORIGIN)
		.persist()
		.post('/oauth/token')
		.delay(delayMs)
		.reply((_uri, body) => {
			requests.push(new URLSearchParams(body as string).get('refresh_token') ?? '');
			issued += 1;
			return [
				200,
				{
					access_token: `SENTINEL-access-new-${issued}`,
					refresh_token: `SENTINEL-refresh-new-${issued}`,
					token_type: 'Bearer',
					expires_in: 3600,
				},
			];
		});
	return { requests };
}

const away = async () =>
	void (await env.db.sql(`alter table oauth2_tokens rename to oauth2_tokens_away`));
const back = () => env.db.sql(`alter table oauth2_tokens_away rename to oauth2_tokens`);

describe('fault suite: token store', () => {
	it('down when reading: a StoreError naming the store; the provider is not called', async () => {
		const id = await expiredConnection('read-down');
		const endpoint = refreshEndpoint();
		const down = new PostgresTokenStore({
			pool: { host: '127.0.0.1', port: 1, database: 'x', user: 'x', connectionTimeoutMillis: 1000 },
		});
		try {
			const error = await expectFailure(env.hygiene, 'read down', () =>
				env.manager({ store: down }).getValidToken(id),
			);
			expect(error).toBeInstanceOf(StoreError);
			expect(error.message).toMatch(
				/^PostgreSQL table oauth2_tokens on 127\.0\.0\.1:1\/x: .*ECONNREFUSED/,
			);
		} finally {
			await down.close();
		}
		expect(endpoint.requests).toHaveLength(0);
		expect(await env.stored(id)).toMatchObject({ refreshToken: 'SENTINEL-refresh-1' });
	});

	it('down when writing after a successful refresh, back during the retries: the write is retried (never the refresh)', async () => {
		const id = await expiredConnection('write-retry');
		const endpoint = refreshEndpoint();
		const m = env.manager({
			saveRetries: 3,
			tokenEndpoint: afterRefreshAnswer(testClient(), async () => {
				await away();
				setTimeout(() => void back(), 300);
			}),
		});
		const { connection } = await m.getValidToken(id);
		expect(connection.refreshToken).toBe('SENTINEL-refresh-new-1');
		expect(endpoint.requests).toEqual(['SENTINEL-refresh-1']);
		expect(await env.stored(id)).toMatchObject({
			accessToken: 'SENTINEL-access-new-1',
			refreshToken: 'SENTINEL-refresh-new-1',
		});
	});

	it('down when writing after a successful refresh, and it stays down: the rotated token waits in memory, is never lost, and is written first on the next call', async () => {
		const id = await expiredConnection('write-down');
		const endpoint = refreshEndpoint();
		const first = await expectFailure(env.hygiene, 'write down', () =>
			env
				.manager({ saveRetries: 1, tokenEndpoint: afterRefreshAnswer(testClient(), away) })
				.getValidToken(id),
		);
		expect(first).toBeInstanceOf(StoreError);
		expect(first.message).toMatch(
			new RegExp(
				`^The provider issued new tokens for connection "${id}" but PostgreSQL table oauth2_tokens .* did not accept the write`,
			),
		);
		expect(first.description).toMatch(
			/kept in memory by this process and written before anything else on the next call/,
		);

		// Still down: the next call says the tokens are still waiting, and does not call the provider.
		const second = await expectFailure(env.hygiene, 'still down', () =>
			env.manager().getValidToken(id),
		);
		expect(second.message).toMatch(
			new RegExp(
				`^Tokens that the provider issued for connection "${id}" are still waiting to be saved`,
			),
		);
		expect(endpoint.requests).toHaveLength(1);

		await back();
		const next = await env.manager().getValidToken(id);
		expect(next).toMatchObject({
			refreshed: false,
			connection: {
				accessToken: 'SENTINEL-access-new-1',
				refreshToken: 'SENTINEL-refresh-new-1',
				refreshCount: 1,
			},
		});
		expect(endpoint.requests).toHaveLength(1);
		expect(await env.stored(id)).toMatchObject({ refreshToken: 'SENTINEL-refresh-new-1' });
	});

	it('slow (150 ms per operation): 10 concurrent callers still cause one refresh and all get its token', async () => {
		const id = await expiredConnection('slow');
		const endpoint = refreshEndpoint();
		const slow = new Proxy(env.store, {
			get(target, name, receiver) {
				const value = Reflect.get(target, name, receiver);
				if (typeof value !== 'function' || name === 'close') return value;
				return async (...args: unknown[]) => {
					await sleep(150);
					return value.apply(target, args);
				};
			},
		}) as TokenStore;
		const results = await Promise.all(
			Array.from({ length: 10 }, () => env.manager({ store: slow }).getValidToken(id)),
		);
		expect(endpoint.requests).toHaveLength(1);
		expect(new Set(results.map((r) => r.connection.accessToken))).toEqual(
			new Set(['SENTINEL-access-new-1']),
		);
	});

	it('the lease holder is SIGKILLed mid-refresh: its lease expires on the database clock and one caller takes over', async () => {
		const id = await expiredConnection('sigkill');
		const endpoint = refreshEndpoint();
		const script = `
			const { Client } = require('pg');
			const c = new Client(${JSON.stringify(env.db.pool)});
			c.connect().then(() => c.query(
				"update oauth2_tokens set lease_holder = 'doomed-process', lease_until = clock_timestamp() + interval '1500 milliseconds' where connection_id = $1",
				[${JSON.stringify(id)}])).then((r) => { console.log('held ' + r.rowCount); setInterval(() => {}, 1000); });`;
		const child = spawn(process.execPath, ['-e', script], {
			cwd: process.cwd(),
			stdio: ['ignore', 'pipe', 'inherit'],
		});
		await new Promise<void>((resolve, reject) => {
			child.stdout!.on('data', (d: Buffer) =>
				String(d).includes('held 1') ? resolve() : reject(new Error(String(d))),
			);
			child.on('exit', () => reject(new Error('child exited early')));
		});
		child.kill('SIGKILL');
		await new Promise((resolve) => child.once('exit', resolve));
		expect(child.signalCode).toBe('SIGKILL');

		const started = Date.now();
		const results = await Promise.all([
			env.manager().getValidToken(id),
			env.manager().getValidToken(id),
		]);
		expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
		expect(endpoint.requests).toEqual(['SENTINEL-refresh-1']);
		expect(results.map((r) => r.connection.accessToken)).toEqual([
			'SENTINEL-access-new-1',
			'SENTINEL-access-new-1',
		]);
	});

	it('n8n clock an hour ahead of the database: a live lease (database time) is not stolen', async () => {
		const id = await expiredConnection('skew-ahead');
		const endpoint = refreshEndpoint();
		expect(await env.store.acquireLease(id, 'other-process', 5_000)).toBe(true);
		const realNow = Date.now.bind(Date);
		jest.spyOn(Date, 'now').mockImplementation(() => realNow() + 3_600_000);
		const error = await expectFailure(env.hygiene, 'skew ahead', () =>
			env.manager({ leaseWaitMs: 1000 }).getValidToken(id),
		);
		expect(error).toBeInstanceOf(LeaseTimeoutError);
		expect(error.message).toBe(
			`Gave up waiting 1 s for another execution to refresh connection "${id}"`,
		);
		expect(endpoint.requests).toHaveLength(0);
		await env.store.releaseLease(id, 'other-process');
		expect(await env.stored(id)).toMatchObject({ refreshToken: 'SENTINEL-refresh-1' });
	});

	it('n8n clock an hour behind the database: an expired lease (database time) is taken over at once', async () => {
		const id = await expiredConnection('skew-behind');
		const endpoint = refreshEndpoint();
		expect(await env.store.acquireLease(id, 'dead-process', 200)).toBe(true);
		const realNow = Date.now.bind(Date);
		jest.spyOn(Date, 'now').mockImplementation(() => realNow() - 3_600_000);
		// The token must look expired to the skewed clock too.
		await env.db.sql(
			`update oauth2_tokens set expires_at = now() - interval '2 hours' where connection_id = $1`,
			[id],
		);
		const { connection } = await env.manager().getValidToken(id);
		expect(connection.accessToken).toBe('SENTINEL-access-new-1');
		expect(endpoint.requests).toHaveLength(1);
	});

	it('a cooldown written by a host an hour ahead binds every host for 30 s of database time, not an hour', async () => {
		const id = await expiredConnection('cooldown-skew');
		// Expired to every clock in this test, the one an hour behind included.
		await env.db.sql(
			`update oauth2_tokens set expires_at = now() - interval '2 hours' where connection_id = $1`,
			[id],
		);
		const hostAt = (offsetMs: number) =>
			env.manager({
				clock: () => Date.now() + offsetMs,
				store: new PostgresTokenStore({ pool: env.db.pool }),
				refreshRegistry: new RefreshRegistry(),
			});
		const databaseNow = async () =>
			(await env.db.sql<{ now: Date }>('select clock_timestamp() as now'))[0].now.getTime();

		nock(PROVIDER_ORIGIN)
			.post('/oauth/token')
			.times(3)
			.reply(503, { error: 'temporarily_unavailable' });
		const failedAt = await databaseNow();
		await expectFailure(env.hygiene, 'cooldown skew: 503', () => hostAt(HOUR_MS).getValidToken(id));
		const written = (await env.store.get(id))!;
		expect(written.failureCount).toBe(1);
		expect(written.nextAttemptAt!.getTime()).toBeGreaterThanOrEqual(
			failedAt + COOLDOWN_BASE_MS - 1000,
		);
		expect(written.nextAttemptAt!.getTime()).toBeLessThanOrEqual(
			(await databaseNow()) + COOLDOWN_BASE_MS + 1000,
		);

		// Within the cooldown, neither a host on time nor one an hour behind asks the provider.
		for (const offset of [0, -HOUR_MS]) {
			const refused = await expectFailure(env.hygiene, `cooldown skew: host at ${offset}`, () =>
				hostAt(offset).getValidToken(id),
			);
			expect(refused).toBeInstanceOf(ProviderFailingError);
			expect((refused as ProviderFailingError).nextAttemptAt).toEqual(written.nextAttemptAt);
		}
		expect(nock.pendingMocks()).toEqual([]);

		// Once the database's clock passes the next attempt time, the host on time refreshes.
		await sleep(written.nextAttemptAt!.getTime() - (await databaseNow()) + 200);
		const endpoint = refreshEndpoint();
		const { connection } = await hostAt(0).getValidToken(id);
		expect(connection).toMatchObject({
			accessToken: 'SENTINEL-access-new-1',
			failureCount: 0,
			nextAttemptAt: null,
		});
		expect(endpoint.requests).toEqual(['SENTINEL-refresh-1']);
	}, 60_000);
});
