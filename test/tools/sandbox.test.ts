/* The Pipedrive-like sandbox (tools/sandbox.ts) behaves as the reference says Pipedrive does. */
import { PIPEDRIVE_INVALID_TOKEN, startSandbox, type Sandbox } from '../../tools/sandbox';

const REDIRECT = 'http://127.0.0.1:9/callback';
let sb: Sandbox;

function basic(id: string, secret: string): string {
	return (
		'Basic ' +
		Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')
	);
}

async function authorize(extra: Record<string, string> = {}): Promise<URL> {
	const q = new URLSearchParams({
		client_id: sb.clientId,
		redirect_uri: REDIRECT,
		state: 's-1',
		...extra,
	});
	const res = await fetch(`${sb.url}/oauth/authorize?${q}`, { redirect: 'manual' });
	expect(res.status).toBe(302);
	return new URL(res.headers.get('location') as string);
}

async function token(form: Record<string, string>, auth = basic(sb.clientId, sb.clientSecret)) {
	const res = await fetch(`${sb.url}/oauth/token`, {
		method: 'POST',
		headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: auth },
		body: new URLSearchParams(form).toString(),
	});
	return { status: res.status, body: (await res.json()) as any };
}

async function exchange(): Promise<any> {
	const code = (await authorize()).searchParams.get('code') as string;
	const r = await token({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT });
	expect(r.status).toBe(200);
	return r.body;
}

async function me(accessToken: string) {
	const res = await fetch(`${sb.url}/api/v1/users/me`, {
		headers: { authorization: `Bearer ${accessToken}` },
	});
	return {
		status: res.status,
		body: (await res.json()) as any,
		header: res.headers.get('www-authenticate'),
	};
}

beforeEach(async () => {
	sb = await startSandbox({ expiresIn: 30 });
});
afterEach(async () => {
	await sb.close();
});

test('authorize consents at once and redirects with code and state; deny=1 gives access_denied', async () => {
	const ok = await authorize();
	expect(`${ok.origin}${ok.pathname}`).toBe(REDIRECT);
	expect(ok.searchParams.get('code')).toBeTruthy();
	expect(ok.searchParams.get('state')).toBe('s-1');
	const denied = await authorize({ deny: '1' });
	expect(denied.searchParams.get('error')).toBe('access_denied');
	expect(denied.searchParams.get('state')).toBe('s-1');
	expect(denied.searchParams.get('code')).toBeNull();
	const res = await fetch(`${sb.url}/oauth/authorize?client_id=nope&redirect_uri=${REDIRECT}`, {
		redirect: 'manual',
	});
	expect(res.status).toBe(400);
});

test('code exchange returns a Pipedrive-shaped token response; codes are single use', async () => {
	const code = (await authorize()).searchParams.get('code') as string;
	const first = await token({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT });
	expect(first.status).toBe(200);
	expect(first.body).toMatchObject({ token_type: 'Bearer', expires_in: 30, api_domain: sb.url });
	expect(first.body.access_token).toBeTruthy();
	expect(first.body.refresh_token).toBeTruthy();
	const again = await token({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT });
	expect(again).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
	const wrongRedirect = await token({
		grant_type: 'authorization_code',
		code: (await authorize()).searchParams.get('code') as string,
		redirect_uri: 'http://elsewhere/cb',
	});
	expect(wrongRedirect).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
});

test('expired codes, bad client credentials and unknown grants are refused', async () => {
	sb.configure({ codeTtl: -1 });
	const code = (await authorize()).searchParams.get('code') as string;
	expect(
		await token({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT }),
	).toMatchObject({
		status: 400,
		body: { error: 'invalid_grant' },
	});
	const badClient = await token(
		{ grant_type: 'refresh_token', refresh_token: 'x' },
		basic(sb.clientId, 'wrong'),
	);
	expect(badClient).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
	expect(await token({ grant_type: 'password' })).toMatchObject({
		status: 400,
		body: { error: 'unsupported_grant_type' },
	});
	expect(sb.stats().tokenRequests).toMatchObject({ total: 3, failed: 3 });
});

test('refresh tokens rotate; the old one answers invalid_grant', async () => {
	const t0 = await exchange();
	const r1 = await token({ grant_type: 'refresh_token', refresh_token: t0.refresh_token });
	expect(r1.status).toBe(200);
	expect(r1.body.refresh_token).not.toBe(t0.refresh_token);
	expect(r1.body.access_token).not.toBe(t0.access_token);
	const reused = await token({ grant_type: 'refresh_token', refresh_token: t0.refresh_token });
	expect(reused).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
	const r2 = await token({ grant_type: 'refresh_token', refresh_token: r1.body.refresh_token });
	expect(r2.status).toBe(200);
	expect(sb.stats().tokenRequests).toMatchObject({
		authorization_code: 1,
		refresh_token: 3,
		failed: 1,
	});
});

test('acceptPreviousRefreshToken lets the token just rotated out through once', async () => {
	sb.configure({ acceptPreviousRefreshToken: true });
	const t0 = await exchange();
	const r1 = await token({ grant_type: 'refresh_token', refresh_token: t0.refresh_token });
	expect(r1.status).toBe(200);
	const retry = await token({ grant_type: 'refresh_token', refresh_token: t0.refresh_token });
	expect(retry.status).toBe(200);
	expect(
		(await token({ grant_type: 'refresh_token', refresh_token: t0.refresh_token })).status,
	).toBe(400);
	// the pair that the lost response carried is replaced by the retry's
	expect(
		(await token({ grant_type: 'refresh_token', refresh_token: r1.body.refresh_token })).status,
	).toBe(400);
	expect(
		(await token({ grant_type: 'refresh_token', refresh_token: retry.body.refresh_token })).status,
	).toBe(200);
});

test('the API answers with the token owner; 401 with Pipedrive error body once the token is invalid', async () => {
	const t0 = await exchange();
	const ok = await me(t0.access_token);
	expect(ok.status).toBe(200);
	expect(ok.body.success).toBe(true);
	expect(ok.body.data.id).toBeGreaterThan(0);
	const search = await fetch(`${sb.url}/api/v2/persons/search?term=ann@example.test&fields=email`, {
		headers: { authorization: `Bearer ${t0.access_token}` },
	});
	expect(((await search.json()) as any).data.items[0].item.name).toBe('ann');
	sb.expireAccessTokens();
	const expired = await me(t0.access_token);
	expect(expired.status).toBe(401);
	expect(expired.body).toEqual(
		expect.objectContaining({ success: false, error: PIPEDRIVE_INVALID_TOKEN, data: null }),
	);
	expect(expired.header).toContain('invalid_token');
	expect((await me('garbage')).status).toBe(401);
	expect(sb.stats()).toMatchObject({ apiCalls: 4, failedApiCalls: 2 });
	sb.reset();
	expect(sb.stats()).toMatchObject({ apiCalls: 0, failedApiCalls: 0, tokenRequests: { total: 0 } });
});

test('two authorizations are two accounts; tokens expire after expires_in', async () => {
	sb.configure({ expiresIn: 1 });
	const a = await exchange();
	const b = await exchange();
	expect((await me(a.access_token)).body.data.id).not.toBe((await me(b.access_token)).body.data.id);
	await new Promise((r) => setTimeout(r, 1100));
	expect((await me(a.access_token)).status).toBe(401);
	expect(sb.grants()).toHaveLength(2);
});

test('revocation (RFC 7009): 200 for unknown tokens; a revoked refresh token ends the grant', async () => {
	const t0 = await exchange();
	const revoke = (form: Record<string, string>, auth = basic(sb.clientId, sb.clientSecret)) =>
		fetch(`${sb.url}/oauth/revoke`, {
			method: 'POST',
			headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: auth },
			body: new URLSearchParams(form).toString(),
		});
	expect((await revoke({ token: 'unknown', token_type_hint: 'access_token' })).status).toBe(200);
	expect((await revoke({ token: t0.refresh_token }, basic('x', 'y'))).status).toBe(401);
	expect((await revoke({ token: t0.refresh_token, token_type_hint: 'refresh_token' })).status).toBe(
		200,
	);
	expect((await me(t0.access_token)).status).toBe(401);
	expect(
		await token({ grant_type: 'refresh_token', refresh_token: t0.refresh_token }),
	).toMatchObject({
		status: 400,
		body: { error: 'invalid_grant' },
	});
});

test('counters over HTTP', async () => {
	await exchange();
	const stats = (await (await fetch(`${sb.url}/__sandbox/stats`)).json()) as any;
	expect(stats.tokenRequests.authorization_code).toBe(1);
	await fetch(`${sb.url}/__sandbox/reset`, { method: 'POST' });
	expect(sb.stats().tokenRequests.total).toBe(0);
});

describe('reuse detection (RFC 9700 §4.14.2): a rotated-out refresh token that comes back ends the grant', () => {
	async function refresh(refreshToken: string) {
		return token({ grant_type: 'refresh_token', refresh_token: refreshToken });
	}

	test('the old token is refused and the grant is revoked: the current refresh token and its access token die too', async () => {
		sb.configure({ reuseDetection: true });
		const t0 = await exchange();
		const r1 = await refresh(t0.refresh_token);
		expect(r1.status).toBe(200);
		expect((await me(r1.body.access_token)).status).toBe(200);

		expect(await refresh(t0.refresh_token)).toMatchObject({
			status: 400,
			body: { error: 'invalid_grant' },
		});
		expect(await refresh(r1.body.refresh_token)).toMatchObject({
			status: 400,
			body: { error: 'invalid_grant' },
		});
		expect((await me(r1.body.access_token)).status).toBe(401);
		expect(sb.grants()).toEqual([
			expect.objectContaining({ revoked: true, revokedBy: 'refresh-token-reuse' }),
		]);
		expect(sb.stats()).toMatchObject({
			reuseDetections: 1,
			tokenRequests: { refresh_token: 3, failed: 2 },
		});
		const grantId = sb.grants()[0].grantId;
		expect(sb.stats()).toMatchObject({
			refreshesByGrant: { [grantId]: 1 },
			refreshRequestsByGrant: { [grantId]: 3 },
			apiCallsByGrant: { [grantId]: 2 },
			failedApiCallsByGrant: { [grantId]: 1 },
		});
	});

	test('a token two rotations old is reuse too; other grants of the same client stay alive', async () => {
		const sandbox = await startSandbox({ reuseDetection: true });
		const other = sb;
		sb = sandbox;
		try {
			const victim = await exchange();
			const bystander = await exchange();
			const r1 = await refresh(victim.refresh_token);
			const r2 = await refresh(r1.body.refresh_token);
			expect(r2.status).toBe(200);
			expect((await refresh(victim.refresh_token)).status).toBe(400);
			expect((await refresh(r2.body.refresh_token)).status).toBe(400);
			const kept = await refresh(bystander.refresh_token);
			expect(kept.status).toBe(200);
			expect((await me(kept.body.access_token)).status).toBe(200);
			expect(sb.grants().map((g) => g.revokedBy)).toEqual(['refresh-token-reuse', null]);
		} finally {
			sb = other;
			await sandbox.close();
		}
	});

	test('with acceptPreviousRefreshToken the lost-response retry still passes once; the next reuse ends the grant', async () => {
		sb.configure({ reuseDetection: true, acceptPreviousRefreshToken: true });
		const t0 = await exchange();
		expect((await refresh(t0.refresh_token)).status).toBe(200);
		const retry = await refresh(t0.refresh_token);
		expect(retry.status).toBe(200);
		expect(sb.grants()[0].revoked).toBe(false);
		expect((await refresh(t0.refresh_token)).status).toBe(400);
		expect(await refresh(retry.body.refresh_token)).toMatchObject({
			status: 400,
			body: { error: 'invalid_grant' },
		});
		expect(sb.grants()[0].revokedBy).toBe('refresh-token-reuse');
	});

	test('off by default: a reused token is refused but the grant lives on; a revoked grant says why', async () => {
		const t0 = await exchange();
		const r1 = await refresh(t0.refresh_token);
		expect((await refresh(t0.refresh_token)).status).toBe(400);
		expect((await refresh(r1.body.refresh_token)).status).toBe(200);
		expect(sb.stats().reuseDetections).toBe(0);
		expect(sb.grants()[0]).toMatchObject({ revoked: false, revokedBy: null });
	});

	test('switched on over HTTP (/__sandbox/config), as the benchmark does', async () => {
		await fetch(`${sb.url}/__sandbox/config`, {
			method: 'POST',
			body: JSON.stringify({ reuseDetection: true }),
		});
		const t0 = await exchange();
		const r1 = await refresh(t0.refresh_token);
		expect((await refresh(t0.refresh_token)).status).toBe(400);
		expect((await me(r1.body.access_token)).status).toBe(401);
		expect(sb.grants()[0].revokedBy).toBe('refresh-token-reuse');
	});
});
