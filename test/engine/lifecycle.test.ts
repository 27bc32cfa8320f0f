/**
 * The connection lifecycle on the in-memory store: the scenarios every store runs (lifecycle-scenarios.ts), then the
 * engine's own decisions in detail: which failures are transient, client-credentials input and grants, and what Keep
 * Alive reports for each kind of connection, within its concurrency.
 */
import { TokenCipher } from '../../engine/crypto';
import {
	DecryptionError,
	MissingInputError,
	NeedsReauthorizationError,
	ProviderFailingError,
} from '../../engine/errors';
import { basicAuthorization } from '../../engine/oauth';
import { appFingerprint } from '../../engine/presets';
import { KEEP_ALIVE_CURSOR_PROVIDER, keepAliveCursorId } from '../../engine/keep-alive/due';
import { MemoryTokenStore } from '../../engine/stores/memory';
import { COOLDOWN_BASE_MS, COOLDOWN_MAX_MS, cooldownMs } from '../../engine/refresh/policy';
import { CLIENT_SECRET, type ScriptedAnswer } from '../helpers/provider';
import { reportedStatus } from '../../engine/types';
import {
	describeLifecycleScenarios,
	FAILING_AFTER_MS,
	useLifecycleWorld,
} from './lifecycle-scenarios';

const memoryHarness = async () => {
	const store = new MemoryTokenStore();
	return { store, openSecond: async () => store.share(), teardown: async () => undefined };
};

describeLifecycleScenarios('in-memory store', memoryHarness);

const DAY_MS = 86_400_000;
let n = 0;
const freshId = (label: string) => `memory-lifecycle:${label}:${++n}`;

describe('transient failures and the cooldown, in detail', () => {
	const world = useLifecycleWorld(memoryHarness);
	const expiredConnection = async (label: string) => {
		const id = freshId(label);
		await world.authorize(id);
		await world.patch(id, { expiresAt: new Date(world.now - 1000) });
		return id;
	};

	test('the cooldown doubles from 30 s and stops at 10 min', () => {
		expect([1, 2, 3, 4, 5, 6, 7, 30].map(cooldownMs)).toEqual(
			[30, 60, 120, 240, 480, 600, 600, 600].map((s) => s * 1000),
		);
		expect([COOLDOWN_BASE_MS, COOLDOWN_MAX_MS]).toEqual([30_000, 600_000]);
	});

	test.each<[string, ScriptedAnswer]>([
		['a network error', 'network-error'],
		['HTTP 500', { status: 500, body: { error: 'server_error' } }],
		['HTTP 429', { status: 429, body: { error: 'rate_limited' } }],
	])(
		'%s is transient: counted, and the next call within the cooldown does not ask the provider',
		async (_label, answer) => {
			const id = await expiredConnection('transient');
			world.provider.state.answer = () => answer;
			await expect(world.manager().getValidToken(id)).rejects.toThrow();
			expect((await world.store.get(id))!).toMatchObject({ failureCount: 1, status: 'active' });
			await expect(world.manager().getValidToken(id)).rejects.toThrow(ProviderFailingError);
			expect(world.provider.of('refresh_token')).toHaveLength(1);
		},
	);

	test.each<[string, ScriptedAnswer]>([
		['invalid_client', { status: 401, body: { error: 'invalid_client' } }],
		['invalid_request', { status: 400, body: { error: 'invalid_request' } }],
		['a 200 without access_token', { status: 200, body: { token_type: 'Bearer' } }],
	])(
		'%s is not transient: counted and dated all the same, the base cooldown only (no backoff), then the provider is asked again',
		async (_label, answer) => {
			const id = await expiredConnection('permanent');
			world.provider.state.answer = () => answer;
			const startedAt = world.now;
			const error = await world
				.manager()
				.getValidToken(id)
				.catch((e) => e);
			expect((await world.store.get(id))!).toMatchObject({
				status: 'active',
				failureCount: 1,
				firstFailureAt: new Date(startedAt),
				nextAttemptAt: new Date(startedAt + COOLDOWN_BASE_MS),
				lastError: error.message,
			});
			// A burst of callers within the cooldown: none asks the provider.
			world.now += 1000;
			await expect(world.manager().getValidToken(id)).rejects.toThrow(ProviderFailingError);
			expect(world.provider.of('refresh_token')).toHaveLength(1);
			// Still refused after the cooldown: counted again, and the cooldown does not grow.
			world.now = startedAt + COOLDOWN_BASE_MS;
			await expect(world.manager().getValidToken(id)).rejects.toThrow(error.message);
			expect((await world.store.get(id))!).toMatchObject({
				failureCount: 2,
				firstFailureAt: new Date(startedAt),
				nextAttemptAt: new Date(world.now + COOLDOWN_BASE_MS),
				failingSince: null,
			});
			expect(world.provider.of('refresh_token')).toHaveLength(2);
		},
	);

	test('a refresh refused for a reason that is not transient, for longer than the failing period: failing', async () => {
		const id = await expiredConnection('permanent-failing');
		world.provider.state.answer = () => ({ status: 401, body: { error: 'invalid_client' } });
		const startedAt = world.now;
		await expect(world.manager().getValidToken(id)).rejects.toThrow(/invalid_client/);
		world.now = startedAt + FAILING_AFTER_MS;
		await expect(world.manager().getValidToken(id)).rejects.toThrow(/invalid_client/);
		const row = (await world.store.get(id))!;
		expect(row).toMatchObject({
			status: 'active',
			failureCount: 2,
			failingSince: new Date(world.now),
		});
		expect(reportedStatus(row)).toBe('failing');
	});

	test('a refresh token no configured key opens: counted and dated, the token kept as stored', async () => {
		const id = await expiredConnection('undecryptable');
		const stored = (await world.store.get(id))!;
		const other = world.manager({
			cipher: new TokenCipher('another-key-that-opens-nothing-01', [
				'lifecycle-test-encryption-key-0001',
			]),
		});
		await world.patch(id, {
			refreshToken: new TokenCipher('a-key-that-was-dropped-000000001').encrypt(
				'SENTINEL-lost',
				id,
				'refresh_token',
			),
		});
		const error = await other.getValidToken(id).catch((e) => e);
		expect(error).toBeInstanceOf(DecryptionError);
		const row = (await world.store.get(id))!;
		expect(row).toMatchObject({
			failureCount: 1,
			nextAttemptAt: new Date(world.now + COOLDOWN_BASE_MS),
			lastError: error.message,
			accessToken: expect.any(String),
		});
		expect(row.refreshToken).not.toBe(stored.refreshToken);
		expect(world.provider.of('refresh_token')).toHaveLength(0);
	});

	test('failingAfterMs 0: failing from the first transient failure', async () => {
		const id = await expiredConnection('failing-at-once');
		world.provider.state.answer = () => 'network-error';
		await expect(world.manager({ failingAfterMs: 0 }).getValidToken(id)).rejects.toThrow(
			/ECONNRESET/,
		);
		expect((await world.store.get(id))!.failingSince!.getTime()).toBe(world.now);
		expect(() => world.manager({ failingAfterMs: -1 })).toThrow(
			'The failing period (-1 ms) must be 0 or more',
		);
	});

	test('Refresh Token after an API refused the token: in the cooldown, a token already replaced is returned; the refused one is not refreshed', async () => {
		const id = await expiredConnection('failed-token');
		world.provider.state.answer = () => ({ status: 502, body: {} });
		await expect(
			world.manager().refreshToken(id, { failedAccessToken: 'SENTINEL-access-1' }),
		).rejects.toThrow(/HTTP 502/);
		await expect(
			world.manager().refreshToken(id, { failedAccessToken: 'SENTINEL-access-1' }),
		).rejects.toThrow(ProviderFailingError);
		const replaced = await world
			.manager()
			.refreshToken(id, { failedAccessToken: 'an-older-token' });
		expect(replaced).toMatchObject({
			refreshed: false,
			recovered: false,
			connection: { accessToken: 'SENTINEL-access-1' },
		});
		expect(world.provider.of('refresh_token')).toHaveLength(1);
	});
});

describe('client credentials, in detail', () => {
	const world = useLifecycleWorld(memoryHarness);

	test('Basic authentication by default, the client scopes when none are given; a refresh token in the answer is not kept', async () => {
		world.provider.state.answer = () => ({
			status: 200,
			body: {
				access_token: 'SENTINEL-access-cc',
				token_type: 'Bearer',
				expires_in: 600,
				refresh_token: 'SENTINEL-refresh-cc',
			},
		});
		const id = freshId('cc-basic');
		const { connection } = await world
			.manager({ client: { ...world.client, scopes: ['a', 'b'], scopeSeparator: ',' } })
			.connectClientCredentials(id);
		expect(world.provider.requests).toEqual([
			{
				form: { grant_type: 'client_credentials', scope: 'a,b' },
				authorization: basicAuthorization('client-id', CLIENT_SECRET),
			},
		]);
		expect(connection).toMatchObject({
			refreshToken: null,
			grantType: 'client_credentials',
			metadata: { 'request.scope': 'a,b' },
		});
	});

	test('replaces an authorization-code connection of the same id; Refresh Token after a refused token requests a new one', async () => {
		const id = freshId('cc-replaces');
		await world.authorize(id);
		const { connection } = await world.manager().connectClientCredentials(id, { scopes: [] });
		expect(connection).toMatchObject({
			grantType: 'client_credentials',
			refreshToken: null,
			refreshCount: 0,
			version: 2,
			metadata: {},
		});
		const renewed = await world
			.manager()
			.refreshToken(id, { failedAccessToken: connection.accessToken! });
		expect(renewed).toMatchObject({
			refreshed: true,
			connection: { accessToken: 'SENTINEL-access-3', refreshToken: null },
		});
		expect(world.provider.of('client_credentials')).toHaveLength(2);
		expect(world.provider.of('client_credentials')[1].form).toEqual({
			grant_type: 'client_credentials',
		});
	});

	test("invalid_grant on a renewal is the client's problem, not the account's: no needs_reauth, no consent link", async () => {
		const id = freshId('cc-invalid-grant');
		await world.manager().connectClientCredentials(id);
		world.provider.state.answer = () => ({ status: 400, body: { error: 'invalid_grant' } });
		const error = await world
			.manager()
			.refreshToken(id)
			.catch((e) => e);
		expect(error).not.toBeInstanceOf(NeedsReauthorizationError);
		expect(error.code).toBe('invalid_grant');
		expect((await world.store.get(id))!.status).toBe('active');
	});

	test('bad input is named before anything is sent', async () => {
		const m = world.manager();
		await expect(
			m.connectClientCredentials(freshId('cc-bad'), {
				extraParameters: { grant_type: 'password' },
			}),
		).rejects.toMatchObject({
			field: 'extraParameters',
			problem: 'cannot set "grant_type": the token manager sets it itself',
		});
		await expect(
			m.connectClientCredentials(freshId('cc-bad'), { extraParameters: { scope: 'x' } }),
		).rejects.toThrow('(use scopes)');
		await expect(
			m.connectClientCredentials(freshId('cc-bad'), { scopes: ['two words'] }),
		).rejects.toMatchObject({ field: 'scopes' });
		await expect(
			world
				.manager({ client: { ...world.client, clientSecret: '' } })
				.connectClientCredentials(freshId('cc-bad')),
		).rejects.toEqual(new MissingInputError('clientSecret'));
		await expect(m.connectClientCredentials('')).rejects.toThrow(MissingInputError);
		expect(world.provider.requests).toHaveLength(0);
	});
});

describe('Keep Alive, in detail', () => {
	const world = useLifecycleWorld(memoryHarness);
	const sweep = { expiresWithinSeconds: 300, idleAfterDays: 30 };

	test('one outcome per connection touched: refreshed (and recovered), cooldown (entered after the listing), failed, needs_reauth with a link; one failure never stops the sweep', async () => {
		const { provider } = world;
		const ids = {
			ok: freshId('ka-ok'),
			recovering: freshId('ka-recovering'),
			cooling: freshId('ka-cooling'),
			failing: freshId('ka-failing'),
			rejected: freshId('ka-rejected'),
		};
		const refreshTokens: Record<string, string> = {};
		for (const [name, id] of Object.entries(ids)) {
			refreshTokens[name] = await world.authorize(id);
			await world.patch(id, { expiresAt: new Date(world.now + 60_000) });
		}
		const failedAt = new Date(world.now - 40_000);
		await world.patch(ids.recovering, {
			failureCount: 2,
			firstFailureAt: failedAt,
			nextAttemptAt: new Date(world.now - 1),
			lastError: 'earlier',
		});
		provider.state.answer = (form) => {
			if (form.refresh_token === refreshTokens.failing) return { status: 504, body: {} };
			if (form.refresh_token === refreshTokens.rejected)
				return { status: 400, body: { error: 'invalid_grant' } };
			return provider.issue(form);
		};
		// Another process's refresh of ids.cooling fails just after the sweep listed it: it is in its cooldown when its turn comes.
		const list = world.store.list.bind(world.store);
		jest.spyOn(world.store, 'list').mockImplementationOnce(async (query) => {
			const listed = await list(query);
			await world.patch(ids.cooling, {
				failureCount: 1,
				firstFailureAt: failedAt,
				nextAttemptAt: new Date(world.now + 20_000),
				lastError: 'The token endpoint answered HTTP 503',
			});
			return listed;
		});

		const outcomes = await world.manager().keepAlive(sweep);
		jest.restoreAllMocks();
		const by = Object.fromEntries(outcomes.map((o) => [o.connectionId, o]));
		expect(outcomes).toHaveLength(5);
		expect(by[ids.ok]).toEqual({
			connectionId: ids.ok,
			outcome: 'refreshed',
			status: 'active',
			expiresAt: expect.any(Date),
		});
		expect(by[ids.recovering]).toMatchObject({
			outcome: 'refreshed',
			recovered: true,
			status: 'active',
		});
		expect(by[ids.cooling]).toEqual({
			connectionId: ids.cooling,
			outcome: 'cooldown',
			status: 'active',
			expiresAt: new Date(world.now + 60_000),
			nextAttemptAt: new Date(world.now + 20_000),
			error: {
				code: 'provider_failing',
				message: expect.stringMatching(
					/the provider is failing, next attempt at .* last: The token endpoint answered HTTP 503\)$/,
				),
			},
		});
		expect(by[ids.failing]).toEqual({
			connectionId: ids.failing,
			outcome: 'failed',
			status: 'active',
			expiresAt: new Date(world.now + 60_000),
			error: {
				code: 'token_endpoint_error',
				message: 'The token endpoint answered HTTP 504 without an OAuth error code: {}',
			},
		});
		expect(by[ids.rejected]).toMatchObject({
			outcome: 'needs_reauth',
			status: 'needs_reauth',
			error: { code: 'needs_reauth' },
		});
		expect(by[ids.rejected].reauthorizationUrl).toMatch(
			/^https:\/\/provider\.test\/oauth\/authorize\?/,
		);
		expect(provider.of('refresh_token')).toHaveLength(4);
		expect(JSON.stringify(outcomes)).not.toMatch(/SENTINEL/);

		// The next sweep touches none of them: the failed ones are in their cooldown, the others are fresh or need
		// re-authorization (none of them listed).
		expect(await world.manager().keepAlive(sweep)).toEqual([]);
		expect(provider.of('refresh_token')).toHaveLength(4);
	});

	test('at most `concurrency` refreshes at once, and all of them used; maxConnections stops the sweep', async () => {
		const { provider } = world;
		for (let i = 0; i < 12; i++) {
			const id = freshId(`ka-many-${String(i).padStart(2, '0')}`);
			await world.authorize(id);
			await world.patch(id, { lastRefreshedAt: new Date(world.now - 31 * DAY_MS) });
		}
		// First in id order, due, but another app's: neither touched nor counted.
		const otherApp = freshId('ka-a-other-app');
		await world.authorize(otherApp);
		await world.patch(otherApp, {
			lastRefreshedAt: new Date(world.now - 31 * DAY_MS),
			appFingerprint: appFingerprint({ ...world.client, clientId: 'another-client' }),
		});
		provider.state.delayMs = 40;
		provider.state.maxInFlight = 0;
		const limited = await world
			.manager()
			.keepAlive({ ...sweep, concurrency: 3, maxConnections: 5 });
		expect(limited).toHaveLength(5);
		expect(limited.map((o) => o.connectionId)).not.toContain(otherApp);
		expect(provider.state.maxInFlight).toBe(3);
		const rest = await world.manager().keepAlive({ ...sweep, concurrency: 4 });
		expect(rest).toHaveLength(7);
		expect(provider.state.maxInFlight).toBe(4);
		expect(new Set([...limited, ...rest].map((o) => o.outcome))).toEqual(new Set(['refreshed']));
		expect(await world.manager().keepAlive(sweep)).toEqual([]);
	});

	test('a limited run keeps where it stopped in a record of its own, never listed, and the next one carries on from there; a cursor the store refuses only repeats a start', async () => {
		const ids = [0, 1, 2, 3, 4].map((i) => freshId(`ka-cursor-${i}`));
		for (const id of ids) {
			await world.authorize(id);
			await world.patch(id, { lastRefreshedAt: new Date(world.now - 31 * DAY_MS) });
		}
		// Refused for good (not transient): runs far enough apart find every cooldown over, so every connection stays due.
		world.provider.state.answer = () => ({ status: 401, body: { error: 'invalid_client' } });
		const run = async () => {
			for (const id of ids) await world.patch(id, { nextAttemptAt: null });
			return (await world.manager().keepAlive({ ...sweep, maxConnections: 2 })).map((o) => [
				o.connectionId,
				o.outcome,
			]);
		};
		const failed = (...picked: number[]) => picked.map((i) => [ids[i], 'failed']);
		expect(await run()).toEqual(failed(0, 1));
		expect(await run()).toEqual(failed(2, 3));
		// After the last one, round to the first (outcomes come in id order).
		expect(await run()).toEqual(failed(0, 4));

		const cursorId = keepAliveCursorId(world.client.id, appFingerprint(world.client));
		expect(await world.store.get(cursorId)).toMatchObject({
			provider: KEEP_ALIVE_CURSOR_PROVIDER,
			status: 'revoked',
			accessToken: null,
			refreshToken: null,
			metadata: { after: ids[0] },
		});
		expect((await world.store.list({ limit: 1000 })).map((row) => row.connectionId)).not.toContain(
			cursorId,
		);

		const update = world.store.update.bind(world.store);
		jest
			.spyOn(world.store, 'update')
			.mockImplementation((id, version, fields) =>
				id === cursorId ? Promise.reject(new Error('refused')) : update(id, version, fields),
			);
		expect(await run()).toEqual(failed(1, 2));
		expect(await run()).toEqual(failed(1, 2));
		jest.restoreAllMocks();
	});

	test('bad options are named', async () => {
		const m = world.manager();
		await expect(m.keepAlive({ ...sweep, expiresWithinSeconds: -1 })).rejects.toMatchObject({
			field: 'expiresWithinSeconds',
		});
		await expect(m.keepAlive({ ...sweep, idleAfterDays: 0 })).rejects.toMatchObject({
			field: 'idleAfterDays',
		});
		await expect(m.keepAlive({ ...sweep, concurrency: 0 })).rejects.toMatchObject({
			field: 'concurrency',
		});
		await expect(m.keepAlive({ ...sweep, concurrency: 2.5 })).rejects.toMatchObject({
			field: 'concurrency',
		});
		await expect(m.keepAlive({ ...sweep, maxConnections: 0 })).rejects.toMatchObject({
			field: 'maxConnections',
		});
		await expect(
			world.manager({ client: { ...world.client, tokenUrl: '' } }).keepAlive(sweep),
		).rejects.toEqual(new MissingInputError('tokenUrl'));
	});
});
