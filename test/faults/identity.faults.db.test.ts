/**
 * Whose tokens: stores, apps and re-authorizations that must never mix. Real PostgreSQL, providers under nock.
 *
 * - Two tenants on one database whose unqualified oauth2_tokens resolve to different schemas share a display
 *   text but not a table: each gets its own refresh and its own pending write.
 * - Two apps on one store: a connection authorized through app A is never refreshed, revoked or handed out
 *   through app B, and no request reaches either provider when B tries.
 * - A re-authorization whose code response omits refresh_token (RFC 6749 §5.1) keeps the stored one.
 */
import { randomBytes } from 'node:crypto';
import nock from 'nock';
import { Client } from 'pg';
import { TokenCipher } from '../../engine/crypto';
import { AppMismatchError, NeedsReauthorizationError, StoreError } from '../../engine/errors';
import { appFingerprint, resolveOAuthClient, type OAuthClient } from '../../engine/presets';
import { PostgresTokenStore } from '../../engine/stores/postgres';
import { TokenManager, type TokenManagerOptions } from '../../engine/token-manager';
import {
	createTemporaryPostgresDatabase,
	type TemporaryPostgresDatabase,
	TEST_POSTGRES_URL,
} from '../../tools/temporary-database';
import { usePostgresStoreWithNock } from '../helpers/postgres-store';
import { PROVIDER_ORIGIN, testClient } from '../helpers/provider';
import { afterRefreshAnswer } from '../helpers/token-endpoint';
import { describeEngineError } from '../../nodes/OAuth2TokenManager/actions/nodeErrors';

const KEY = 'identity-faults-encryption-key';
const cipher = new TokenCipher(KEY);

/**
 * A token endpoint (and revocation endpoint) under nock that names its tokens after itself and the account:
 * the code "code-<account>" and every refresh token of that account issue "<label>:<account>/access/<n>" and a
 * rotated "<label>:<account>/refresh/<n>"; a retired refresh token gets invalid_grant.
 */
function provider(origin: string, label: string, options: { delayMs?: number } = {}) {
	const tokenRequests: Array<Record<string, string>> = [];
	const revocations: Array<Record<string, string>> = [];
	const live = new Set<string>();
	const issued = new Map<string, number>();
	const state = { codeResponse: 'full' as 'full' | 'without refresh token and api_domain' };
	nock(origin)
		.persist()
		.post('/oauth/token')
		.delay(options.delayMs ?? 0)
		.reply((_uri, body) => {
			const form = Object.fromEntries(new URLSearchParams(body as string));
			tokenRequests.push(form);
			let account: string;
			if (form.grant_type === 'refresh_token') {
				if (!live.delete(form.refresh_token))
					return [
						400,
						{ error: 'invalid_grant', error_description: 'unknown or retired refresh token' },
					];
				account = form.refresh_token.slice(`${label}:`.length).split('/')[0];
			} else {
				account = form.code.replace(/^code-/, '');
			}
			const n = (issued.get(account) ?? 0) + 1;
			issued.set(account, n);
			const bare = form.grant_type === 'authorization_code' && state.codeResponse !== 'full';
			const refreshToken = `${label}:${account}/refresh/${n}`;
			if (!bare) live.add(refreshToken);
			return [
				200,
				{
					access_token: `${label}:${account}/access/${n}`,
					token_type: 'Bearer',
					expires_in: 3600,
					...(bare
						? {}
						: { refresh_token: refreshToken, api_domain: `https://${account}.${label}.test` }),
				},
			];
		});
	nock(origin)
		.persist()
		.post('/oauth/revoke')
		.reply((_uri, body) => {
			revocations.push(Object.fromEntries(new URLSearchParams(body as string)));
			return [200, ''];
		});
	return {
		tokenRequests,
		revocations,
		state,
		refreshRequests: () => tokenRequests.filter((r) => r.grant_type === 'refresh_token'),
	};
}

function manager(
	store: PostgresTokenStore,
	client: OAuthClient,
	options: Partial<TokenManagerOptions> = {},
) {
	return new TokenManager({
		store,
		cipher,
		client,
		endpoint: { retryBaseDelayMs: 1 },
		pollIntervalMs: 10,
		...options,
	});
}

async function expire(db: TemporaryPostgresDatabase, table: string, id: string) {
	await db.sql(
		`update ${table} set expires_at = now() - interval '1 second' where connection_id = $1`,
		[id],
	);
}

beforeAll(() => nock.disableNetConnect());
afterEach(() => nock.cleanAll());
afterAll(() => nock.enableNetConnect());

describe('two tenants on one database: unqualified oauth2_tokens resolves to a schema per user', () => {
	let db: TemporaryPostgresDatabase;
	const roles = ['a', 'b'].map(
		(tenant) => `oauth2tm_tenant_${tenant}_${randomBytes(4).toString('hex')}`,
	);
	const stores: PostgresTokenStore[] = [];
	let storeA: PostgresTokenStore;
	let storeB: PostgresTokenStore;

	beforeAll(async () => {
		db = await createTemporaryPostgresDatabase('oauth2tm_tenants');
		for (const role of roles) {
			// Each user's search_path ("$user", public) finds the schema named after it first.
			await db.sql(`create role "${role}" login; create schema "${role}" authorization "${role}"`);
		}
		const open = (role: string) => {
			const url = new URL(db.url);
			url.username = role;
			const store = new PostgresTokenStore({
				pool: { connectionString: url.toString() },
				createTableIfMissing: true,
			});
			stores.push(store);
			return store;
		};
		[storeA, storeB] = roles.map(open);
		// Each store creates its table, in its user's schema.
		await Promise.all([storeA.get('none'), storeB.get('none')]);
	});
	afterAll(async () => {
		await Promise.all(stores.map((s) => s.close()));
		await db?.drop();
		const admin = new Client({ connectionString: TEST_POSTGRES_URL });
		await admin.connect();
		try {
			for (const role of roles) await admin.query(`drop role if exists "${role}"`);
		} finally {
			await admin.end();
		}
	});

	test('the two stores look alike to the user but have different identities', async () => {
		expect(storeA.description).toBe(storeB.description);
		const [identityA, identityB] = await Promise.all([storeA.identity(), storeB.identity()]);
		expect(identityA).not.toBe(identityB);
		expect(identityA).toContain(roles[0]);
		expect(identityB).toContain(roles[1]);
		// Each table is in its user's schema.
		const tables = await db.sql<{ schema: string }>(
			`select table_schema as schema from information_schema.tables where table_name = 'oauth2_tokens' order by 1`,
		);
		expect(tables.map((t) => t.schema)).toEqual([...roles].sort());
	});

	test('same connection id, both expired, 10 concurrent Get Valid Token on each: each tenant gets its own refresh and token', async () => {
		const endpoint = provider(PROVIDER_ORIGIN, 'p', { delayMs: 150 });
		const client = testClient();
		await manager(storeA, client).exchangeAuthorizationCode('shared', {
			code: 'code-tenantA',
			allowMissingState: true,
		});
		await manager(storeB, client).exchangeAuthorizationCode('shared', {
			code: 'code-tenantB',
			allowMissingState: true,
		});
		await expire(db, `"${roles[0]}".oauth2_tokens`, 'shared');
		await expire(db, `"${roles[1]}".oauth2_tokens`, 'shared');

		const calls = Array.from({ length: 20 }, (_, i) =>
			manager(i % 2 ? storeB : storeA, client).getValidToken('shared'),
		);
		const results = await Promise.all(calls);
		const tokens = (parity: number) =>
			new Set(results.filter((_, i) => i % 2 === parity).map((r) => r.connection.accessToken));
		expect(tokens(0)).toEqual(new Set(['p:tenantA/access/2']));
		expect(tokens(1)).toEqual(new Set(['p:tenantB/access/2']));
		expect(
			endpoint
				.refreshRequests()
				.map((r) => r.refresh_token)
				.sort(),
		).toEqual(['p:tenantA/refresh/1', 'p:tenantB/refresh/1']);
		expect((await manager(storeA, client).getValidToken('shared')).connection.refreshToken).toBe(
			'p:tenantA/refresh/2',
		);
		expect((await manager(storeB, client).getValidToken('shared')).connection.refreshToken).toBe(
			'p:tenantB/refresh/2',
		);
	});

	test("a pending write of tenant A (its store refused the rotated tokens) is neither dropped nor used by tenant B's calls", async () => {
		const endpoint = provider(PROVIDER_ORIGIN, 'p');
		const client = testClient();
		await manager(storeA, client).exchangeAuthorizationCode('pending', {
			code: 'code-tenantA',
			allowMissingState: true,
		});
		await manager(storeB, client).exchangeAuthorizationCode('pending', {
			code: 'code-tenantB',
			allowMissingState: true,
		});
		const tableA = `"${roles[0]}".oauth2_tokens`;
		await expire(db, tableA, 'pending');
		const bBefore = await storeB.get('pending');
		// The provider rotates A's refresh token; then A's table refuses the write.
		const refusing = manager(storeA, client, {
			saveRetries: 1,
			tokenEndpoint: afterRefreshAnswer(client, () =>
				db.sql(`revoke update on ${tableA} from "${roles[0]}"`),
			),
		});
		await expect(refusing.getValidToken('pending')).rejects.toThrow(StoreError);
		await db.sql(`grant update on ${tableA} to "${roles[0]}"`);
		expect(endpoint.refreshRequests().map((r) => r.refresh_token)).toEqual(['p:tenantA/refresh/1']);

		// Tenant B, same connection id, same app, same display text: its calls leave A's pending write alone.
		const b = await manager(storeB, client).getValidToken('pending');
		expect(b).toMatchObject({
			refreshed: false,
			connection: { accessToken: 'p:tenantB/access/1', refreshToken: 'p:tenantB/refresh/1' },
		});
		expect((await storeB.get('pending'))!.version).toBe(bBefore!.version);

		// Tenant A's next call writes the rotated tokens it kept in memory: no refresh, no lock-out.
		const a = await manager(storeA, client).getValidToken('pending');
		expect(a).toMatchObject({
			refreshed: false,
			connection: {
				status: 'active',
				accessToken: 'p:tenantA/access/2',
				refreshToken: 'p:tenantA/refresh/2',
			},
		});
		expect(endpoint.refreshRequests()).toHaveLength(1);
	});
});

describe('two apps on one store, same connection id', () => {
	let db: TemporaryPostgresDatabase;
	let store: PostgresTokenStore;
	const custom = (origin: string, clientId: string, clientSecret: string) =>
		resolveOAuthClient({
			preset: 'custom',
			clientId,
			clientSecret,
			redirectUri: 'https://n8n.test/webhook/oauth/callback',
			authorizationUrl: `${origin}/oauth/authorize`,
			tokenUrl: `${origin}/oauth/token`,
			revocationUrl: `${origin}/oauth/revoke`,
		});
	const appA = custom(
		'https://auth.app-a.test',
		'client-of-app-a-7d1e',
		'SENTINEL-secret-of-app-a',
	);
	const appB = custom(
		'https://auth.app-b.test',
		'client-of-app-b-93c4',
		'SENTINEL-secret-of-app-b',
	);

	usePostgresStoreWithNock((database, postgres) => {
		db = database;
		store = postgres;
	});

	const raw = async (id: string) =>
		(await db.sql(`select * from oauth2_tokens where connection_id = $1`, [id]))[0];

	test("B's refresh, Get Valid Token and Revoke fail at once, naming both apps; no request reaches either provider; A's connection is untouched", async () => {
		const providerA = provider('https://auth.app-a.test', 'a');
		const providerB = provider('https://auth.app-b.test', 'b');
		await manager(store, appA).exchangeAuthorizationCode('acme', {
			code: 'code-acme',
			allowMissingState: true,
		});
		await expire(db, 'oauth2_tokens', 'acme');
		const before = await raw('acme');
		expect(before.app_fingerprint).toBe(appFingerprint(appA));
		const requestsBefore = providerA.tokenRequests.length;

		const b = manager(store, appB);
		for (const attempt of [
			() => b.refreshToken('acme', { force: true }),
			() => b.getValidToken('acme'),
			() => b.revoke('acme'),
		]) {
			const error = await attempt().catch((e) => e);
			expect(error).toBeInstanceOf(AppMismatchError);
			expect(error.code).toBe('app_mismatch');
			expect(error.message).toBe(
				'Connection "acme" was authorized through the app with token URL https://auth.app-a.test/oauth/token and a client ID ending "7d1e", ' +
					'but the configured client is the app with token URL https://auth.app-b.test/oauth/token and client ID "client-of-app-b-93c4". ' +
					'Nothing was sent to any provider and the connection is unchanged.',
			);
			expect(error.description).toMatch(
				/Use the client the connection was authorized with; or, to move it to this client, authorize it again/,
			);
			// The node words it for n8n's editor.
			const shown = describeEngineError(error);
			expect(shown.message).toBe(
				'Connection "acme" was authorized through the app with token URL https://auth.app-a.test/oauth/token and a client ID ending "7d1e", ' +
					'but this App credential is the app with token URL https://auth.app-b.test/oauth/token and client ID "client-of-app-b-93c4". ' +
					'Nothing was sent to any provider and the connection is unchanged.',
			);
			expect(shown.description).toMatch(
				/Use the App credential the connection was authorized with; or, to move it to this app, authorize it again/,
			);
			expect(`${error.message} ${error.description}`).not.toMatch(/SENTINEL|client-of-app-a/);
		}
		expect(providerA.tokenRequests.length).toBe(requestsBefore);
		expect(providerB.tokenRequests).toHaveLength(0);
		expect(providerA.revocations).toHaveLength(0);
		expect(providerB.revocations).toHaveLength(0);
		expect(await raw('acme')).toEqual(before);

		// A still works with A.
		const a = await manager(store, appA).getValidToken('acme');
		expect(a).toMatchObject({
			refreshed: true,
			connection: {
				status: 'active',
				accessToken: 'a:acme/access/2',
				refreshToken: 'a:acme/refresh/2',
			},
		});
	});

	test("concurrent callers through A and B on an expired token: one refresh at A, none at B, and B's callers never get A's token", async () => {
		const providerA = provider('https://auth.app-a.test', 'a', { delayMs: 150 });
		const providerB = provider('https://auth.app-b.test', 'b', { delayMs: 150 });
		await manager(store, appA).exchangeAuthorizationCode('globex', {
			code: 'code-globex',
			allowMissingState: true,
		});
		await expire(db, 'oauth2_tokens', 'globex');
		const results = await Promise.allSettled(
			Array.from({ length: 20 }, (_, i) =>
				manager(store, i % 2 ? appB : appA).getValidToken('globex'),
			),
		);
		const throughA = results.filter((_, i) => i % 2 === 0);
		const throughB = results.filter((_, i) => i % 2 === 1);
		expect(
			new Set(
				throughA.map((r) => (r.status === 'fulfilled' ? r.value.connection.accessToken : r.reason)),
			),
		).toEqual(new Set(['a:globex/access/2']));
		for (const r of throughB) {
			expect(r.status).toBe('rejected');
			expect((r as PromiseRejectedResult).reason).toBeInstanceOf(AppMismatchError);
		}
		expect(providerA.refreshRequests()).toHaveLength(1);
		expect(providerB.tokenRequests).toHaveLength(0);
		expect(await raw('globex')).toMatchObject({
			status: 'active',
			last_error: null,
			app_fingerprint: appFingerprint(appA),
		});
	});

	test('a row from before app fingerprints adopts the first app that refreshes it; the other app is then refused', async () => {
		const providerA = provider('https://auth.app-a.test', 'a');
		const providerB = provider('https://auth.app-b.test', 'b');
		// Authorized through B by an earlier version: no fingerprint.
		await manager(store, appB).exchangeAuthorizationCode('initech', {
			code: 'code-initech',
			allowMissingState: true,
		});
		await db.sql(`update oauth2_tokens set app_fingerprint = null where connection_id = 'initech'`);
		// Reading a valid token writes nothing; refreshing adopts.
		expect((await manager(store, appB).getValidToken('initech')).connection.accessToken).toBe(
			'b:initech/access/1',
		);
		expect((await raw('initech')).app_fingerprint).toBeNull();
		await expire(db, 'oauth2_tokens', 'initech');
		const refreshed = await manager(store, appB).getValidToken('initech');
		expect(refreshed).toMatchObject({
			refreshed: true,
			connection: { accessToken: 'b:initech/access/2', appFingerprint: appFingerprint(appB) },
		});
		expect((await raw('initech')).app_fingerprint).toBe(appFingerprint(appB));
		await expect(manager(store, appA).refreshToken('initech', { force: true })).rejects.toThrow(
			AppMismatchError,
		);
		expect(providerA.tokenRequests).toHaveLength(0);
		expect(providerB.refreshRequests()).toHaveLength(1);
	});

	test('a re-authorization through another app moves the connection to it (and keeps nothing of the old app)', async () => {
		const providerA = provider('https://auth.app-a.test', 'a');
		provider('https://auth.app-b.test', 'b');
		await manager(store, appA).exchangeAuthorizationCode('umbrella', {
			code: 'code-umbrella',
			allowMissingState: true,
		});
		providerA.state.codeResponse = 'without refresh token and api_domain';
		// App B's code response has everything; then A's omits the refresh token: A's old one is not B's to keep.
		await manager(store, appB).exchangeAuthorizationCode('umbrella', {
			code: 'code-umbrella',
			allowMissingState: true,
		});
		const back = await manager(store, appA).exchangeAuthorizationCode('umbrella', {
			code: 'code-umbrella',
			allowMissingState: true,
		});
		expect(back.connection).toMatchObject({
			accessToken: 'a:umbrella/access/2',
			refreshToken: null,
			metadata: {},
			appFingerprint: appFingerprint(appA),
		});
		await expect(manager(store, appB).getValidToken('umbrella')).rejects.toThrow(AppMismatchError);
	});
});

describe('re-authorization whose code response has no refresh_token (RFC 6749 §5.1)', () => {
	let db: TemporaryPostgresDatabase;
	let store: PostgresTokenStore;
	usePostgresStoreWithNock((database, postgres) => {
		db = database;
		store = postgres;
	});

	test('keeps the stored refresh token and the kept fields (api_domain) the response omits; the kept token still refreshes', async () => {
		const endpoint = provider(PROVIDER_ORIGIN, 'p');
		const m = manager(store, testClient());
		const first = await m.exchangeAuthorizationCode('pipedrive:acme', {
			code: 'code-acme',
			allowMissingState: true,
		});
		expect(first.connection).toMatchObject({
			refreshToken: 'p:acme/refresh/1',
			metadata: { api_domain: 'https://acme.p.test' },
		});
		await store.update('pipedrive:acme', first.connection.version, {
			status: 'needs_reauth',
			lastError: 'the account owner changed the scopes',
		});

		endpoint.state.codeResponse = 'without refresh token and api_domain';
		const again = await m.exchangeAuthorizationCode('pipedrive:acme', {
			code: 'code-acme',
			allowMissingState: true,
		});
		expect(again.connection).toMatchObject({
			status: 'active',
			accessToken: 'p:acme/access/2',
			refreshToken: 'p:acme/refresh/1',
			metadata: { api_domain: 'https://acme.p.test' },
			lastError: null,
		});
		const [row] = await db.sql(
			`select refresh_token, metadata from oauth2_tokens where connection_id = 'pipedrive:acme'`,
		);
		expect(cipher.decrypt(String(row.refresh_token), 'pipedrive:acme', 'refresh_token')).toBe(
			'p:acme/refresh/1',
		);
		expect(row.metadata).toEqual({ api_domain: 'https://acme.p.test' });

		// The kept refresh token is the live one: the next refresh succeeds with it.
		await expire(db, 'oauth2_tokens', 'pipedrive:acme');
		const refreshed = await m.getValidToken('pipedrive:acme');
		expect(refreshed.connection).toMatchObject({
			accessToken: 'p:acme/access/3',
			refreshToken: 'p:acme/refresh/3',
			status: 'active',
		});
		expect(endpoint.refreshRequests().map((r) => r.refresh_token)).toEqual(['p:acme/refresh/1']);
	});

	test('a code response with a new refresh token still replaces the stored one', async () => {
		provider(PROVIDER_ORIGIN, 'p');
		const m = manager(store, testClient());
		await m.exchangeAuthorizationCode('pipedrive:globex', {
			code: 'code-globex',
			allowMissingState: true,
		});
		const again = await m.exchangeAuthorizationCode('pipedrive:globex', {
			code: 'code-globex',
			allowMissingState: true,
		});
		expect(again.connection).toMatchObject({
			accessToken: 'p:globex/access/2',
			refreshToken: 'p:globex/refresh/2',
		});
		await expect(m.refreshToken('pipedrive:globex', { force: true })).resolves.toMatchObject({
			refreshed: true,
		});
	});

	test('a first authorization without refresh token stores none, and Get Valid Token then asks for re-authorization', async () => {
		const endpoint = provider(PROVIDER_ORIGIN, 'p');
		endpoint.state.codeResponse = 'without refresh token and api_domain';
		const m = manager(store, testClient());
		const first = await m.exchangeAuthorizationCode('pipedrive:initech', {
			code: 'code-initech',
			allowMissingState: true,
		});
		expect(first.connection).toMatchObject({ refreshToken: null, metadata: {} });
		await expire(db, 'oauth2_tokens', 'pipedrive:initech');
		await expect(m.getValidToken('pipedrive:initech')).rejects.toThrow(NeedsReauthorizationError);
		expect(endpoint.refreshRequests()).toHaveLength(0);
	});
});
