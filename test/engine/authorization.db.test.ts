import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
	connectionIdFromState,
	createPkcePair,
	MAX_STATE_CLOCK_SKEW_MS,
	StateCodec,
	LEGACY_MARKER_PROVIDER,
	legacyStateMarkerId,
	MAX_STATE_TTL_SECONDS,
	STATE_PURGE_BATCH,
} from '../../engine/authorization';
import { consumeState } from '../../engine/used-states';
import { TokenCipher } from '../../engine/crypto';
import { InvalidInputError, InvalidStateError } from '../../engine/errors';
import { MySqlTokenStore, SqliteTokenStore } from '../../engine/stores';
import type { PostgresTokenStore } from '../../engine/stores/postgres';
import type { TokenStore } from '../../engine/store';
import { TokenManager } from '../../engine/token-manager';
import {
	createTemporaryMySqlDatabase,
	type TemporaryPostgresDatabase,
	TEST_MYSQL_URL,
} from '../../tools/temporary-database';
import { usePostgresStoreWithNock } from '../helpers/postgres-store';
import { PROVIDER_ORIGIN, rotatingTokenEndpoint, testClient } from '../helpers/provider';
import { skewClientClock } from '../stores/contract';
import { IN_CI, tcpReachable } from '../stores/servers';

const KEY = 'test-token-encryption-key-0002';
let store: PostgresTokenStore;
let db: TemporaryPostgresDatabase;
/** Whether the states table holds a record of used states for the connection. */
const stateRecorded = async (connectionId: string) =>
	(await db.sql('select 1 from oauth2_tokens_states where connection_id = $1', [connectionId]))
		.length === 1;

const pipedrive = () =>
	testClient({ authorizationUrl: 'https://oauth.pipedrive.test/oauth/authorize' });
const custom = () =>
	testClient({
		id: 'custom',
		pkce: true,
		authorizationUrl: `${PROVIDER_ORIGIN}/authorize?tenant=t1`,
		scopes: ['openid', 'offline_access'],
		keepResponseFields: [],
	});

function manager(client = pipedrive(), s: TokenStore = store) {
	return new TokenManager({
		store: s,
		cipher: new TokenCipher(KEY),
		client,
		endpoint: { retryBaseDelayMs: 1 },
	});
}

usePostgresStoreWithNock((d, s) => {
	db = d;
	store = s;
});

describe('Build Authorization URL', () => {
	it('Pipedrive: client_id, redirect_uri, response_type and a signed state; no PKCE; nothing written', async () => {
		const start = await manager().buildAuthorizationUrl('pipedrive:acme');
		const url = new URL(start.authorizationUrl);
		expect(`${url.origin}${url.pathname}`).toBe('https://oauth.pipedrive.test/oauth/authorize');
		expect(Object.fromEntries(url.searchParams)).toEqual({
			response_type: 'code',
			client_id: 'client-id',
			redirect_uri: 'https://n8n.test/webhook/oauth/callback',
			state: start.state,
		});
		expect(start.pkce).toBe(false);
		expect(start.expiresAt.getTime() - Date.now()).toBeGreaterThan(590_000);
		expect(start.expiresAt.getTime() - Date.now()).toBeLessThanOrEqual(600_000);
		expect(connectionIdFromState(start.state)).toBe('pipedrive:acme');
		expect(await store.get('pipedrive:acme')).toBeNull();
	});

	it('PKCE S256 where the provider supports it: the challenge in the URL, the verifier only at the exchange', async () => {
		const endpoint = rotatingTokenEndpoint();
		const start = await manager(custom()).buildAuthorizationUrl('custom:one', {
			extraParameters: { prompt: 'consent' },
		});
		const url = new URL(start.authorizationUrl);
		expect(url.searchParams.get('tenant')).toBe('t1');
		expect(url.searchParams.get('prompt')).toBe('consent');
		expect(url.searchParams.get('scope')).toBe('openid offline_access');
		expect(url.searchParams.get('code_challenge_method')).toBe('S256');
		const challenge = url.searchParams.get('code_challenge')!;
		expect(challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);

		await manager(custom()).exchangeAuthorizationCode('custom:one', {
			code: 'the-code',
			state: url.searchParams.get('state')!,
		});
		const verifier =
			endpoint.requests[0] &&
			(endpoint.requests[0] as unknown as { code_verifier: string }).code_verifier;
		expect(verifier).toMatch(/^[A-Za-z0-9_-]{43,128}$/);
		expect(createHash('sha256').update(verifier).digest('base64url')).toBe(challenge);
		expect(start.authorizationUrl).not.toContain(verifier);
		expect(Buffer.from(start.state.split('.')[0], 'base64url').toString()).not.toContain(verifier);
		expect(endpoint.requests[0]).toMatchObject({
			grant_type: 'authorization_code',
			code: 'the-code',
			redirect_uri: 'https://n8n.test/webhook/oauth/callback',
		});
	});

	it('refuses parameters the node sets itself, and a missing authorization URL, naming the field', async () => {
		await expect(
			manager().buildAuthorizationUrl('x', { extraParameters: { state: 'mine' } }),
		).rejects.toThrow('extraParameters cannot set "state": the token manager sets it itself');
		const error = await manager(testClient({ authorizationUrl: '' }))
			.buildAuthorizationUrl('x')
			.catch((e: unknown) => e);
		expect(error).toBeInstanceOf(InvalidInputError);
		expect(error).toMatchObject({ field: 'authorizationUrl', problem: 'is empty' });
	});

	it('refuses a state whose sealed PKCE verifier carries a GCM tag shorter than 16 bytes, even correctly signed', () => {
		const cipher = new TokenCipher(KEY);
		const codec = new StateCodec(cipher, 'a store identity');
		const { state } = codec.issue('custom:short-tag', { pkce: true });
		const payload = JSON.parse(Buffer.from(state.split('.')[0], 'base64url').toString());
		const [iv, tag, ciphertext] = payload.pv.split('.');
		payload.pv = [
			iv,
			Buffer.from(tag, 'base64url').subarray(0, 4).toString('base64url'),
			ciphertext,
		].join('.');
		// Re-signed with the real signing key: only the tag length can refuse it.
		const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
		const signature = createHmac('sha256', cipher.subkeys('oauth-state/signing/v1')[0])
			.update(`oauth2tm-state.v1.${body}`)
			.digest('base64url');
		expect(codec.verify(state, 'custom:short-tag').codeVerifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
		expect(() => codec.verify(`${body}.${signature}`, 'custom:short-tag')).toThrow(
			new InvalidStateError(
				'tampered',
				'The PKCE verifier inside the state failed its integrity check: its authentication tag is 4 bytes, not 16',
			),
		);
	});

	it('RFC 7636 pairs: 43-character verifiers, S256 challenges', () => {
		const { verifier, challenge } = createPkcePair();
		expect(verifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
		expect(challenge).toBe(createHash('sha256').update(verifier).digest('base64url'));
	});
});

describe('single use of the state on every SQL store (through the TokenStore interface only)', () => {
	async function singleUse(s: TokenStore) {
		rotatingTokenEndpoint();
		const m = manager(pipedrive(), s);
		const { state } = await m.buildAuthorizationUrl('store:single-use');
		await m.exchangeAuthorizationCode('store:single-use', { code: 'c', state });
		await expect(
			m.exchangeAuthorizationCode('store:single-use', { code: 'c', state }),
		).rejects.toThrow(InvalidStateError);
		const second = await m.buildAuthorizationUrl('store:single-use');
		expect(
			(await m.exchangeAuthorizationCode('store:single-use', { code: 'c', state: second.state }))
				.connection.status,
		).toBe('active');
	}

	it('PostgreSQL', async () => singleUse(store));

	it('SQLite', async () => {
		const dir = mkdtempSync(join(tmpdir(), 'oauth2tm-state-'));
		const s = new SqliteTokenStore({ filePath: join(dir, 't.sqlite') });
		try {
			await singleUse(s);
		} finally {
			await s.close();
			rmSync(dir, { recursive: true, force: true });
		}
	});

	(IN_CI || tcpReachable(TEST_MYSQL_URL, 3306) ? it : it.skip)('MySQL/MariaDB', async () => {
		const mdb = await createTemporaryMySqlDatabase('oauth2tm_state');
		const s = new MySqlTokenStore({ uri: mdb.url, createTableIfMissing: true });
		try {
			await singleUse(s);
		} finally {
			await s.close();
			await mdb.drop();
		}
	});
});

describe('used states: clock skew, purge of expired records, revoke, legacy marker rows', () => {
	let codec: StateCodec;
	beforeAll(async () => {
		codec = new StateCodec(new TokenCipher(KEY), await store.identity());
	});

	it('a state issued ahead of the clock beyond the allowed skew is refused, and later states of the connection still work', async () => {
		const endpoint = rotatingTokenEndpoint();
		const m = manager();
		const ahead = codec.issue('skew:ahead', { pkce: false, now: Date.now() + 10 * 60_000 });
		const error = await m
			.exchangeAuthorizationCode('skew:ahead', { code: 'c', state: ahead.state })
			.catch((e) => e);
		expect(error).toBeInstanceOf(InvalidStateError);
		expect(error.reason).toBe('issued_in_future');
		expect(error.message).toMatch(
			/^The state was issued 600 seconds in the future by this host's clock \(at most 60 s are accepted\)/,
		);
		expect(error.description).toMatch(/Synchronize the clocks/);
		expect(endpoint.requests).toHaveLength(0);
		expect(await stateRecorded('skew:ahead')).toBe(false);

		// The next authorization, started on a host with the right time, is not blocked as "replayed".
		const { state } = await m.buildAuthorizationUrl('skew:ahead');
		expect(
			(await m.exchangeAuthorizationCode('skew:ahead', { code: 'c', state })).connection.status,
		).toBe('active');

		// A state from a clock ahead by less than the skew is accepted.
		const slightly = codec.issue('skew:slightly', {
			pkce: false,
			now: Date.now() + MAX_STATE_CLOCK_SKEW_MS / 2,
		});
		expect(
			(await m.exchangeAuthorizationCode('skew:slightly', { code: 'c', state: slightly.state }))
				.connection.status,
		).toBe('active');
	});

	it('consuming a state deletes expired records, a bounded batch at a time; live records keep refusing replays', async () => {
		rotatingTokenEndpoint();
		const markerExists = stateRecorded;
		// 31 days ago (by the process clock only), STATE_PURGE_BATCH + 3 connections completed an authorization.
		const old = Array.from({ length: STATE_PURGE_BATCH + 3 }, (_, i) => `purge:old:${i}`);
		skewClientClock(-31 * 86_400_000);
		try {
			for (const id of old) {
				const { state } = codec.issue(id, { pkce: false });
				await consumeState(store, codec.verify(state, id));
			}
		} finally {
			jest.useRealTimers();
		}
		for (const id of old) expect(await markerExists(id)).toBe(true);

		// Today's callbacks: each deletes at most a batch of the expired markers.
		const m = manager();
		const first = await m.buildAuthorizationUrl('purge:new:1');
		await m.exchangeAuthorizationCode('purge:new:1', { code: 'c', state: first.state });
		const left = (await Promise.all(old.map(markerExists))).filter(Boolean).length;
		expect(left).toBe(3);
		const second = await m.buildAuthorizationUrl('purge:new:2');
		await m.exchangeAuthorizationCode('purge:new:2', { code: 'c', state: second.state });
		for (const id of old) expect(await markerExists(id)).toBe(false);

		// The live records stay and still refuse their states.
		expect(await markerExists('purge:new:1')).toBe(true);
		expect(await markerExists('purge:new:2')).toBe(true);
		await expect(
			m.exchangeAuthorizationCode('purge:new:1', { code: 'c', state: first.state }),
		).rejects.toMatchObject({ reason: 'replayed' });
	});

	it("Revoke deletes the connection's used-state record and keeps the revoked connection", async () => {
		rotatingTokenEndpoint();
		const m = manager();
		const { state } = await m.buildAuthorizationUrl('marker:revoked');
		await m.exchangeAuthorizationCode('marker:revoked', { code: 'c', state });
		const neighbour = await m.buildAuthorizationUrl('marker:neighbour');
		await m.exchangeAuthorizationCode('marker:neighbour', { code: 'c', state: neighbour.state });
		expect(await stateRecorded('marker:revoked')).toBe(true);

		await m.revoke('marker:revoked', { atProvider: false });
		expect(await stateRecorded('marker:revoked')).toBe(false);
		expect((await store.get('marker:revoked'))!.status).toBe('revoked');
		expect(await stateRecorded('marker:neighbour')).toBe(true);
	});

	it('states are recorded in the states table, never as rows of the tokens table', async () => {
		rotatingTokenEndpoint();
		const m = manager();
		const { state } = await m.buildAuthorizationUrl('states:own-table');
		await m.exchangeAuthorizationCode('states:own-table', { code: 'c', state });
		expect(await stateRecorded('states:own-table')).toBe(true);
		expect(
			await db.sql(
				`select connection_id from oauth2_tokens where connection_id like '\\_\\_oauth2tm\\_%'`,
			),
		).toEqual([]);
	});

	describe('a marker row written by an earlier version', () => {
		/** The row an earlier version wrote in the tokens table when it accepted a state (`watermark`, issued at `issuedAt`). */
		async function writeLegacyMarker(connectionId: string, watermark: string, issuedAt: number) {
			await store.insert({
				connectionId: legacyStateMarkerId(connectionId),
				provider: LEGACY_MARKER_PROVIDER,
				accessToken: null,
				refreshToken: null,
				tokenType: null,
				scope: null,
				expiresAt: new Date(issuedAt + MAX_STATE_TTL_SECONDS * 1000),
				metadata: { consumed: watermark },
				status: 'revoked',
				lastRefreshedAt: null,
				refreshCount: 0,
				lastError: null,
				appFingerprint: null,
				tokenIssuedAt: null,
			});
		}

		it('still refuses its state as a replay, and an older state as superseded; a newer state is accepted', async () => {
			const endpoint = rotatingTokenEndpoint();
			const m = manager();
			const older = await m.buildAuthorizationUrl('legacy:marker');
			await new Promise((resolve) => setTimeout(resolve, 5));
			const used = await m.buildAuthorizationUrl('legacy:marker');
			await writeLegacyMarker(
				'legacy:marker',
				codec.verify(used.state, 'legacy:marker').watermark,
				Date.now(),
			);
			await expect(
				m.exchangeAuthorizationCode('legacy:marker', { code: 'c', state: used.state }),
			).rejects.toMatchObject({ reason: 'replayed' });
			await expect(
				m.exchangeAuthorizationCode('legacy:marker', { code: 'c', state: older.state }),
			).rejects.toMatchObject({ reason: 'replayed' });
			expect(endpoint.requests).toHaveLength(0);
			const newer = await m.buildAuthorizationUrl('legacy:marker');
			expect(
				(await m.exchangeAuthorizationCode('legacy:marker', { code: 'c', state: newer.state }))
					.connection.status,
			).toBe('active');
		});

		it('is purged once expired, a bounded batch per consumed state, and deleted by Revoke', async () => {
			rotatingTokenEndpoint();
			const old = Array.from({ length: STATE_PURGE_BATCH + 2 }, (_, i) => `legacy:old:${i}`);
			const longAgo = Date.now() - 31 * 86_400_000;
			for (const id of old)
				await writeLegacyMarker(id, `${String(longAgo).padStart(15, '0')}:nonce`, longAgo);
			const legacyRows = async () =>
				(await Promise.all(old.map((id) => store.get(legacyStateMarkerId(id))))).filter(Boolean)
					.length;
			expect(await legacyRows()).toBe(old.length);
			const m = manager();
			await m.exchangeAuthorizationCode('legacy:purge:1', {
				code: 'c',
				state: (await m.buildAuthorizationUrl('legacy:purge:1')).state,
			});
			expect(await legacyRows()).toBe(2);
			await m.exchangeAuthorizationCode('legacy:purge:2', {
				code: 'c',
				state: (await m.buildAuthorizationUrl('legacy:purge:2')).state,
			});
			expect(await legacyRows()).toBe(0);

			const live = await m.buildAuthorizationUrl('legacy:revoked');
			await m.exchangeAuthorizationCode('legacy:revoked', { code: 'c', state: live.state });
			await writeLegacyMarker(
				'legacy:revoked',
				codec.verify(live.state, 'legacy:revoked').watermark,
				Date.now(),
			);
			await m.revoke('legacy:revoked', { atProvider: false });
			expect(await store.get(legacyStateMarkerId('legacy:revoked'))).toBeNull();
			expect(await stateRecorded('legacy:revoked')).toBe(false);
		});
	});
});
