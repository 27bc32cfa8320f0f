/**
 * The connection lifecycle through the engine, on any store: transient refresh failures and their cooldown, client
 * credentials connections, and Keep Alive swept by two "processes" at once (a TokenManager each, with its own store
 * instance and refresh registry, on one table). test/engine/lifecycle.test.ts runs them on the in-memory store,
 * test/stores/lifecycle.db.test.ts on every real store. The provider is a token endpoint under nock; the engine's clock
 * is injected, so cooldowns pass without waiting.
 */
import { TokenCipher } from '../../engine/crypto';
import {
	NeedsReauthorizationError,
	ProviderFailingError,
	TokenEndpointError,
} from '../../engine/errors';
import { appFingerprint, type OAuthClient } from '../../engine/presets';
import { RefreshRegistry } from '../../engine/refresh/coordinator';
import type { TokenStore } from '../../engine/store';
import { COOLDOWN_BASE_MS } from '../../engine/refresh/policy';
import { TokenManager, type TokenManagerOptions } from '../../engine/token-manager';
import { type KeepAliveOutcome } from '../../engine/types';
import { reportedStatus, type ConnectionFields } from '../../engine/types';
import { writeFromLatest } from '../../engine/versioned-write';
import {
	CLIENT_SECRET,
	PROVIDER_ORIGIN,
	scriptedTokenEndpoint,
	testClient,
} from '../helpers/provider';
import type { StoreHarness, StoreHarnessFactory } from '../stores/contract';

const KEY = 'lifecycle-test-encryption-key-0001';
export const FAILING_AFTER_MS = 60_000;
const DAY_MS = 86_400_000;
const SERVICE_UNAVAILABLE = {
	status: 503,
	body: { error: 'temporarily_unavailable', error_description: 'Try again later' },
};

let sequence = 0;
const freshId = (label: string) => `lifecycle:${label}:${++sequence}:${process.pid}`;

/** What a scenario needs: the table through two stores (two processes), the provider and the engine's clock. */
export interface LifecycleWorld {
	store: TokenStore;
	/** The same table through another store instance, with a refresh registry of its own: another process. */
	otherProcess(options?: Partial<TokenManagerOptions>): Promise<TokenManager>;
	provider: ReturnType<typeof scriptedTokenEndpoint>;
	/**
	 * The client of this test: a provider id of its own, so that Keep Alive (which lists one provider's connections)
	 * sees only this test's rows. Options' `client` overrides replace it.
	 */
	client: OAuthClient;
	/** The engine's clock (epoch ms); advance it to pass cooldowns. */
	now: number;
	manager(options?: Partial<TokenManagerOptions>): TokenManager;
	/** Authorizes `id` through a code exchange; returns the refresh token issued. */
	authorize(id: string): Promise<string>;
	/** Writes `fields` into the connection's row, as another writer would. */
	patch(id: string, fields: Partial<ConnectionFields>): Promise<void>;
}

/** A world set up afresh for each test (provider, clock, registry) on the harness's store, opened once for the file. */
export function useLifecycleWorld(factory: StoreHarnessFactory): LifecycleWorld {
	let harness: StoreHarness;
	let registry: RefreshRegistry;
	const world = {} as LifecycleWorld;
	beforeAll(async () => {
		harness = await factory();
	});
	afterAll(async () => {
		await harness?.teardown();
	});
	beforeEach(() => {
		registry = new RefreshRegistry();
		world.store = harness.store;
		world.now = Date.now();
		world.provider = scriptedTokenEndpoint();
		world.client = testClient({
			id: `lifecycle-${++sequence}`,
			authorizationUrl: `${PROVIDER_ORIGIN}/oauth/authorize`,
		});
	});
	afterEach(() => world.provider.stop());
	world.manager = (options = {}) =>
		new TokenManager({
			store: world.store,
			cipher: new TokenCipher(KEY),
			client: world.client,
			endpoint: { maxRetries: 0, retryBaseDelayMs: 1, timeoutMs: 5000 },
			pollIntervalMs: 10,
			clock: () => world.now,
			// Cooldowns are kept in the store's clock: here the same injected time, so they pass without waiting.
			databaseClock: async () => world.now,
			refreshRegistry: registry,
			failingAfterMs: FAILING_AFTER_MS,
			...options,
		});
	world.otherProcess = async (options = {}) => {
		if (!harness.openSecond) throw new Error('this harness cannot open a second store');
		return world.manager({
			store: await harness.openSecond(),
			refreshRegistry: new RefreshRegistry(),
			...options,
		});
	};
	world.authorize = async (id) => {
		const { connection } = await world
			.manager()
			.exchangeAuthorizationCode(id, { code: `code-${id}`, allowMissingState: true });
		return connection.refreshToken!;
	};
	world.patch = async (id, fields) => {
		await writeFromLatest(world.store, id, (row) => world.store.update(id, row!.version, fields));
	};
	return world;
}

export function describeLifecycleScenarios(name: string, factory: StoreHarnessFactory): void {
	describe(`${name}: connection lifecycle through the engine`, () => {
		const world = useLifecycleWorld(factory);
		const expire = (id: string) => world.patch(id, { expiresAt: new Date(world.now - 1000) });

		test('a transient failure is recorded under the lease; the cooldown spares the provider, across processes; failing after the period; recovered once', async () => {
			const { provider } = world;
			const id = freshId('cooldown');
			await world.authorize(id);
			await expire(id);
			provider.state.answer = () => SERVICE_UNAVAILABLE;
			const startedAt = world.now;

			const first = await world
				.manager()
				.getValidToken(id)
				.catch((e) => e);
			expect(first).toBeInstanceOf(TokenEndpointError);
			expect(first.message).toBe(
				'The token endpoint refused the request (HTTP 503): temporarily_unavailable – Try again later',
			);
			const afterFirst = (await world.store.get(id))!;
			expect(afterFirst).toMatchObject({
				status: 'active',
				failureCount: 1,
				lastError: first.message,
				failingSince: null,
				leaseHolder: null,
			});
			expect(afterFirst.firstFailureAt!.getTime()).toBe(startedAt);
			expect(afterFirst.nextAttemptAt!.getTime()).toBe(startedAt + COOLDOWN_BASE_MS);

			// Within the cooldown, in another process: no request, a clear error naming the next attempt and the last error.
			world.now += 10_000;
			const other = await world.otherProcess();
			const inCooldown = await other.getValidToken(id).catch((e) => e);
			expect(inCooldown).toBeInstanceOf(ProviderFailingError);
			expect(inCooldown.code).toBe('provider_failing');
			expect(inCooldown.message).toBe(
				`Connection "${id}": the provider is failing, next attempt at ${new Date(startedAt + COOLDOWN_BASE_MS).toISOString()} (1 failure(s) in a row, last: ${first.message})`,
			);
			// Refresh Token after an API refused the token, and a forced one, keep the cooldown too.
			await expect(
				other.refreshToken(id, { failedAccessToken: 'SENTINEL-access-1' }),
			).rejects.toThrow(ProviderFailingError);
			await expect(world.manager().refreshToken(id, { force: true })).rejects.toThrow(
				ProviderFailingError,
			);
			expect(provider.of('refresh_token')).toHaveLength(1);

			// After it: asked again; the second failure doubles the cooldown and keeps the first failure's time.
			world.now = startedAt + 31_000;
			await expect(other.getValidToken(id)).rejects.toThrow(/HTTP 503/);
			const afterSecond = (await world.store.get(id))!;
			expect(afterSecond).toMatchObject({ failureCount: 2, failingSince: null });
			expect(afterSecond.firstFailureAt!.getTime()).toBe(startedAt);
			expect(afterSecond.nextAttemptAt!.getTime()).toBe(world.now + 2 * COOLDOWN_BASE_MS);

			// Failing for longer than the failing period: reported as failing, and listed as such.
			world.now = startedAt + 92_000;
			await expect(world.manager().getValidToken(id)).rejects.toThrow(/HTTP 503/);
			const failing = (await world.store.get(id))!;
			expect(failing).toMatchObject({ status: 'active', failureCount: 3 });
			expect(failing.failingSince!.getTime()).toBe(world.now);
			expect(reportedStatus(failing)).toBe('failing');
			expect(
				(await world.store.list({ status: 'failing', idPrefix: id, limit: 5 })).map(
					(r) => r.connectionId,
				),
			).toEqual([id]);
			expect(provider.of('refresh_token')).toHaveLength(3);

			// The provider is back: one refresh for three callers that join it; only the one that made it hears of the recovery.
			world.now += 4 * COOLDOWN_BASE_MS + 1;
			provider.state.answer = provider.issue;
			provider.state.delayMs = 50;
			const results = await Promise.all(
				[world.manager(), world.manager(), world.manager()].map((m) => m.getValidToken(id)),
			);
			expect(provider.of('refresh_token')).toHaveLength(4);
			expect(results.map((r) => r.recovered).sort()).toEqual([false, false, true]);
			expect(new Set(results.map((r) => r.connection.accessToken)).size).toBe(1);
			const recovered = (await world.store.get(id))!;
			expect(recovered).toMatchObject({
				status: 'active',
				failureCount: 0,
				firstFailureAt: null,
				nextAttemptAt: null,
				failingSince: null,
				lastError: null,
			});
			expect(await other.getValidToken(id)).toMatchObject({ recovered: false, refreshed: false });
		});

		test('in the cooldown, a token that has not expired is served, saying so, with Minimum Validity relaxed; once expired, the error', async () => {
			const { provider } = world;
			const id = freshId('served');
			await world.authorize(id);
			// 20 s left of 3600 s: Minimum Validity 300 s wants a refresh.
			await world.patch(id, {
				expiresAt: new Date(world.now + 20_000),
				tokenIssuedAt: new Date(world.now - 3_580_000),
			});
			provider.state.answer = () => SERVICE_UNAVAILABLE;
			const startedAt = world.now;

			const served = await world.manager().getValidToken(id, { minValiditySeconds: 300 });
			expect(served).toMatchObject({
				refreshed: false,
				recovered: false,
				connection: { accessToken: 'SENTINEL-access-1' },
				minValidity: { effectiveSeconds: 20, capped: true },
			});
			expect(served.cooldown).toEqual({
				nextAttemptAt: new Date(startedAt + COOLDOWN_BASE_MS),
				failureCount: 1,
				lastError:
					'The token endpoint refused the request (HTTP 503): temporarily_unavailable – Try again later',
			});
			world.now += 10_000;
			const again = await (
				await world.otherProcess()
			).getValidToken(id, { minValiditySeconds: 300 });
			expect(again).toMatchObject({
				connection: { accessToken: 'SENTINEL-access-1' },
				minValidity: { effectiveSeconds: 10, capped: true },
			});
			expect(provider.of('refresh_token')).toHaveLength(1);

			world.now += 15_000;
			await expect(world.manager().getValidToken(id)).rejects.toThrow(ProviderFailingError);
			expect(provider.of('refresh_token')).toHaveLength(1);
		});

		test('invalid_grant after transient failures: needs_reauth, the failure bookkeeping cleared', async () => {
			const { provider } = world;
			const id = freshId('reauth-after-failures');
			await world.authorize(id);
			await expire(id);
			provider.state.answer = () => SERVICE_UNAVAILABLE;
			await expect(world.manager().getValidToken(id)).rejects.toThrow(/HTTP 503/);
			world.now += COOLDOWN_BASE_MS + 1;
			provider.state.answer = () => ({ status: 400, body: { error: 'invalid_grant' } });
			await expect(world.manager().getValidToken(id)).rejects.toThrow(NeedsReauthorizationError);
			expect((await world.store.get(id))!).toMatchObject({
				status: 'needs_reauth',
				failureCount: 0,
				firstFailureAt: null,
				nextAttemptAt: null,
				failingSince: null,
			});
		});

		test('client credentials: connect with scopes and extra parameters, renew with the same under the lease (one request for two processes), never needs_reauth', async () => {
			const { provider } = world;
			const id = freshId('client-credentials');
			const bodyAuth = {
				client: { ...world.client, clientAuthentication: 'body' as const, scopes: ['not-asked'] },
			};
			const { connection } = await world.manager(bodyAuth).connectClientCredentials(id, {
				scopes: ['read', 'write'],
				extraParameters: { audience: 'https://api.test' },
			});
			const expectedForm = {
				grant_type: 'client_credentials',
				scope: 'read write',
				audience: 'https://api.test',
				client_id: 'client-id',
				client_secret: CLIENT_SECRET,
			};
			expect(provider.requests.map((r) => r.form)).toEqual([expectedForm]);
			expect(connection).toMatchObject({
				grantType: 'client_credentials',
				provider: world.client.id,
				status: 'active',
				accessToken: 'SENTINEL-access-1',
				refreshToken: null,
			});
			expect(connection.metadata).toEqual({
				'request.scope': 'read write',
				'request.audience': 'https://api.test',
			});
			expect((await world.store.get(id))!).toMatchObject({
				grantType: 'client_credentials',
				refreshToken: null,
			});

			await expire(id);
			provider.state.delayMs = 50;
			const other = await world.otherProcess(bodyAuth);
			const results = await Promise.all(
				Array.from({ length: 10 }, (_, i) =>
					(i % 2 ? world.manager(bodyAuth) : other).getValidToken(id),
				),
			);
			expect(provider.requests.map((r) => r.form)).toEqual([expectedForm, expectedForm]);
			expect(new Set(results.map((r) => r.connection.accessToken))).toEqual(
				new Set(['SENTINEL-access-2']),
			);
			expect((await world.store.get(id))!).toMatchObject({
				refreshCount: 1,
				refreshToken: null,
				grantType: 'client_credentials',
			});

			// The client refused: a clear error with the provider's code, the connection stays active (no consent to ask for).
			await expire(id);
			provider.state.answer = () => ({
				status: 401,
				body: { error: 'invalid_client', error_description: 'Client authentication failed' },
			});
			const refused = await world
				.manager(bodyAuth)
				.getValidToken(id)
				.catch((e) => e);
			expect(refused).toBeInstanceOf(TokenEndpointError);
			expect(refused).not.toBeInstanceOf(NeedsReauthorizationError);
			expect(refused.code).toBe('invalid_client');
			expect(refused.description).toMatch(/client id and client secret/);
			expect((await world.store.get(id))!).toMatchObject({
				status: 'active',
				failureCount: 1,
				lastError: refused.message,
			});

			// A transient failure after the base cooldown: the same bookkeeping as a refresh.
			world.now += COOLDOWN_BASE_MS;
			provider.state.answer = () => SERVICE_UNAVAILABLE;
			await expect(world.manager(bodyAuth).getValidToken(id)).rejects.toThrow(/HTTP 503/);
			expect((await world.store.get(id))!).toMatchObject({ status: 'active', failureCount: 2 });
		});

		test('Keep Alive swept by two processes at once: each due connection refreshed exactly once; fresh ones, other apps and needs_reauth untouched', async () => {
			const { provider } = world;
			const due: string[] = [];
			for (let i = 0; i < 8; i++) {
				const id = freshId(`sweep-expiring-${i}`);
				await world.authorize(id);
				await world.patch(id, { expiresAt: new Date(world.now + 60_000) });
				due.push(id);
			}
			for (let i = 0; i < 4; i++) {
				const id = freshId(`sweep-idle-${i}`);
				await world.authorize(id);
				await world.patch(id, { lastRefreshedAt: new Date(world.now - 40 * DAY_MS) });
				due.push(id);
			}
			const cc = freshId('sweep-cc');
			await world.manager().connectClientCredentials(cc);
			await world.patch(cc, { expiresAt: new Date(world.now - 1000) });
			due.push(cc);
			const fresh = freshId('sweep-fresh');
			await world.authorize(fresh);
			const reauth = freshId('sweep-reauth');
			await world.authorize(reauth);
			await world.patch(reauth, { status: 'needs_reauth', expiresAt: new Date(world.now - 1000) });
			const otherApp = freshId('sweep-other-app');
			await world.authorize(otherApp);
			await world.patch(otherApp, {
				expiresAt: new Date(world.now - 1000),
				appFingerprint: appFingerprint(testClient({ clientId: 'another-client' })),
			});
			const untouched = await Promise.all(
				[fresh, reauth, otherApp].map(async (id) => (await world.store.get(id))!.version),
			);
			const requestsBefore = provider.requests.length;

			// The slower sweep lists every due connection at once, then finds most of them refreshed by the faster one by the
			// time it gets to them: the decision taken again under the lease skips those.
			provider.state.delayMs = 30;
			const options = { expiresWithinSeconds: 300, idleAfterDays: 30 };
			const other = await world.otherProcess();
			const [a, b] = await Promise.all([
				world.manager().keepAlive({ ...options, concurrency: 4 }),
				other.keepAlive({ ...options, concurrency: 1 }),
			]);

			expect(provider.requests.length - requestsBefore).toBe(due.length);
			const outcomes = [...a, ...b];
			for (const id of due) {
				const mine = outcomes.filter((o) => o.connectionId === id);
				expect(mine.filter((o) => o.outcome === 'refreshed')).toHaveLength(1);
				expect(mine.every((o) => o.outcome === 'refreshed' || o.outcome === 'skipped_fresh')).toBe(
					true,
				);
				expect(mine.find((o) => o.outcome === 'refreshed')).toMatchObject({ status: 'active' });
			}
			expect(new Set(outcomes.map((o) => o.connectionId))).toEqual(new Set(due));
			expect(b.filter((o) => o.outcome === 'skipped_fresh').length).toBeGreaterThan(due.length / 2);
			const refreshedOutcome = a.concat(b).find((o) => o.outcome === 'refreshed')!;
			expect(Object.keys(refreshedOutcome).sort()).toEqual([
				'connectionId',
				'expiresAt',
				'outcome',
				'status',
			]);
			expect(refreshedOutcome.expiresAt!.getTime()).toBeGreaterThan(world.now + 3000_000);
			expect(JSON.stringify(outcomes)).not.toMatch(/SENTINEL/);
			expect(
				await Promise.all(
					[fresh, reauth, otherApp].map(async (id) => (await world.store.get(id))!.version),
				),
			).toEqual(untouched);
			// In connection id order.
			expect(a.map((o) => o.connectionId)).toEqual(a.map((o) => o.connectionId).sort());
		});

		test('Keep Alive with Max Connections 3 behind three failing connections: the three healthy ones are refreshed within two runs', async () => {
			const { provider } = world;
			// The failing accounts' ids sort first; the provider answers their refreshes 503.
			const failing = [0, 1, 2].map((i) => freshId(`max-a-failing-${i}`));
			const healthy = [0, 1, 2].map((i) => freshId(`max-b-healthy-${i}`));
			const failingTokens = new Set<string>();
			for (const id of failing) failingTokens.add(await world.authorize(id));
			for (const id of healthy) await world.authorize(id);
			provider.state.answer = (form) =>
				failingTokens.has(form.refresh_token) ? SERVICE_UNAVAILABLE : provider.issue(form);
			const makeDue = (ids: string[]) =>
				Promise.all(ids.map((id) => world.patch(id, { expiresAt: new Date(world.now + 60_000) })));
			const limited = { expiresWithinSeconds: 300, idleAfterDays: 30, maxConnections: 3 };
			const touched = (outcomes: KeepAliveOutcome[]) =>
				outcomes.map((o) => [o.connectionId, o.outcome]);

			// Each failing one just failed a Refresh Token: all six due, the failing ones in their cooldown.
			await makeDue([...failing, ...healthy]);
			for (const id of failing)
				await expect(world.manager().refreshToken(id)).rejects.toThrow(/HTTP 503/);
			const inCooldown = await world.manager().keepAlive(limited);
			// Neither handed out nor counted: the provider is not asked for them, and the three places go to the healthy ones.
			expect(touched(inCooldown)).toEqual(healthy.map((id) => [id, 'refreshed']));
			expect(provider.of('refresh_token').length).toBe(3 + 3);

			// Runs 15 minutes apart, longer than any cooldown: before each, the failing ones may be asked again and the
			// healthy ones are due again. Two runs touch all six once.
			const laterRun = async () => {
				world.now += 15 * 60_000;
				await Promise.all(
					failing.map((id) =>
						world.patch(id, { nextAttemptAt: new Date(Math.min(Date.now(), world.now) - 1000) }),
					),
				);
				await makeDue(healthy);
				return world.manager().keepAlive(limited);
			};
			const [first, second] = [await laterRun(), await laterRun()];
			expect([...touched(first), ...touched(second)].sort()).toEqual(
				[...failing.map((id) => [id, 'failed']), ...healthy.map((id) => [id, 'refreshed'])].sort(),
			);
			expect([first.length, second.length]).toEqual([3, 3]);
		});
	});
}
