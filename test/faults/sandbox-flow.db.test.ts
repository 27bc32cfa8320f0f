/**
 * The authorization start, the callback checks and revoke against the Pipedrive-like sandbox over real HTTP
 * (tools/sandbox.ts): the sandbox checks redirect_uri, single-use codes, the PKCE verifier, and ends the grant
 * when its refresh token is revoked. The real tokens it issues are added to the hygiene scan.
 */
import nock from 'nock';
import { TokenCipher } from '../../engine/crypto';
import {
	AuthorizationDeniedError,
	InvalidStateError,
	NeedsReauthorizationError,
} from '../../engine/errors';
import { resolveOAuthClient, type OAuthClient } from '../../engine/presets';
import { TokenManager } from '../../engine/token-manager';
import { startSandbox, type Sandbox } from '../../tools/sandbox';
import { ENCRYPTION_KEY, expectFailure, faultEnv, type FaultEnv } from './harness';

const REDIRECT = 'https://n8n.test/webhook/pipedrive/oauth/callback';
let env: FaultEnv;
let sb: Sandbox;

beforeAll(async () => {
	env = await faultEnv();
	sb = await startSandbox({ port: 0, host: '127.0.0.1', redirectUris: [REDIRECT] });
});
afterAll(async () => {
	try {
		await sb?.close();
		await env.scanRawRows();
		expect(env.hygiene.leaks()).toEqual([]);
	} finally {
		await env?.teardown();
	}
});

function client(pkce: boolean): OAuthClient {
	return resolveOAuthClient({
		preset: 'custom',
		clientId: sb.clientId,
		clientSecret: sb.clientSecret,
		redirectUri: REDIRECT,
		authorizationUrl: `${sb.url}/oauth/authorize`,
		tokenUrl: `${sb.url}/oauth/token`,
		revocationUrl: `${sb.url}/oauth/revoke`,
		keepResponseFields: ['api_domain'],
		pkce,
	});
}

function manager(pkce: boolean) {
	return new TokenManager({
		store: env.store,
		cipher: new TokenCipher(ENCRYPTION_KEY),
		client: client(pkce),
		endpoint: { retryBaseDelayMs: 1 },
	});
}

/** The account owner's browser: follows the authorize URL to the redirect the sandbox answers with. */
async function consent(authorizationUrl: string): Promise<URLSearchParams> {
	const res = await fetch(authorizationUrl, { redirect: 'manual' });
	expect(res.status).toBe(302);
	const location = new URL(res.headers.get('location')!);
	expect(`${location.origin}${location.pathname}`).toBe(REDIRECT);
	return location.searchParams;
}

async function remember(id: string) {
	const c = await env.stored(id);
	for (const token of [c.accessToken, c.refreshToken])
		if (token) env.hygiene.extraSecrets.add(token);
}

describe('against the sandbox provider', () => {
	beforeAll(() => nock.enableNetConnect());

	it('PKCE S256: build, consent, exchange with the state; the sandbox accepts the verifier', async () => {
		const m = manager(true);
		const start = await m.buildAuthorizationUrl('sandbox:pkce');
		const query = await consent(start.authorizationUrl);
		expect(query.get('state')).toBe(start.state);
		const { connection } = await m.exchangeAuthorizationCode('sandbox:pkce', {
			code: query.get('code')!,
			state: query.get('state')!,
		});
		expect(connection).toMatchObject({ status: 'active', metadata: { api_domain: sb.url } });
		await remember('sandbox:pkce');
		// The callback replayed (same code, same state): refused here, before the sandbox sees the code again.
		const before = sb.stats().tokenRequests.authorization_code;
		const replay = await expectFailure(env.hygiene, 'sandbox replay', () =>
			m.exchangeAuthorizationCode('sandbox:pkce', {
				code: query.get('code')!,
				state: query.get('state')!,
			}),
		);
		expect(replay).toBeInstanceOf(InvalidStateError);
		expect(sb.stats().tokenRequests.authorization_code).toBe(before);
	});

	it('a code obtained with PKCE cannot be exchanged without the verifier (the state carries it)', async () => {
		const m = manager(true);
		const start = await m.buildAuthorizationUrl('sandbox:no-verifier');
		const query = await consent(start.authorizationUrl);
		// Someone holding only the code (not the state, which carries the encrypted verifier), even with the
		// state check waived by Allow Missing State: the provider refuses the code without its verifier.
		const error = await expectFailure(env.hygiene, 'sandbox missing state', () =>
			m.exchangeAuthorizationCode('sandbox:no-verifier', {
				code: query.get('code')!,
				allowMissingState: true,
			}),
		);
		expect(error.message).toMatch(/invalid_grant/);
		expect(await env.store.get('sandbox:no-verifier')).toBeNull();
	});

	it('declined consent (?error=access_denied): a clear error, nothing stored', async () => {
		const m = manager(false);
		const start = await m.buildAuthorizationUrl('sandbox:declined', {
			extraParameters: { deny: '1' },
		});
		const query = await consent(start.authorizationUrl);
		const error = await expectFailure(env.hygiene, 'sandbox declined', () =>
			m.exchangeAuthorizationCode('sandbox:declined', {
				code: query.get('code') ?? '',
				state: query.get('state') ?? undefined,
				providerError: query.get('error') ?? undefined,
			}),
		);
		expect(error).toBeInstanceOf(AuthorizationDeniedError);
		expect(error.message).toBe(
			'The account owner declined the authorization at the provider (access_denied)',
		);
		expect(await env.store.get('sandbox:declined')).toBeNull();
	});

	it('revoke: the sandbox ends the grant (Pipedrive: uninstall), the row is erased, a re-authorization works', async () => {
		const m = manager(false);
		const start = await m.buildAuthorizationUrl('sandbox:revoke');
		const query = await consent(start.authorizationUrl);
		await m.exchangeAuthorizationCode('sandbox:revoke', {
			code: query.get('code')!,
			state: query.get('state')!,
		});
		await remember('sandbox:revoke');
		const before = await env.stored('sandbox:revoke');
		const grantsBefore = sb.grants().filter((g) => !g.revoked).length;

		const { connection, revokedAtProvider } = await m.revoke('sandbox:revoke');
		expect(revokedAtProvider).toBe('refresh_token');
		expect(connection).toMatchObject({ status: 'revoked', accessToken: null, refreshToken: null });
		expect(sb.grants().filter((g) => !g.revoked).length).toBe(grantsBefore - 1);
		expect(sb.stats().revocations).toBeGreaterThanOrEqual(1);

		// The revoked refresh token is dead at the sandbox: a copy of the old row would be useless.
		await env.db.sql(
			`update oauth2_tokens set status = 'active', refresh_token = $2 where connection_id = $1`,
			[
				'sandbox:revoke',
				new TokenCipher(ENCRYPTION_KEY).encrypt(
					before.refreshToken!,
					'sandbox:revoke',
					'refresh_token',
				),
			],
		);
		const dead = await expectFailure(env.hygiene, 'sandbox revoked refresh', () =>
			m.refreshToken('sandbox:revoke', { force: true }),
		);
		expect(dead).toBeInstanceOf(NeedsReauthorizationError);
		expect(dead.reauthorizationUrl).toMatch(new RegExp(`^${sb.url}/oauth/authorize\\?`));

		// The link in the error works as a new authorization.
		const again = await consent(dead.reauthorizationUrl);
		const { connection: back } = await m.exchangeAuthorizationCode('sandbox:revoke', {
			code: again.get('code')!,
			state: again.get('state')!,
		});
		expect(back.status).toBe('active');
		await remember('sandbox:revoke');
	});
});
