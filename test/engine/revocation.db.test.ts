import { createServer, type AddressInfo } from 'node:net';
import nock from 'nock';
import { TokenCipher } from '../../engine/crypto';
import {
	ConnectionNotFoundError,
	ConnectionRevokedError,
	DecryptionError,
	TokenEndpointError,
} from '../../engine/errors';
import type { PostgresTokenStore } from '../../engine/stores/postgres';
import { TokenManager, type TokenManagerOptions } from '../../engine/token-manager';
import type { TemporaryPostgresDatabase } from '../../tools/temporary-database';
import { usePostgresStoreWithNock } from '../helpers/postgres-store';
import {
	CLIENT_SECRET,
	PROVIDER_ORIGIN,
	rotatingTokenEndpoint,
	testClient,
} from '../helpers/provider';

const KEY = 'test-token-encryption-key-0003';
const OLD_KEY = 'test-token-encryption-key-old-1';
let db: TemporaryPostgresDatabase;
let store: PostgresTokenStore;

function manager(options: Partial<TokenManagerOptions> = {}) {
	return new TokenManager({
		store,
		cipher: new TokenCipher(KEY),
		client: testClient({ revocationUrl: `${PROVIDER_ORIGIN}/oauth/revoke` }),
		endpoint: { retryBaseDelayMs: 1 },
		pollIntervalMs: 10,
		...options,
	});
}

async function authorize(id: string, m = manager()) {
	rotatingTokenEndpoint();
	await m.exchangeAuthorizationCode(id, { code: 'c', allowMissingState: true });
	nock.cleanAll();
}

function revocationEndpoint(status = 200) {
	const requests: Array<Record<string, string> & { authorization?: string }> = [];
	nock(PROVIDER_ORIGIN)
		.persist()
		.post('/oauth/revoke')
		.reply(function (_uri, body) {
			requests.push({
				...Object.fromEntries(new URLSearchParams(body as string)),
				authorization: this.req.headers.authorization as string,
			});
			return [status, status === 200 ? '' : { error: 'temporarily_unavailable' }];
		});
	return requests;
}

usePostgresStoreWithNock((d, s) => {
	db = d;
	store = s;
});

describe('Revoke / Disconnect', () => {
	it('revokes the refresh token at the provider (RFC 7009, Basic auth), then marks revoked and erases both tokens', async () => {
		await authorize('rev:ok');
		const requests = revocationEndpoint();
		const { connection, revokedAtProvider } = await manager().revoke('rev:ok');
		expect(requests).toEqual([
			{
				token: 'SENTINEL-refresh-1',
				token_type_hint: 'refresh_token',
				authorization: expect.stringMatching(/^Basic /),
			},
		]);
		expect(revokedAtProvider).toBe('refresh_token');
		expect(connection).toMatchObject({
			status: 'revoked',
			accessToken: null,
			refreshToken: null,
			expiresAt: null,
		});
		const [raw] = await db.sql(
			`select access_token, refresh_token, status from oauth2_tokens where connection_id = 'rev:ok'`,
		);
		expect(raw).toEqual({ access_token: null, refresh_token: null, status: 'revoked' });
		await expect(manager().getValidToken('rev:ok')).rejects.toThrow(ConnectionRevokedError);
		// Idempotent: nothing left to revoke, no provider call.
		const again = await manager().revoke('rev:ok');
		expect(again.revokedAtProvider).toBeNull();
		expect(requests).toHaveLength(1);
		// A new authorization makes it active again.
		await authorize('rev:ok');
		expect((await manager().getValidToken('rev:ok')).connection.status).toBe('active');
	});

	it('when the provider cannot revoke, nothing is erased and the error says so without a secret', async () => {
		await authorize('rev:down');
		const requests = revocationEndpoint(503);
		const error = await manager()
			.revoke('rev:down')
			.catch((e) => e);
		expect(error).toBeInstanceOf(TokenEndpointError);
		expect(error.message).toBe(
			'The revocation endpoint refused the request (HTTP 503): temporarily_unavailable',
		);
		expect(error.description).toMatch(/^Nothing was erased/);
		expect(`${error.message} ${error.description}`).not.toMatch(/SENTINEL/);
		expect(requests).toHaveLength(3);
		const row = (await store.get('rev:down'))!;
		expect(row.status).toBe('active');
		expect(new TokenCipher(KEY).decrypt(row.refreshToken!, 'rev:down', 'refresh_token')).toBe(
			'SENTINEL-refresh-1',
		);
		expect(row.leaseHolder).toBeNull();
	});

	it('"Revoke at Provider" off, or no revocation URL: erased here only', async () => {
		await authorize('rev:local');
		const requests = revocationEndpoint();
		expect(
			(await manager().revoke('rev:local', { atProvider: false })).revokedAtProvider,
		).toBeNull();
		await authorize('rev:no-url');
		const noUrl = await manager({ client: testClient({ revocationUrl: '' }) }).revoke('rev:no-url');
		expect(noUrl).toMatchObject({
			revokedAtProvider: null,
			connection: { status: 'revoked', refreshToken: null },
		});
		expect(requests).toHaveLength(0);
	});

	it('waits for a refresh in progress (the lease) before revoking', async () => {
		await authorize('rev:leased');
		const requests = revocationEndpoint();
		expect(await store.acquireLease('rev:leased', 'refreshing-process', 300)).toBe(true);
		const started = Date.now();
		await manager().revoke('rev:leased');
		expect(Date.now() - started).toBeGreaterThanOrEqual(250);
		expect(requests).toHaveLength(1);
	});

	it('a provider that answers invalid_grant for an already dead token: treated as revoked (RFC 7009 would say 200)', async () => {
		await authorize('rev:dead');
		nock(PROVIDER_ORIGIN)
			.post('/oauth/revoke')
			.reply(400, { error: 'invalid_grant', message: 'Invalid grant' });
		const { connection, revokedAtProvider } = await manager().revoke('rev:dead');
		expect(revokedAtProvider).toBe('refresh_token');
		expect(connection).toMatchObject({ status: 'revoked', refreshToken: null });
	});

	it('invalid_client: the provider\'s fields on the error, and a hint about the App credential after "nothing was erased"', async () => {
		await authorize('rev:client');
		nock(PROVIDER_ORIGIN)
			.post('/oauth/revoke')
			.reply(401, { error: 'invalid_client', error_description: 'Client authentication failed' });
		const error = await manager()
			.revoke('rev:client')
			.catch((e) => e);
		expect(error).toMatchObject({
			error: 'invalid_client',
			error_description: 'Client authentication failed',
			httpStatus: 401,
			code: 'invalid_client',
		});
		expect(error.message).toBe(
			'The revocation endpoint refused the request (HTTP 401): invalid_client – Client authentication failed',
		);
		expect(error.description).toMatch(
			/^Nothing was erased: .* Check the client id and client secret, and the client authentication method/,
		);
		expect((await store.get('rev:client'))!.status).toBe('active');
	});

	it('unreachable (a closed port on 127.0.0.1): the error names the origin to check, after "nothing was erased"', async () => {
		await authorize('rev:unreachable');
		const closed = createServer();
		await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
		const { port } = closed.address() as AddressInfo;
		await new Promise((resolve) => closed.close(resolve));
		nock.enableNetConnect('127.0.0.1');
		try {
			const client = testClient({ revocationUrl: `http://127.0.0.1:${port}/oauth/revoke` });
			const error = await manager({ client })
				.revoke('rev:unreachable')
				.catch((e) => e);
			expect(error.message).toBe(
				'The request to the revocation endpoint failed (ECONNREFUSED), 3 attempt(s)',
			);
			expect(error.description).toMatch(
				new RegExp(
					`^Nothing was erased: .* Check that http://127\\.0\\.0\\.1:${port} is reachable from this host\\.$`,
				),
			);
		} finally {
			nock.disableNetConnect();
		}
		expect((await store.get('rev:unreachable'))!.status).toBe('active');
	});

	it('an unknown connection: a clear error', async () => {
		await expect(manager().revoke('rev:missing')).rejects.toThrow(ConnectionNotFoundError);
	});

	it('does not leak the client secret when the revocation endpoint echoes it', async () => {
		await authorize('rev:echo');
		nock(PROVIDER_ORIGIN)
			.post('/oauth/revoke')
			.reply(400, {
				error: 'invalid_request',
				error_description: `bad ${CLIENT_SECRET} SENTINEL-refresh-1`,
			});
		const error = await manager()
			.revoke('rev:echo')
			.catch((e) => e);
		expect(error.message).toBe(
			'The revocation endpoint refused the request (HTTP 400): invalid_request – bad [redacted] [redacted]',
		);
	});
});

describe('key rotation', () => {
	it('reads under an old key, and any write re-encrypts the row under the current key', async () => {
		const oldManager = manager({ cipher: new TokenCipher(OLD_KEY) });
		await authorize('rot:one', oldManager);
		const keyId = async () =>
			String(
				(await db.sql(`select refresh_token from oauth2_tokens where connection_id = 'rot:one'`))[0]
					.refresh_token,
			).split(':')[2];
		const oldId = await keyId();

		const rotated = manager({ cipher: new TokenCipher(KEY, [OLD_KEY]) });
		expect((await rotated.getValidToken('rot:one')).connection.accessToken).toBe(
			'SENTINEL-access-1',
		);
		expect(await keyId()).toBe(oldId); // a read does not write

		// A failed refresh only records last_error; that write re-encrypts the tokens too.
		nock(PROVIDER_ORIGIN).persist().post('/oauth/token').reply(500, 'down');
		await expect(rotated.refreshToken('rot:one')).rejects.toThrow(/HTTP 500/);
		const newId = await keyId();
		expect(newId).not.toBe(oldId);
		nock.cleanAll();

		// The old key can now be dropped for this row.
		const newOnly = manager({ cipher: new TokenCipher(KEY) });
		expect((await newOnly.getValidToken('rot:one')).connection).toMatchObject({
			accessToken: 'SENTINEL-access-1',
			refreshToken: 'SENTINEL-refresh-1',
		});
	});

	it('a refresh writes under the current key; without the old key an old row fails clearly', async () => {
		await authorize('rot:two', manager({ cipher: new TokenCipher(OLD_KEY) }));
		const error = await manager()
			.getValidToken('rot:two')
			.catch((e) => e);
		expect(error).toBeInstanceOf(DecryptionError);
		expect(error.message).toMatch(
			/^The stored access_token of connection "rot:two" was encrypted with a key that is not configured \(key id [\w-]{8}\)$/,
		);
		expect(error.description).toMatch(/add it as a previous key/);
		expect(`${error.message} ${error.description}`).not.toContain(OLD_KEY);

		rotatingTokenEndpoint();
		await db.sql(`update oauth2_tokens set refresh_token = $2 where connection_id = $1`, [
			'rot:two',
			new TokenCipher(OLD_KEY).encrypt('SENTINEL-refresh-0', 'rot:two', 'refresh_token'),
		]);
		const rotated = manager({ cipher: new TokenCipher(KEY, [OLD_KEY]) });
		await rotated.refreshToken('rot:two');
		const [raw] = await db.sql<{ access_token: string; refresh_token: string }>(
			`select access_token, refresh_token from oauth2_tokens where connection_id = 'rot:two'`,
		);
		const current = new TokenCipher(KEY);
		expect(current.isStale(raw.access_token)).toBe(false);
		expect(current.isStale(raw.refresh_token)).toBe(false);
	});

	it('a refresh token no configured key decrypts: a fresh access token is still served; the refresh fails clearly, releases its lease and calls no provider', async () => {
		await authorize('rot:three');
		await db.sql(`update oauth2_tokens set refresh_token = $2 where connection_id = $1`, [
			'rot:three',
			new TokenCipher(OLD_KEY).encrypt('SENTINEL-refresh-old', 'rot:three', 'refresh_token'),
		]);
		const row = async () =>
			(
				await db.sql<{
					version: number;
					status: string;
					lease_holder: string | null;
					refresh_token: string;
					failure_count: number;
					last_error: string | null;
				}>(
					`select version, status, lease_holder, refresh_token, failure_count, last_error from oauth2_tokens where connection_id = 'rot:three'`,
				)
			)[0];
		const before = await row();
		const notConfigured =
			/^The stored refresh_token of connection "rot:three" was encrypted with a key that is not configured \(key id [\w-]{8}\)$/;

		// Get Valid Token on a fresh token decrypts only the access token it returns.
		const fresh = await manager().getValidToken('rot:three');
		expect(fresh).toMatchObject({
			refreshed: false,
			connection: { accessToken: 'SENTINEL-access-1' },
		});
		// The refresh token is decrypted where it is read, with the same error as before.
		expect(() => fresh.connection.refreshToken).toThrow(notConfigured);

		// Once a refresh is needed, the error surfaces: no token request is made (nock has none), the stored tokens are
		// kept as they are, the failed refresh is counted (so that Keep Alive and its alerts see it), and the lease is released.
		await db.sql(
			`update oauth2_tokens set expires_at = now() - interval '1 second' where connection_id = 'rot:three'`,
		);
		const error = await manager()
			.getValidToken('rot:three')
			.catch((e) => e);
		expect(error).toBeInstanceOf(DecryptionError);
		expect(error.message).toMatch(notConfigured);
		expect(`${error.message} ${error.description}`).not.toContain('SENTINEL-refresh-old');
		expect(await row()).toEqual({
			...before,
			version: before.version + 1,
			lease_holder: null,
			failure_count: 1,
			last_error: error.message,
		});
	});
});
