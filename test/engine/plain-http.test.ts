/**
 * Endpoints that receive the client secret, tokens or the service role key are refused over plain http,
 * except on loopback addresses; nothing reaches the endpoint. The refusal comes before any store is written, so the
 * in-memory store stands for them all.
 */
import nock from 'nock';
import { TokenCipher } from '../../engine/crypto';
import { InvalidInputError } from '../../engine/errors';
import type { OAuthClient } from '../../engine/presets';
import { MemoryTokenStore } from '../../engine/stores/memory';
import { SupabaseTokenStore } from '../../engine/stores/supabase';
import { AuthorizationServerClient } from '../../engine/oauth';
import { TokenManager } from '../../engine/token-manager';
import { PROVIDER_ORIGIN, rotatingTokenEndpoint, testClient } from '../helpers/provider';

const KEY = 'test-token-encryption-key-http';
const PLAIN = 'http://provider.test';
const store = new MemoryTokenStore();

beforeAll(() => nock.disableNetConnect());
afterEach(() => nock.cleanAll());

const manager = (client: Partial<OAuthClient> = {}) =>
	new TokenManager({
		store,
		cipher: new TokenCipher(KEY),
		client: testClient({
			authorizationUrl: `${PROVIDER_ORIGIN}/oauth/authorize`,
			revocationUrl: `${PROVIDER_ORIGIN}/oauth/revoke`,
			...client,
		}),
		endpoint: { retryBaseDelayMs: 1 },
	});

/** Every request to the plain-http origin, whatever its path. */
function plainEndpoint(): unknown[] {
	const seen: unknown[] = [];
	nock(PLAIN)
		.persist()
		.post(/.*/)
		.reply(200, (uri, body) => {
			seen.push({ uri, body });
			return {
				access_token: 'SENTINEL-access-plain',
				token_type: 'Bearer',
				refresh_token: 'SENTINEL-refresh-plain',
			};
		});
	return seen;
}

const clearTextError = (field: string) =>
	new InvalidInputError(
		field,
		`uses plain http://, so credentials or tokens would travel in clear text: use https:// (http:// is accepted only for loopback addresses: 127.0.0.0/8, ::1, localhost)`,
	);

async function authorized(id: string): Promise<void> {
	rotatingTokenEndpoint();
	await manager().exchangeAuthorizationCode(id, { code: 'c', allowMissingState: true });
	nock.cleanAll();
}

describe('plain http:// endpoints', () => {
	it('Token URL: exchange and refresh are refused before anything is sent; the stored tokens stay', async () => {
		const seen = plainEndpoint();
		const http = manager({ tokenUrl: `${PLAIN}/oauth/token` });
		const exchange = await http
			.exchangeAuthorizationCode('http:exchange', { code: 'c', allowMissingState: true })
			.catch((e) => e);
		expect(exchange).toEqual(clearTextError('tokenUrl'));
		expect(exchange.field).toBe('tokenUrl');
		expect(await store.get('http:exchange')).toBeNull();

		await authorized('http:refresh');
		const refresh = await http.refreshToken('http:refresh', { force: true }).catch((e) => e);
		expect(refresh).toEqual(clearTextError('tokenUrl'));
		const row = (await store.get('http:refresh'))!;
		expect(new TokenCipher(KEY).decrypt(row.refreshToken!, 'http:refresh', 'refresh_token')).toBe(
			'SENTINEL-refresh-1',
		);

		// The same rule where the engine is called without a TokenManager (the App credential's Test button).
		const direct = await new AuthorizationServerClient(
			testClient({ tokenUrl: `${PLAIN}/oauth/token`, clientAuthentication: 'body' }),
			{ maxRetries: 0 },
		)
			.requestToken({ grant_type: 'refresh_token', refresh_token: 'SENTINEL-refresh-test' })
			.catch((e) => e);
		expect(direct).toEqual(clearTextError('tokenUrl'));
		expect(seen).toEqual([]);
	});

	it('Revocation URL: the revoke is refused before anything is sent, and nothing is erased', async () => {
		await authorized('http:revoke');
		const seen = plainEndpoint();
		const error = await manager({ revocationUrl: `${PLAIN}/oauth/revoke` })
			.revoke('http:revoke')
			.catch((e) => e);
		expect(error).toEqual(clearTextError('revocationUrl'));
		expect(seen).toEqual([]);
		const row = (await store.get('http:revoke'))!;
		expect(row.status).toBe('active');
		expect(new TokenCipher(KEY).decrypt(row.refreshToken!, 'http:revoke', 'refresh_token')).toBe(
			'SENTINEL-refresh-1',
		);
	});

	it('Authorization URL: refused, naming the field', async () => {
		await expect(
			manager({ authorizationUrl: `${PLAIN}/oauth/authorize` }).buildAuthorizationUrl(
				'http:authorize',
			),
		).rejects.toThrow(clearTextError('authorizationUrl'));
	});

	it('Supabase Host: refused when the store is built, before any request', () => {
		const seen: unknown[] = [];
		nock('http://project.supabase.test')
			.persist()
			.get(/.*/)
			.reply(200, (uri) => seen.push(uri));
		const build = () =>
			new SupabaseTokenStore({
				url: 'http://project.supabase.test',
				serviceRoleKey: 'SENTINEL-service-role-key',
			});
		expect(build).toThrow(clearTextError('supabaseUrl'));
		expect(seen).toEqual([]);
	});

	it('loopback addresses are accepted over http (127.0.0.0/8, ::1, localhost); look-alike hosts are not', async () => {
		for (const origin of [
			'http://127.0.0.1:8080',
			'http://127.8.9.10',
			'http://localhost:5678',
			'http://LOCALHOST',
			'http://[::1]:8080',
		]) {
			const url = new URL(
				(
					await manager({ authorizationUrl: `${origin}/authorize` }).buildAuthorizationUrl(
						'http:loopback',
					)
				).authorizationUrl,
			);
			expect(url.origin).toBe(new URL(origin).origin);
		}
		for (const origin of [
			'http://127.0.0.1.example.test',
			'http://localhost.example.test',
			'http://[::ffff:127.0.0.1]',
			'http://10.0.0.1',
		]) {
			await expect(
				manager({ authorizationUrl: `${origin}/authorize` }).buildAuthorizationUrl(
					'http:lookalike',
				),
			).rejects.toThrow(clearTextError('authorizationUrl'));
		}
		nock('http://127.0.0.1:8443').post('/token').reply(200, { access_token: 'loopback-token' });
		const response = await new AuthorizationServerClient(
			testClient({ tokenUrl: 'http://127.0.0.1:8443/token', clientAuthentication: 'basic' }),
			{ maxRetries: 0 },
		).requestToken({
			grant_type: 'refresh_token',
			refresh_token: 'r',
		});
		expect(response.accessToken).toBe('loopback-token');
	});
});
