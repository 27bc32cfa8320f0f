import nock from 'nock';
import { TokenCipher } from '../../engine/crypto';
import {
	ConnectionNotFoundError,
	InvalidInputError,
	NeedsReauthorizationError,
	StoreError,
} from '../../engine/errors';
import type { PostgresTokenStore } from '../../engine/stores/postgres';
import { appFingerprint } from '../../engine/presets';
import { EXPIRY_MARGIN_MS } from '../../engine/sealing';
import { TokenManager, type TokenManagerOptions } from '../../engine/token-manager';
import type { TemporaryPostgresDatabase } from '../../tools/temporary-database';
import { usePostgresStoreWithNock } from '../helpers/postgres-store';
import { CLIENT_SECRET, rotatingTokenEndpoint, testClient } from '../helpers/provider';
import { afterRefreshAnswer } from '../helpers/token-endpoint';

const KEY = 'test-token-encryption-key-0001';
let db: TemporaryPostgresDatabase;
let store: PostgresTokenStore;

function manager(options: Partial<TokenManagerOptions> = {}) {
	return new TokenManager({
		store,
		cipher: new TokenCipher(KEY),
		client: testClient(),
		endpoint: { retryBaseDelayMs: 1 },
		pollIntervalMs: 10,
		...options,
	});
}

/** Authorizes `id` through a code exchange; the endpoint's first tokens are SENTINEL-access-1 / SENTINEL-refresh-1. */
async function authorize(id: string, m = manager()) {
	// These cases are about tokens, not the callback's state (test/engine/authorization.db.test.ts covers that).
	return m.exchangeAuthorizationCode(id, { code: `code-for-${id}`, allowMissingState: true });
}

async function expire(id: string) {
	await db.sql(
		`update oauth2_tokens set expires_at = now() - interval '1 second' where connection_id = $1`,
		[id],
	);
}

usePostgresStoreWithNock((d, s) => {
	db = d;
	store = s;
});

describe('Exchange Authorization Code', () => {
	it('stores the tokens encrypted, with expiry and api_domain, and sends the redirect URI', async () => {
		const endpoint = rotatingTokenEndpoint();
		const before = Date.now();
		const { connection } = await authorize('pipedrive:acme');
		expect(endpoint.requests).toHaveLength(1);
		expect(endpoint.requests[0]).toMatchObject({
			grant_type: 'authorization_code',
			code: 'code-for-pipedrive:acme',
			redirect_uri: 'https://n8n.test/webhook/oauth/callback',
		});
		expect(connection).toMatchObject({
			connectionId: 'pipedrive:acme',
			provider: 'pipedrive',
			status: 'active',
			accessToken: 'SENTINEL-access-1',
			refreshToken: 'SENTINEL-refresh-1',
			scope: 'base deals:read',
			metadata: { api_domain: 'https://acme.pipedrive.test' },
			version: 1,
		});
		expect(connection.expiresAt!.getTime()).toBeGreaterThanOrEqual(
			before + 3600_000 - EXPIRY_MARGIN_MS,
		);

		const [raw] = await db.sql(
			`select * from oauth2_tokens where connection_id = 'pipedrive:acme'`,
		);
		const rawText = JSON.stringify(raw);
		expect(rawText).not.toContain('SENTINEL');
		expect(raw.access_token).toMatch(/^enc:v1:/);
		expect(raw.refresh_token).toMatch(/^enc:v1:/);
	});

	it('keeps two connection ids apart, and a re-authorization replaces only its own tokens', async () => {
		rotatingTokenEndpoint();
		await authorize('pipedrive:one');
		await authorize('pipedrive:two');
		await store.update('pipedrive:one', (await store.get('pipedrive:one'))!.version, {
			status: 'needs_reauth',
			lastError: 'x',
		});
		const again = await authorize('pipedrive:one');
		expect(again.connection).toMatchObject({
			status: 'active',
			accessToken: 'SENTINEL-access-3',
			lastError: null,
			version: 3,
		});
		const two = await manager().getValidToken('pipedrive:two');
		expect(two.connection.accessToken).toBe('SENTINEL-access-2');
	});

	it('records when the tokens were requested (token_issued_at) and which app issued them (app_fingerprint), at exchange and refresh', async () => {
		rotatingTokenEndpoint({ delayMs: 300 });
		const beforeExchange = Date.now();
		const { connection } = await authorize('issued-at');
		// The moment the request was sent, not when the slow answer arrived.
		expect(connection.tokenIssuedAt!.getTime()).toBeGreaterThanOrEqual(beforeExchange);
		expect(connection.tokenIssuedAt!.getTime()).toBeLessThan(beforeExchange + 250);
		expect(connection.appFingerprint).toBe(appFingerprint(testClient()));
		expect(connection.appFingerprint).toMatch(
			/^v1:[0-9a-f]{32} https:\/\/provider\.test\/oauth\/token …t-id$/,
		);
		const [raw] = await db.sql<{ app_fingerprint: string; token_issued_at: Date }>(
			`select app_fingerprint, token_issued_at from oauth2_tokens where connection_id = 'issued-at'`,
		);
		expect(raw.token_issued_at).toEqual(connection.tokenIssuedAt);
		expect(raw.app_fingerprint).not.toContain('client-id');

		await expire('issued-at');
		const beforeRefresh = Date.now();
		const refreshed = await manager().getValidToken('issued-at');
		expect(refreshed.refreshed).toBe(true);
		expect(refreshed.connection.tokenIssuedAt!.getTime()).toBeGreaterThanOrEqual(beforeRefresh);
		expect(refreshed.connection.tokenIssuedAt!.getTime()).toBeLessThan(beforeRefresh + 250);
		expect(refreshed.connection.lastRefreshedAt!.getTime()).toBeGreaterThanOrEqual(
			refreshed.connection.tokenIssuedAt!.getTime() + 290,
		);
	});

	it('names the field for bad input before calling the provider', async () => {
		await expect(manager().exchangeAuthorizationCode('', { code: 'x' })).rejects.toThrow(
			InvalidInputError,
		);
		await expect(manager().exchangeAuthorizationCode('id', { code: ' ' })).rejects.toMatchObject({
			field: 'code',
			problem: 'is empty',
		});
		await expect(
			manager().exchangeAuthorizationCode('x'.repeat(256), { code: 'c' }),
		).rejects.toThrow(/maximum is 255/);
		await expect(
			manager({ client: testClient({ redirectUri: '' }) }).exchangeAuthorizationCode('id', {
				code: 'c',
			}),
		).rejects.toMatchObject({ field: 'redirectUri', problem: 'is empty' });
	});
});

describe('Get Valid Token', () => {
	it('returns the stored token while it stays valid longer than the minimum validity', async () => {
		const endpoint = rotatingTokenEndpoint();
		await authorize('fresh');
		const result = await manager().getValidToken('fresh', { minValiditySeconds: 300 });
		expect(result).toMatchObject({
			refreshed: false,
			connection: { accessToken: 'SENTINEL-access-1' },
		});
		expect(endpoint.refreshRequests()).toHaveLength(0);
		// A token that expires within the minimum validity is refreshed first (here: 200 s left of 3600 s).
		await db.sql(
			`update oauth2_tokens set token_issued_at = now() - interval '3400 seconds', expires_at = now() + interval '200 seconds' where connection_id = 'fresh'`,
		);
		const refreshed = await manager().getValidToken('fresh', { minValiditySeconds: 300 });
		expect(refreshed).toMatchObject({
			refreshed: true,
			connection: {
				accessToken: 'SENTINEL-access-2',
				refreshToken: 'SENTINEL-refresh-2',
				refreshCount: 1,
			},
		});
		expect(refreshed.minValidity).toEqual({ effectiveSeconds: 300, capped: false });
	});

	it("caps the minimum validity to half the token's lifetime: a token that lives no longer than it is not refreshed again at once", async () => {
		const endpoint = rotatingTokenEndpoint({ expiresIn: 300 });
		await authorize('short-lived');
		for (let call = 0; call < 3; call++) {
			const result = await manager().getValidToken('short-lived', { minValiditySeconds: 300 });
			expect(result).toMatchObject({
				refreshed: false,
				connection: { accessToken: 'SENTINEL-access-1' },
			});
			// 300 s from the request, less the expiry margin, halved.
			expect(result.minValidity).toEqual({
				effectiveSeconds: Math.floor((300_000 - EXPIRY_MARGIN_MS) / 2000),
				capped: true,
			});
		}
		expect(endpoint.refreshRequests()).toHaveLength(0);
		// Past half its lifetime, the capped minimum validity asks for a refresh.
		await db.sql(
			`update oauth2_tokens set token_issued_at = now() - interval '200 seconds', expires_at = now() + interval '100 seconds' where connection_id = 'short-lived'`,
		);
		const refreshed = await manager().getValidToken('short-lived', { minValiditySeconds: 300 });
		expect(refreshed).toMatchObject({
			refreshed: true,
			connection: { accessToken: 'SENTINEL-access-2' },
		});
		expect(endpoint.refreshRequests()).toHaveLength(1);
		// Rows written before token_issued_at existed: the lifetime counts from last_refreshed_at; without it, no cap.
		await db.sql(
			`update oauth2_tokens set token_issued_at = null where connection_id = 'short-lived'`,
		);
		expect(
			(await manager().getValidToken('short-lived', { minValiditySeconds: 300 })).minValidity
				.capped,
		).toBe(true);
		await db.sql(
			`update oauth2_tokens set last_refreshed_at = null where connection_id = 'short-lived'`,
		);
		expect(
			(await manager().getValidToken('short-lived', { minValiditySeconds: 300 })).refreshed,
		).toBe(true);
		expect(endpoint.refreshRequests()).toHaveLength(2);
	});

	it('treats a token without expires_in as valid until a refresh is asked for', async () => {
		const endpoint = rotatingTokenEndpoint({ expiresIn: '' });
		await authorize('no-expiry');
		const result = await manager().getValidToken('no-expiry', { minValiditySeconds: 1e9 });
		expect(result.refreshed).toBe(false);
		expect(result.connection.expiresAt).toBeNull();
		expect(endpoint.refreshRequests()).toHaveLength(0);
	});

	it('50 concurrent calls on an expired token make exactly one token request and all get the new token', async () => {
		const endpoint = rotatingTokenEndpoint({ delayMs: 50 });
		await authorize('expired');
		await expire('expired');
		const results = await Promise.all(
			Array.from({ length: 50 }, () => manager().getValidToken('expired')),
		);
		expect(endpoint.refreshRequests()).toHaveLength(1);
		expect(new Set(results.map((r) => r.connection.accessToken))).toEqual(
			new Set(['SENTINEL-access-2']),
		);
		expect(results.every((r) => r.refreshed)).toBe(true);
		const stored = await manager().getValidToken('expired');
		expect(stored.connection).toMatchObject({
			refreshToken: 'SENTINEL-refresh-2',
			refreshCount: 1,
		});
	});

	it('waits for a lease another process holds and takes the token it wrote', async () => {
		const endpoint = rotatingTokenEndpoint();
		await authorize('leased');
		await expire('leased');
		expect(await store.acquireLease('leased', 'other-process', 10_000)).toBe(true);
		const waiting = manager().getValidToken('leased');
		await new Promise((r) => setTimeout(r, 100));
		// The other process finishes: it writes its new token (an update releases the lease).
		const row = (await store.get('leased'))!;
		await store.update('leased', row.version, {
			accessToken: new TokenCipher(KEY).encrypt('from-other-process', 'leased', 'access_token'),
			expiresAt: new Date(Date.now() + 3600_000),
			refreshCount: row.refreshCount + 1,
		});
		const result = await waiting;
		expect(result).toMatchObject({
			refreshed: true,
			connection: { accessToken: 'from-other-process' },
		});
		expect(endpoint.refreshRequests()).toHaveLength(0);
	});

	it('takes over a lease whose holder died once it expires', async () => {
		const endpoint = rotatingTokenEndpoint();
		await authorize('dead-holder');
		await expire('dead-holder');
		expect(await store.acquireLease('dead-holder', 'dead-process', 300)).toBe(true);
		const started = Date.now();
		const result = await manager().getValidToken('dead-holder');
		expect(Date.now() - started).toBeGreaterThanOrEqual(250);
		expect(result.connection.accessToken).toBe('SENTINEL-access-2');
		expect(endpoint.refreshRequests()).toHaveLength(1);
	});

	it('fails with a clear error when the connection does not exist', async () => {
		await expect(manager().getValidToken('missing')).rejects.toThrow(ConnectionNotFoundError);
		await expect(manager().getValidToken('missing')).rejects.toThrow(
			`No connection "missing" in ${store.description}`,
		);
		expect(store.description).toMatch(/^PostgreSQL table \S+ on /);
	});
});

describe('Refresh Token', () => {
	it('20 callers refreshing after a 401 with the same stale token make one request; a late one makes none', async () => {
		const endpoint = rotatingTokenEndpoint({ delayMs: 30 });
		await authorize('stale');
		const results = await Promise.all(
			Array.from({ length: 20 }, () =>
				manager().refreshToken('stale', { failedAccessToken: 'SENTINEL-access-1' }),
			),
		);
		expect(endpoint.refreshRequests()).toHaveLength(1);
		expect(new Set(results.map((r) => r.connection.accessToken))).toEqual(
			new Set(['SENTINEL-access-2']),
		);
		const late = await manager().refreshToken('stale', { failedAccessToken: 'SENTINEL-access-1' });
		expect(late).toMatchObject({
			refreshed: false,
			connection: { accessToken: 'SENTINEL-access-2' },
		});
		expect(endpoint.refreshRequests()).toHaveLength(1);
	});

	it('force refreshes even when the token is fresh', async () => {
		const endpoint = rotatingTokenEndpoint();
		await authorize('forced');
		const result = await manager().refreshToken('forced', {
			failedAccessToken: 'not-the-stored-one',
			force: true,
		});
		expect(result).toMatchObject({
			refreshed: true,
			connection: { accessToken: 'SENTINEL-access-2' },
		});
		expect(endpoint.refreshRequests()).toHaveLength(1);
	});

	it('keeps the old refresh token when the provider does not return one, stores the new one when it does', async () => {
		rotatingTokenEndpoint({ rotate: false });
		await authorize('no-rotation');
		const kept = await manager().refreshToken('no-rotation');
		expect(kept.connection).toMatchObject({
			accessToken: 'SENTINEL-access-2',
			refreshToken: 'SENTINEL-refresh-1',
		});
		nock.cleanAll();
		rotatingTokenEndpoint();
		await authorize('rotation');
		const rotated = await manager().refreshToken('rotation');
		expect(rotated.connection.refreshToken).toBe('SENTINEL-refresh-2');
	});

	it('invalid_grant marks the connection needs_reauth; later calls fail fast until a new exchange', async () => {
		const endpoint = rotatingTokenEndpoint();
		await authorize('revoked-at-provider');
		await db.sql(`update oauth2_tokens set refresh_token = $2 where connection_id = $1`, [
			'revoked-at-provider',
			new TokenCipher(KEY).encrypt(
				'a-refresh-token-the-provider-forgot',
				'revoked-at-provider',
				'refresh_token',
			),
		]);
		const error = await manager()
			.refreshToken('revoked-at-provider')
			.catch((e) => e);
		expect(error).toBeInstanceOf(NeedsReauthorizationError);
		expect(error.message).toBe(
			'Connection "revoked-at-provider" must be re-authorized: the provider rejected its refresh token (invalid_grant)',
		);
		expect((await store.get('revoked-at-provider'))!.status).toBe('needs_reauth');
		const requestsSoFar = endpoint.requests.length;
		await expire('revoked-at-provider');
		await expect(manager().getValidToken('revoked-at-provider')).rejects.toThrow(
			NeedsReauthorizationError,
		);
		await expect(manager().refreshToken('revoked-at-provider', { force: true })).rejects.toThrow(
			NeedsReauthorizationError,
		);
		expect(endpoint.requests).toHaveLength(requestsSoFar);
		const again = await authorize('revoked-at-provider');
		expect(again.connection.status).toBe('active');
		expect((await manager().getValidToken('revoked-at-provider')).connection.status).toBe('active');
	});
});

describe('a store that fails after the provider rotated the refresh token', () => {
	it('keeps the new tokens in memory, says so without printing them, and writes them on the next call', async () => {
		const endpoint = rotatingTokenEndpoint();
		await authorize('store-down');
		const breakStore = async () => {
			await db.sql(`alter table oauth2_tokens rename to oauth2_tokens_away`);
		};
		const error = await manager({
			saveRetries: 1,
			tokenEndpoint: afterRefreshAnswer(testClient(), breakStore),
		})
			.refreshToken('store-down')
			.catch((e) => e);
		expect(error).toBeInstanceOf(StoreError);
		expect(error.message).toMatch(
			/^The provider issued new tokens for connection "store-down" but PostgreSQL table oauth2_tokens .* did not accept the write/,
		);
		expect(error.description).toMatch(/kept in memory/);
		expect(`${error.message} ${error.description}`).not.toMatch(/SENTINEL|enc:v1/);
		expect(`${error.message}`).not.toContain(CLIENT_SECRET);

		await db.sql(`alter table oauth2_tokens_away rename to oauth2_tokens`);
		// The old refresh token is dead at the provider; only the one kept in memory works.
		const next = await manager().getValidToken('store-down');
		expect(next.connection).toMatchObject({
			accessToken: 'SENTINEL-access-2',
			refreshToken: 'SENTINEL-refresh-2',
			refreshCount: 1,
		});
		expect(endpoint.refreshRequests()).toHaveLength(1);
		const again = await manager().refreshToken('store-down');
		expect(again.connection.refreshToken).toBe('SENTINEL-refresh-3');
	});
});
