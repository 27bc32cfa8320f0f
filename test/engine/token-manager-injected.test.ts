/**
 * TokenManager with what a test may inject instead of hooks: a token endpoint, a clock and a refresh registry,
 * on the in-memory store. The token endpoint stands for the remote provider only: it issues numbered tokens and
 * records the grants and limits it received.
 */
import { TokenCipher } from '../../engine/crypto';
import { StoreError } from '../../engine/errors';
import { RefreshRegistry } from '../../engine/refresh/coordinator';
import type { TokenStore } from '../../engine/store';
import { MemoryTokenStore } from '../../engine/stores/memory';
import type { Grant } from '../../engine/oauth';
import { EXPIRY_MARGIN_MS } from '../../engine/sealing';
import { TokenManager, type TokenManagerOptions } from '../../engine/token-manager';
import { type TokenEndpoint } from '../../engine/engine-parts';
import { testClient } from '../helpers/provider';

const KEY = 'injected-test-encryption-key-0001';
let store: MemoryTokenStore;
let n = 0;

beforeEach(() => {
	store = new MemoryTokenStore();
});

/** A provider that issues access-N / refresh-N living `expiresIn` seconds, stamped with `now()`. */
function provider(options: { expiresIn?: number; now?: () => number } = {}) {
	const received: Array<{ grant: Grant; deadline?: number; at: number }> = [];
	let issued = 0;
	const endpoint: TokenEndpoint = async (grant, limits) => {
		received.push({ grant, deadline: limits.deadline, at: Date.now() });
		issued += 1;
		return {
			accessToken: `access-${issued}`,
			tokenType: 'Bearer',
			expiresIn: options.expiresIn ?? 3600,
			refreshToken: `refresh-${issued}`,
			scope: null,
			extra: {},
			warning: null,
			requestedAt: new Date((options.now ?? Date.now)()),
		};
	};
	return {
		endpoint,
		received,
		refreshes: () => received.filter((r) => r.grant.grant_type === 'refresh_token'),
	};
}

function manager(options: Partial<TokenManagerOptions> = {}) {
	return new TokenManager({
		store,
		cipher: new TokenCipher(KEY),
		client: testClient(),
		pollIntervalMs: 5,
		...options,
	});
}

async function authorized(
	tokenEndpoint: TokenEndpoint,
	options: Partial<TokenManagerOptions> = {},
): Promise<string> {
	const id = `injected:${++n}`;
	await manager({ tokenEndpoint, ...options }).exchangeAuthorizationCode(id, {
		code: `code-${id}`,
		allowMissingState: true,
	});
	return id;
}

describe('an injected clock', () => {
	test('decides expiry and stamps the refresh: a clock 3400 s ahead refreshes a token the wall clock finds fresh', async () => {
		const provided = provider();
		const id = await authorized(provided.endpoint);
		// 3600 s token: by the wall clock about 3598 s are left; by a clock 3400 s ahead, about 198 s, within 300 s.
		const ahead = () => Date.now() + 3400_000;
		expect((await manager({ tokenEndpoint: provided.endpoint }).getValidToken(id)).refreshed).toBe(
			false,
		);
		const result = await manager({ tokenEndpoint: provided.endpoint, clock: ahead }).getValidToken(
			id,
			{ minValiditySeconds: 300 },
		);
		expect(result).toMatchObject({
			refreshed: true,
			connection: { accessToken: 'access-2', refreshToken: 'refresh-2', refreshCount: 1 },
		});
		expect(result.connection.lastRefreshedAt!.getTime()).toBeGreaterThanOrEqual(
			Date.now() + 3400_000 - 1000,
		);
		expect(provided.refreshes()).toHaveLength(1);
	});

	test("expires_at counts from the provider's requestedAt, less the margin, whatever the clock says", async () => {
		const issuedAt = Date.UTC(2030, 5, 1, 8, 0, 0);
		const provided = provider({ expiresIn: 300, now: () => issuedAt });
		const id = await authorized(provided.endpoint, { clock: () => issuedAt });
		const { connection, minValidity } = await manager({
			tokenEndpoint: provided.endpoint,
			clock: () => issuedAt + 60_000,
		}).getValidToken(id, {
			minValiditySeconds: 300,
		});
		expect(connection.expiresAt!.getTime()).toBe(issuedAt + 300_000 - EXPIRY_MARGIN_MS);
		expect(connection.tokenIssuedAt!.getTime()).toBe(issuedAt);
		// Lifetime 298 s, so Minimum Validity 300 s is capped to 149 s; 238 s are left at the injected time.
		expect(minValidity).toEqual({ effectiveSeconds: 149, capped: true });
		expect(provided.refreshes()).toHaveLength(0);
		expect(
			(
				await manager({
					tokenEndpoint: provided.endpoint,
					clock: () => issuedAt + 150_000,
				}).getValidToken(id, { minValiditySeconds: 300 })
			).refreshed,
		).toBe(true);
	});
});

describe('an injected token endpoint', () => {
	test('gets the code grant without a deadline and the refresh grant with the refresh deadline, which ends inside the lease', async () => {
		const provided = provider();
		const id = await authorized(provided.endpoint);
		await manager({
			tokenEndpoint: provided.endpoint,
			leaseTtlMs: 9000,
			refreshDeadlineMs: 4000,
		}).refreshToken(id);
		const [exchange, refresh] = provided.received;
		expect(exchange.grant).toEqual({
			grant_type: 'authorization_code',
			code: `code-${id}`,
			redirect_uri: 'https://n8n.test/webhook/oauth/callback',
		});
		expect(exchange.deadline).toBeUndefined();
		expect(refresh.grant).toEqual({ grant_type: 'refresh_token', refresh_token: 'refresh-1' });
		expect(refresh.deadline! - refresh.at).toBeGreaterThan(3000);
		expect(refresh.deadline! - refresh.at).toBeLessThanOrEqual(4000);
	});
});

describe('a refresh registry of its own', () => {
	test("a write the store refused is kept by the registry of the manager that refreshed, and written by that registry's next call only", async () => {
		const provided = provider();
		const id = await authorized(provided.endpoint);
		const kept = new RefreshRegistry();
		let refusing = true;
		const refusingStore = new Proxy(store, {
			get(target, name, receiver) {
				const value = Reflect.get(target, name, receiver);
				if (typeof value !== 'function') return value;
				if (name !== 'update') return value.bind(target);
				return async (...args: Parameters<TokenStore['update']>) => {
					if (refusing) throw new StoreError('the table refused the write');
					return target.update(...args);
				};
			},
		});
		const error = await manager({
			store: refusingStore,
			tokenEndpoint: provided.endpoint,
			refreshRegistry: kept,
			saveRetries: 0,
		})
			.refreshToken(id)
			.catch((e) => e);
		expect(error).toBeInstanceOf(StoreError);
		expect(error.description).toMatch(/kept in memory/);
		refusing = false;

		// A manager with another registry (as in another process) does not see the kept tokens: it reads the old ones.
		const elsewhere = await manager({
			tokenEndpoint: provided.endpoint,
			refreshRegistry: new RefreshRegistry(),
		}).getValidToken(id);
		expect(elsewhere).toMatchObject({
			refreshed: false,
			connection: { accessToken: 'access-1', refreshToken: 'refresh-1' },
		});
		// The registry that kept them writes them before anything else; no second refresh.
		const here = await manager({
			tokenEndpoint: provided.endpoint,
			refreshRegistry: kept,
		}).getValidToken(id);
		expect(here).toMatchObject({
			refreshed: false,
			connection: { accessToken: 'access-2', refreshToken: 'refresh-2', refreshCount: 1 },
		});
		expect(provided.refreshes()).toHaveLength(1);
	});

	test('managers on one registry share one flight: 30 concurrent Get Valid Token on an expired token make one refresh', async () => {
		const registry = new RefreshRegistry();
		let release: () => void = () => undefined;
		const gate = new Promise<void>((resolve) => (release = resolve));
		const provided = provider();
		const slow: TokenEndpoint = async (grant, limits) => {
			if (grant.grant_type === 'refresh_token') await gate;
			return provided.endpoint(grant, limits);
		};
		const id = await authorized(slow);
		let leaseAttempts = 0;
		const counting = new Proxy(store, {
			get(target, name, receiver) {
				const value = Reflect.get(target, name, receiver);
				if (typeof value !== 'function') return value;
				if (name === 'acquireLease') leaseAttempts += 1;
				return value.bind(target);
			},
		});
		const later = () => Date.now() + 7200_000;
		const calls = Array.from({ length: 30 }, () =>
			manager({
				store: counting,
				tokenEndpoint: slow,
				refreshRegistry: registry,
				clock: later,
			}).getValidToken(id),
		);
		await new Promise((resolve) => setTimeout(resolve, 50));
		release();
		const results = await Promise.all(calls);
		expect(provided.refreshes()).toHaveLength(1);
		expect(new Set(results.map((r) => r.connection.accessToken))).toEqual(new Set(['access-2']));
		// The 29 others joined the flight: only one caller asked the store for the lease.
		expect(leaseAttempts).toBe(1);
	});
});
