import nock from 'nock';
import { resolveOAuthClient, type OAuthClient } from '../../engine/presets';

export const PROVIDER_ORIGIN = 'https://provider.test';
/**
 * Sentinels: a test fails if any of them shows up where a secret must not. The client secret holds characters
 * that form-, percent- and JSON-encoding change, so each of its encoded forms differs from it.
 */
export const CLIENT_SECRET = 'SENTINEL-client-secret-7c1f:+/ &=%"';

/**
 * The client secret of testClient() as it travels, which the sentinel pattern alone would miss once encoded: the
 * Basic header's base64 value (RFC 6749 §2.3.1 form-encodes id and secret first; also without that step), and the
 * secret form- and percent-encoded as in a request body.
 */
const formEncoded = (value: string) => new URLSearchParams({ v: value }).toString().slice(2);
export const CLIENT_SECRET_FORMS = [
	Buffer.from(`client-id:${formEncoded(CLIENT_SECRET)}`).toString('base64'),
	Buffer.from(`client-id:${CLIENT_SECRET}`).toString('base64'),
	formEncoded(CLIENT_SECRET),
	encodeURIComponent(CLIENT_SECRET),
];

export function testClient(overrides: Partial<OAuthClient> = {}): OAuthClient {
	return {
		...resolveOAuthClient({
			preset: 'pipedrive',
			clientId: 'client-id',
			clientSecret: CLIENT_SECRET,
			redirectUri: 'https://n8n.test/webhook/oauth/callback',
		}),
		tokenUrl: `${PROVIDER_ORIGIN}/oauth/token`,
		...overrides,
	};
}

export interface TokenRequest {
	grant_type: string;
	code?: string;
	refresh_token?: string;
	redirect_uri?: string;
	authorization?: string;
}

/**
 * A token endpoint under nock that behaves like Pipedrive's: it issues numbered tokens, rotates
 * refresh tokens, and answers invalid_grant for a refresh token it has retired.
 */
export function rotatingTokenEndpoint(
	options: { expiresIn?: number | string; rotate?: boolean; delayMs?: number } = {},
) {
	const requests: TokenRequest[] = [];
	const live = new Set<string>(['SENTINEL-refresh-0']);
	let issued = 0;
	const scope = nock(PROVIDER_ORIGIN)
		.persist()
		.post('/oauth/token')
		.delay(options.delayMs ?? 0)
		.reply(function (_uri, body) {
			const form = Object.fromEntries(
				new URLSearchParams(body as string),
			) as unknown as TokenRequest;
			requests.push({
				...form,
				authorization: this.req.headers.authorization as string | undefined,
			});
			if (form.grant_type === 'refresh_token') {
				if (!live.has(form.refresh_token!))
					return [
						400,
						{ error: 'invalid_grant', message: 'Invalid grant: refresh token is invalid' },
					];
				if (options.rotate !== false) live.delete(form.refresh_token!);
			}
			issued += 1;
			const refreshToken =
				options.rotate === false && form.grant_type === 'refresh_token'
					? undefined
					: `SENTINEL-refresh-${issued}`;
			if (refreshToken) live.add(refreshToken);
			return [
				200,
				{
					access_token: `SENTINEL-access-${issued}`,
					token_type: 'Bearer',
					expires_in: options.expiresIn ?? 3600,
					...(refreshToken ? { refresh_token: refreshToken } : {}),
					scope: 'base deals:read',
					api_domain: 'https://acme.pipedrive.test',
				},
			];
		});
	return {
		requests,
		refreshRequests: () => requests.filter((r) => r.grant_type === 'refresh_token'),
		/** Makes the next code exchange issue `SENTINEL-refresh-0`'s successors predictably. */
		done: () => scope.persist(false),
	};
}

/** How a scripted token endpoint answers one request: a status and JSON body, or a network error. */
export type ScriptedAnswer = { status: number; body: Record<string, unknown> } | 'network-error';

export interface ScriptedRequest {
	form: Record<string, string>;
	authorization?: string;
}

/**
 * A token endpoint under nock whose answers a test changes as it goes (`answer`), by default issuing numbered tokens
 * (SENTINEL-access-N, and SENTINEL-refresh-N except to client credentials); each answer takes `delayMs`. Records every
 * request and the most requests it was answering at once.
 */
export function scriptedTokenEndpoint() {
	const requests: ScriptedRequest[] = [];
	let issued = 0;
	let inFlight = 0;
	const state = {
		delayMs: 0,
		maxInFlight: 0,
		answer: (form: Record<string, string>): ScriptedAnswer => {
			issued += 1;
			const refresh =
				form.grant_type === 'client_credentials'
					? {}
					: { refresh_token: `SENTINEL-refresh-${issued}` };
			return {
				status: 200,
				body: {
					access_token: `SENTINEL-access-${issued}`,
					token_type: 'Bearer',
					expires_in: 3600,
					...refresh,
				},
			};
		},
	};
	const interceptor = nock(PROVIDER_ORIGIN).persist().post('/oauth/token');
	interceptor.reply(function (_uri, body, callback) {
		const form = Object.fromEntries(new URLSearchParams(body as string));
		requests.push({ form, authorization: this.req.headers.authorization as string | undefined });
		inFlight += 1;
		state.maxInFlight = Math.max(state.maxInFlight, inFlight);
		setTimeout(() => {
			inFlight -= 1;
			const answer = state.answer(form);
			if (answer === 'network-error')
				callback(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), [0, '']);
			else callback(null, [answer.status, answer.body]);
		}, state.delayMs);
	});
	return {
		state,
		requests,
		/** The default answer: numbered tokens. */
		issue: state.answer,
		/** Requests of one grant type. */
		of: (grantType: string) => requests.filter((r) => r.form.grant_type === grantType),
		/** Removes this endpoint's interceptor only (another layer, e.g. PostgREST, may be under nock too). */
		stop: () => nock.removeInterceptor(interceptor),
	};
}
