/*
 * A local Pipedrive-like OAuth 2.0 provider and API, for the demo, the tests and the benchmark (dev tooling: not in
 * the package). It behaves as Pipedrive documents its OAuth, with short lifetimes.
 *
 * API (keep it small; the multi-process test, the fault tests, the e2e suite and the benchmark use it):
 *
 *   import { startSandbox } from '../tools/sandbox';   // plain Node scripts: require('../tools/ts-require') first
 *   const sb = await startSandbox({
 *     port: 0,                 // 0 = any free port
 *     host: '127.0.0.1',
 *     clientId, clientSecret,  // random when omitted; read them back from sb.clientId / sb.clientSecret
 *     expiresIn: 3600,         // access token lifetime, seconds (expires_in in token responses)
 *     codeTtl: 60,             // authorization code lifetime, seconds (codes are single use)
 *     refreshTokenTtl: 60 * 24 * 3600, // an unused refresh token dies after this many seconds (Pipedrive: 60 days)
 *     acceptPreviousRefreshToken: false, // true: the refresh token just rotated out is accepted once more
 *                              // (a client that lost the response retries); otherwise it gets invalid_grant
 *     tokenDelayMs: 0,         // latency added to every /oauth/token answer (makes races visible)
 *     redirectUris: null,      // array of allowed redirect_uri values (exact match); null = any
 *     scope: 'base contacts:full',
 *     log: false,              // true or a function(line): one line per request
 *   });
 *   sb.url                     // 'http://127.0.0.1:<port>' — also the api_domain the token responses carry
 *   sb.stats()                 // counters, see below; sb.reset() zeroes them (tokens and grants stay)
 *   sb.configure({ expiresIn, tokenDelayMs, acceptPreviousRefreshToken, reuseDetection, codeTtl, clientSecret })  // at run time;
 *                              // a new clientSecret is the app's secret rotated: the old one gets invalid_client (sb.clientSecret stays the first)
 *   sb.expireAccessTokens()    // every access token issued so far is now expired (401 from the API)
 *   sb.grants()                // [{ grantId, userId, companyDomain, revoked, revokedBy, refreshes, accessTokens }]
 *                              // revokedBy: null | 'revocation' | 'code-replay' | 'refresh-token-reuse'
 *   await sb.close()
 *
 * Endpoints:
 *   GET  /oauth/authorize?client_id&redirect_uri&state&scope[&code_challenge&code_challenge_method=S256]
 *        consents at once: 302 to redirect_uri?code=…&state=… ; with deny=1: 302 …?error=access_denied&state=…
 *        user=<name> picks the account that consents (each grant gets its own user otherwise)
 *   POST /oauth/token         form: grant_type=authorization_code (code, redirect_uri[, code_verifier])
 *                             | refresh_token (refresh_token); client auth: HTTP Basic (or client_id/client_secret
 *                             in the body). Errors: 401 invalid_client, 400 invalid_grant / invalid_request /
 *                             unsupported_grant_type, as JSON { error, error_description, message }.
 *   POST /oauth/revoke        RFC 7009 (token, token_type_hint); 200 even for unknown tokens; revoking a refresh
 *                             token ends the whole grant (Pipedrive: uninstalls the app).
 *   GET  /api/v1/users/me, GET /api/v2/persons/search?term=…  Bearer token; 401 with Pipedrive's error body.
 *   GET  /__sandbox/stats     the counters as JSON; POST /__sandbox/reset zeroes them;
 *   POST /__sandbox/expire    expires every access token; POST /__sandbox/config JSON body as configure().
 *
 * stats(): { tokenRequests: { total, authorization_code, refresh_token, other, failed },
 *            apiCalls, failedApiCalls, authorizations, denials, revocations, reuseDetections,
 *            refreshesByGrant: { [grantId]: n },        // successful refreshes
 *            refreshRequestsByGrant: { [grantId]: n },  // every refresh_token request with a token of the grant
 *            apiCallsByGrant: { [grantId]: n }, failedApiCallsByGrant: { [grantId]: n },
 *            lastTokenError }
 *
 * CLI: node -r ./tools/ts-require tools/sandbox [--port 8787] [--expires-in 20] [--client-id x] [--client-secret y]
 *      [--accept-previous-refresh-token] [--reuse-detection] [--token-delay-ms 0] [--log]
 */
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export const PIPEDRIVE_INVALID_TOKEN = 'Invalid token: access token is invalid';

export interface SandboxOptions {
	port?: number;
	host?: string;
	clientId?: string;
	clientSecret?: string;
	expiresIn?: number;
	codeTtl?: number;
	refreshTokenTtl?: number;
	acceptPreviousRefreshToken?: boolean;
	reuseDetection?: boolean;
	tokenDelayMs?: number;
	redirectUris?: string[] | null;
	scope?: string;
	log?: boolean | ((line: string) => void);
}

/** The settings configure() may change while the sandbox runs. */
export type SandboxSettings = Partial<
	Pick<
		SandboxOptions,
		| 'expiresIn'
		| 'codeTtl'
		| 'refreshTokenTtl'
		| 'tokenDelayMs'
		| 'acceptPreviousRefreshToken'
		| 'reuseDetection'
		| 'clientSecret'
	>
>;

export interface SandboxStats {
	tokenRequests: {
		total: number;
		authorization_code: number;
		refresh_token: number;
		other: number;
		failed: number;
	};
	apiCalls: number;
	failedApiCalls: number;
	authorizations: number;
	denials: number;
	revocations: number;
	reuseDetections: number;
	refreshesByGrant: Record<string, number>;
	refreshRequestsByGrant: Record<string, number>;
	apiCallsByGrant: Record<string, number>;
	failedApiCallsByGrant: Record<string, number>;
	lastTokenError: string | null;
}

export type RevokedBy = 'revocation' | 'code-replay' | 'refresh-token-reuse';

export interface GrantInfo {
	grantId: string;
	userId: number;
	userName: string;
	companyDomain: string;
	revoked: boolean;
	revokedBy: RevokedBy | null;
	refreshes: number;
	accessTokens: number;
}

export interface Sandbox {
	url: string;
	port: number;
	clientId: string;
	clientSecret: string;
	authorizationUrl: string;
	tokenUrl: string;
	revocationUrl: string;
	stats(): SandboxStats;
	reset(): void;
	configure(changes?: SandboxSettings): void;
	expireAccessTokens(): void;
	grants(): GrantInfo[];
	close(): Promise<void>;
}

interface User {
	id: number;
	name: string;
	email: string;
	company_id: number;
	company_domain: string;
}

interface Grant {
	grantId: string;
	user: User;
	scope: string;
	revokedBy: RevokedBy | null;
	refreshes: number;
	accessTokens: number;
}

interface CodeEntry {
	clientId: string;
	redirectUri: string;
	scope: string;
	user: User;
	challenge: string | null;
	method: string | null;
	expiresAt: number;
	used: boolean;
	grantId?: string;
}

/** current: the one to use; previous: just rotated out; dead: used up. */
type RefreshState = 'current' | 'previous' | 'dead';

type Form = Record<string, string | undefined>;

function randomToken(prefix: string, bytes = 24): string {
	return `${prefix}${crypto.randomBytes(bytes).toString('base64url')}`;
}

function emptyStats(): SandboxStats {
	return {
		tokenRequests: { total: 0, authorization_code: 0, refresh_token: 0, other: 0, failed: 0 },
		apiCalls: 0,
		failedApiCalls: 0,
		authorizations: 0,
		denials: 0,
		revocations: 0,
		reuseDetections: 0,
		refreshesByGrant: {},
		refreshRequestsByGrant: {},
		apiCallsByGrant: {},
		failedApiCallsByGrant: {},
		lastTokenError: null,
	};
}

function count(counters: Record<string, number>, key: string): void {
	counters[key] = (counters[key] || 0) + 1;
}

function readBody(req: http.IncomingMessage, limit = 1 << 20): Promise<string> {
	return new Promise((resolve, reject) => {
		const chunks: Buffer[] = [];
		let size = 0;
		req.on('data', (chunk: Buffer) => {
			size += chunk.length;
			if (size > limit) {
				reject(new Error('body too large'));
				req.destroy();
				return;
			}
			chunks.push(chunk);
		});
		req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
		req.on('error', reject);
	});
}

function parseBody(req: http.IncomingMessage, text: string): Form {
	const type = String(req.headers['content-type'] || '').toLowerCase();
	if (type.includes('application/json')) {
		try {
			const parsed = JSON.parse(text || '{}');
			return parsed && typeof parsed === 'object' ? parsed : {};
		} catch {
			return {};
		}
	}
	return Object.fromEntries(new URLSearchParams(text));
}

function sendJson(
	res: http.ServerResponse,
	status: number,
	body: unknown,
	headers: Record<string, string> = {},
): void {
	const text = JSON.stringify(body);
	res.writeHead(status, {
		'content-type': 'application/json; charset=utf-8',
		'content-length': Buffer.byteLength(text),
		'cache-control': 'no-store',
		...headers,
	});
	res.end(text);
}

function sendHtml(res: http.ServerResponse, status: number, html: string): void {
	res.writeHead(status, {
		'content-type': 'text/html; charset=utf-8',
		'content-length': Buffer.byteLength(html),
	});
	res.end(html);
}

function redirect(res: http.ServerResponse, location: string): void {
	res.writeHead(302, { location, 'content-length': 0 });
	res.end();
}

/** RFC 6749 §2.3.1: id and secret are form-urlencoded before base64. */
function basicCredentials(header: string | undefined): { id: string; secret: string } | null {
	const match = /^Basic\s+(.+)$/i.exec(header || '');
	if (!match) return null;
	const decoded = Buffer.from(match[1], 'base64').toString('utf8');
	const colon = decoded.indexOf(':');
	if (colon < 0) return null;
	const unformat = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
	try {
		return { id: unformat(decoded.slice(0, colon)), secret: unformat(decoded.slice(colon + 1)) };
	} catch {
		return null;
	}
}

function safeEqual(a: unknown, b: unknown): boolean {
	const x = Buffer.from(String(a));
	const y = Buffer.from(String(b));
	return x.length === y.length && crypto.timingSafeEqual(x, y);
}

function pipedriveError(message: string, info: string) {
	return { success: false, error: message, error_info: info, data: null, additional_data: null };
}

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
	const config = {
		host: options.host || '127.0.0.1',
		port: options.port ?? 0,
		clientId: options.clientId || randomToken('sandbox-client-', 6),
		clientSecret: options.clientSecret || randomToken('', 18),
		expiresIn: options.expiresIn ?? 3600,
		codeTtl: options.codeTtl ?? 60,
		refreshTokenTtl: options.refreshTokenTtl ?? 60 * 24 * 3600,
		acceptPreviousRefreshToken: Boolean(options.acceptPreviousRefreshToken),
		reuseDetection: Boolean(options.reuseDetection),
		tokenDelayMs: options.tokenDelayMs ?? 0,
		redirectUris: options.redirectUris || null,
		scope: options.scope || 'base contacts:full',
	};
	const log: (line: string) => void =
		typeof options.log === 'function'
			? options.log
			: options.log
				? (line) => process.stderr.write(`[sandbox] ${line}\n`)
				: () => {};

	let stats = emptyStats();
	const codes = new Map<string, CodeEntry>();
	const grants = new Map<string, Grant>();
	const accessTokens = new Map<string, { grantId: string; issuedAt: number; expiresAt: number }>();
	const refreshTokens = new Map<
		string,
		{ grantId: string; expiresAt: number; state: RefreshState }
	>();
	const users = new Map<string, User>();
	let nextUserId = 1001;
	let nextGrant = 1;
	let baseUrl = '';

	function userFor(name: string | null): User {
		const key = name || `user${nextUserId}`;
		let user = users.get(key);
		if (!user) {
			const id = nextUserId++;
			user = {
				id,
				name: key,
				email: `${key}@example.test`,
				company_id: 7000 + id,
				company_domain: `company${id}`,
			};
			users.set(key, user);
		}
		return user;
	}

	/** Ends a grant once; the first reason sticks. */
	function revokeGrant(grant: Grant, by: RevokedBy): void {
		if (grant.revokedBy) return;
		grant.revokedBy = by;
		log(`grant ${grant.grantId} revoked (${by})`);
	}

	function issueTokens(grant: Grant) {
		const now = Date.now();
		const access = randomToken(`${grant.user.id}:`, 24);
		accessTokens.set(access, {
			grantId: grant.grantId,
			issuedAt: now,
			expiresAt: now + config.expiresIn * 1000,
		});
		grant.accessTokens += 1;
		const refresh = randomToken(`${grant.user.id}:r:`, 24);
		// rotation: the current refresh token becomes "previous" (accepted once if configured), older ones die
		for (const entry of refreshTokens.values()) {
			if (entry.grantId !== grant.grantId) continue;
			if (entry.state === 'current') entry.state = 'previous';
			else if (entry.state === 'previous') entry.state = 'dead';
		}
		refreshTokens.set(refresh, {
			grantId: grant.grantId,
			expiresAt: now + config.refreshTokenTtl * 1000,
			state: 'current',
		});
		return {
			access_token: access,
			token_type: 'Bearer',
			refresh_token: refresh,
			scope: grant.scope,
			expires_in: config.expiresIn,
			api_domain: baseUrl,
		};
	}

	function tokenError(
		res: http.ServerResponse,
		status: number,
		error: string,
		description: string,
	): void {
		stats.tokenRequests.failed += 1;
		stats.lastTokenError = error;
		log(`token error ${status} ${error}: ${description}`);
		sendJson(
			res,
			status,
			{ error, error_description: description, message: description },
			status === 401 ? { 'www-authenticate': 'Basic realm="oauth"' } : {},
		);
	}

	async function handleAuthorize(
		_req: http.IncomingMessage,
		res: http.ServerResponse,
		url: URL,
	): Promise<void> {
		const q = url.searchParams;
		const clientId = q.get('client_id');
		const redirectUri = q.get('redirect_uri');
		if (clientId !== config.clientId) {
			sendHtml(res, 400, '<h1>Unknown client_id</h1>');
			return;
		}
		if (!redirectUri || (config.redirectUris && !config.redirectUris.includes(redirectUri))) {
			sendHtml(res, 400, '<h1>redirect_uri does not match the registered callback</h1>');
			return;
		}
		let target: URL;
		try {
			target = new URL(redirectUri);
		} catch {
			sendHtml(res, 400, '<h1>Invalid redirect_uri</h1>');
			return;
		}
		const state = q.get('state');
		if (q.get('deny') === '1' || q.get('deny') === 'true') {
			stats.denials += 1;
			target.searchParams.set('error', 'access_denied');
			if (state !== null) target.searchParams.set('state', state);
			redirect(res, target.toString());
			return;
		}
		const challenge = q.get('code_challenge');
		const method = q.get('code_challenge_method') || (challenge ? 'plain' : null);
		if (challenge && method !== 'S256' && method !== 'plain') {
			target.searchParams.set('error', 'invalid_request');
			if (state !== null) target.searchParams.set('state', state);
			redirect(res, target.toString());
			return;
		}
		const code = randomToken('code-', 18);
		codes.set(code, {
			clientId,
			redirectUri,
			scope: q.get('scope') || config.scope,
			user: userFor(q.get('user')),
			challenge,
			method,
			expiresAt: Date.now() + config.codeTtl * 1000,
			used: false,
		});
		stats.authorizations += 1;
		target.searchParams.set('code', code);
		if (state !== null) target.searchParams.set('state', state);
		log(`authorize -> ${target.origin}${target.pathname}`);
		redirect(res, target.toString());
	}

	function clientFrom(
		req: http.IncomingMessage,
		body: Form,
	): { id: string; secret: string } | null {
		const basic = basicCredentials(req.headers.authorization);
		if (basic) return basic;
		if (body.client_id !== undefined)
			return { id: body.client_id, secret: body.client_secret ?? '' };
		return null;
	}

	async function handleToken(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
		const body = parseBody(req, await readBody(req));
		if (config.tokenDelayMs > 0) await new Promise((r) => setTimeout(r, config.tokenDelayMs));
		const grantType = body.grant_type;
		stats.tokenRequests.total += 1;
		if (grantType === 'authorization_code' || grantType === 'refresh_token')
			stats.tokenRequests[grantType] += 1;
		else stats.tokenRequests.other += 1;

		// Counted before the client is checked: a refresh the client's secret spoils is still a request with the grant's token.
		const refreshEntry =
			grantType === 'refresh_token' && body.refresh_token
				? refreshTokens.get(body.refresh_token)
				: undefined;
		const refreshGrant = refreshEntry && grants.get(refreshEntry.grantId);
		if (refreshGrant) count(stats.refreshRequestsByGrant, refreshGrant.grantId);

		const client = clientFrom(req, body);
		if (
			!client ||
			!safeEqual(client.id, config.clientId) ||
			!safeEqual(client.secret, config.clientSecret)
		) {
			tokenError(res, 401, 'invalid_client', 'Client authentication failed');
			return;
		}
		if (grantType === 'authorization_code') {
			const entry = body.code ? codes.get(body.code) : undefined;
			if (!body.code) return tokenError(res, 400, 'invalid_request', 'Missing parameter: code');
			if (!entry) return tokenError(res, 400, 'invalid_grant', 'Invalid authorization code');
			if (entry.used) {
				// RFC 6749 §4.1.2: a replayed code should revoke what it produced
				const produced = entry.grantId ? grants.get(entry.grantId) : undefined;
				if (produced) revokeGrant(produced, 'code-replay');
				return tokenError(res, 400, 'invalid_grant', 'Authorization code already used');
			}
			entry.used = true;
			if (Date.now() > entry.expiresAt)
				return tokenError(res, 400, 'invalid_grant', 'Authorization code expired');
			if (entry.redirectUri !== body.redirect_uri)
				return tokenError(res, 400, 'invalid_grant', 'redirect_uri mismatch');
			if (entry.challenge) {
				const verifier = body.code_verifier || '';
				const computed =
					entry.method === 'S256'
						? crypto.createHash('sha256').update(verifier).digest('base64url')
						: verifier;
				if (!verifier || computed !== entry.challenge)
					return tokenError(res, 400, 'invalid_grant', 'PKCE verification failed');
			}
			const grant: Grant = {
				grantId: `grant-${nextGrant++}`,
				user: entry.user,
				scope: entry.scope,
				revokedBy: null,
				refreshes: 0,
				accessTokens: 0,
			};
			grants.set(grant.grantId, grant);
			entry.grantId = grant.grantId;
			stats.refreshesByGrant[grant.grantId] = 0;
			log(`token: authorization_code -> ${grant.grantId}`);
			sendJson(res, 200, issueTokens(grant));
			return;
		}
		if (grantType === 'refresh_token') {
			if (!body.refresh_token)
				return tokenError(res, 400, 'invalid_request', 'Missing parameter: refresh_token');
			const entry = refreshEntry;
			const grant = refreshGrant;
			if (!entry || !grant || grant.revokedBy)
				return tokenError(res, 400, 'invalid_grant', 'Invalid refresh token');
			if (Date.now() > entry.expiresAt)
				return tokenError(res, 400, 'invalid_grant', 'Refresh token expired');
			const graceRetry = entry.state === 'previous' && config.acceptPreviousRefreshToken;
			if (entry.state !== 'current' && !graceRetry) {
				// a rotated-out token came back: someone holds a copy (RFC 9700 §4.14.2), so the grant may end
				if (config.reuseDetection) {
					stats.reuseDetections += 1;
					revokeGrant(grant, 'refresh-token-reuse');
				}
				return tokenError(res, 400, 'invalid_grant', 'Refresh token already used');
			}
			if (graceRetry) {
				entry.state = 'dead'; // accepted once
				// the token pair issued with it is replaced: its refresh token must not stay current
				for (const other of refreshTokens.values())
					if (other.grantId === grant.grantId && other.state === 'current') other.state = 'dead';
			}
			grant.refreshes += 1;
			count(stats.refreshesByGrant, grant.grantId);
			const answer = issueTokens(grant); // rotates: the token just used becomes "previous"
			log(`token: refresh_token -> ${grant.grantId} (#${grant.refreshes})`);
			sendJson(res, 200, answer);
			return;
		}
		tokenError(
			res,
			400,
			'unsupported_grant_type',
			`Unsupported grant type: ${grantType ?? '(none)'}`,
		);
	}

	async function handleRevoke(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
		const body = parseBody(req, await readBody(req));
		const client = clientFrom(req, body);
		if (
			!client ||
			!safeEqual(client.id, config.clientId) ||
			!safeEqual(client.secret, config.clientSecret)
		) {
			sendJson(res, 401, {
				error: 'invalid_client',
				error_description: 'Client authentication failed',
			});
			return;
		}
		if (!body.token) {
			sendJson(res, 400, {
				error: 'invalid_request',
				error_description: 'Missing parameter: token',
			});
			return;
		}
		stats.revocations += 1;
		const refresh = refreshTokens.get(body.token);
		const access = accessTokens.get(body.token);
		const grant = refresh && grants.get(refresh.grantId);
		if (grant) revokeGrant(grant, 'revocation');
		else if (access) access.expiresAt = 0;
		res.writeHead(200, { 'content-length': 0 });
		res.end();
	}

	function authenticateApi(req: http.IncomingMessage, res: http.ServerResponse): Grant | null {
		stats.apiCalls += 1;
		const match = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization || '');
		const entry = match ? accessTokens.get(match[1]) : undefined;
		const grant = entry && grants.get(entry.grantId);
		if (grant) count(stats.apiCallsByGrant, grant.grantId);
		if (!entry || !grant || grant.revokedBy || Date.now() >= entry.expiresAt) {
			stats.failedApiCalls += 1;
			if (grant) count(stats.failedApiCallsByGrant, grant.grantId);
			log(`api 401 ${req.url}`);
			sendJson(
				res,
				401,
				pipedriveError(PIPEDRIVE_INVALID_TOKEN, 'Please check developers.pipedrive.com'),
				{
					'www-authenticate': 'Bearer error="invalid_token"',
				},
			);
			return null;
		}
		return grant;
	}

	function handleMe(req: http.IncomingMessage, res: http.ServerResponse): void {
		const grant = authenticateApi(req, res);
		if (!grant) return;
		const u = grant.user;
		sendJson(res, 200, {
			success: true,
			data: {
				id: u.id,
				name: u.name,
				email: u.email,
				company_id: u.company_id,
				company_domain: u.company_domain,
				company_name: `Company ${u.company_domain}`,
				active_flag: true,
			},
		});
	}

	function handlePersonsSearch(
		req: http.IncomingMessage,
		res: http.ServerResponse,
		url: URL,
	): void {
		const grant = authenticateApi(req, res);
		if (!grant) return;
		const term = url.searchParams.get('term') || '';
		const items = term
			? [
					{
						result_score: 1,
						item: {
							id: 1,
							type: 'person',
							name: term.includes('@') ? term.split('@')[0] : term,
							emails: term.includes('@') ? [term] : [],
							owner: { id: grant.user.id },
						},
					},
				]
			: [];
		sendJson(res, 200, { success: true, data: { items }, additional_data: { next_cursor: null } });
	}

	const server = http.createServer((req, res) => {
		const url = new URL(req.url || '/', 'http://sandbox');
		const route = `${req.method} ${url.pathname}`;
		const done = (err: Error) => {
			log(`error ${route}: ${err.message}`);
			if (!res.headersSent) sendJson(res, 500, { error: 'server_error' });
			else res.destroy();
		};
		try {
			switch (route) {
				case 'GET /oauth/authorize':
					return void handleAuthorize(req, res, url).catch(done);
				case 'POST /oauth/token':
					return void handleToken(req, res).catch(done);
				case 'POST /oauth/revoke':
					return void handleRevoke(req, res).catch(done);
				case 'GET /api/v1/users/me':
					return void handleMe(req, res);
				case 'GET /api/v2/persons/search':
					return void handlePersonsSearch(req, res, url);
				case 'GET /__sandbox/stats':
					return void sendJson(res, 200, api.stats());
				case 'POST /__sandbox/reset':
					api.reset();
					return void sendJson(res, 200, api.stats());
				case 'POST /__sandbox/expire':
					api.expireAccessTokens();
					return void sendJson(res, 200, { ok: true });
				case 'POST /__sandbox/config':
					return void readBody(req)
						.then((text) => {
							api.configure(JSON.parse(text || '{}'));
							sendJson(res, 200, { ok: true });
						})
						.catch(done);
				default:
					if (url.pathname.startsWith('/api/')) {
						const grant = authenticateApi(req, res);
						if (grant)
							sendJson(res, 404, pipedriveError('Not found', 'Unknown endpoint in the sandbox'));
						return;
					}
					sendJson(res, 404, { error: 'not_found' });
			}
		} catch (err) {
			done(err as Error);
		}
	});
	server.keepAliveTimeout = 1000;

	await new Promise<void>((resolve, reject) => {
		server.once('error', reject);
		server.listen(config.port, config.host, () => {
			server.off('error', reject);
			resolve();
		});
	});
	const { port } = server.address() as AddressInfo;
	baseUrl = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;

	const api: Sandbox = {
		url: baseUrl,
		port,
		clientId: config.clientId,
		clientSecret: config.clientSecret,
		authorizationUrl: `${baseUrl}/oauth/authorize`,
		tokenUrl: `${baseUrl}/oauth/token`,
		revocationUrl: `${baseUrl}/oauth/revoke`,
		stats: () => JSON.parse(JSON.stringify(stats)),
		reset: () => {
			stats = emptyStats();
			for (const g of grants.values()) stats.refreshesByGrant[g.grantId] = 0;
		},
		configure: (changes = {}) => {
			const keys = [
				'expiresIn',
				'codeTtl',
				'refreshTokenTtl',
				'tokenDelayMs',
				'acceptPreviousRefreshToken',
				'reuseDetection',
				'clientSecret',
			] as const;
			for (const key of keys) {
				if (changes[key] !== undefined) (config as Record<string, unknown>)[key] = changes[key];
			}
		},
		expireAccessTokens: () => {
			for (const entry of accessTokens.values()) entry.expiresAt = 0;
		},
		grants: () =>
			[...grants.values()].map((g) => ({
				grantId: g.grantId,
				userId: g.user.id,
				userName: g.user.name,
				companyDomain: g.user.company_domain,
				revoked: g.revokedBy !== null,
				revokedBy: g.revokedBy,
				refreshes: g.refreshes,
				accessTokens: g.accessTokens,
			})),
		close: () =>
			new Promise<void>((resolve) => {
				server.close(() => resolve());
				server.closeAllConnections?.();
			}),
	};
	return api;
}

function parseArgs(argv: string[]): SandboxOptions & { help?: boolean } {
	const out: SandboxOptions & { help?: boolean } = {};
	for (let i = 0; i < argv.length; i++) {
		const arg = argv[i];
		const next = () => argv[++i];
		switch (arg) {
			case '--port':
				out.port = Number(next());
				break;
			case '--host':
				out.host = next();
				break;
			case '--expires-in':
				out.expiresIn = Number(next());
				break;
			case '--code-ttl':
				out.codeTtl = Number(next());
				break;
			case '--client-id':
				out.clientId = next();
				break;
			case '--client-secret':
				out.clientSecret = next();
				break;
			case '--token-delay-ms':
				out.tokenDelayMs = Number(next());
				break;
			case '--accept-previous-refresh-token':
				out.acceptPreviousRefreshToken = true;
				break;
			case '--reuse-detection':
				out.reuseDetection = true;
				break;
			case '--log':
				out.log = true;
				break;
			case '--help':
			case '-h':
				out.help = true;
				break;
			default:
				throw new Error(`Unknown option ${arg} (try --help)`);
		}
	}
	return out;
}

if (require.main === module) {
	let args: ReturnType<typeof parseArgs>;
	try {
		args = parseArgs(process.argv.slice(2));
	} catch (err) {
		console.error((err as Error).message);
		process.exit(2);
	}
	if (args.help) {
		console.log(
			'usage: node -r ./tools/ts-require tools/sandbox [--port 8787] [--host 127.0.0.1] [--expires-in 3600] [--code-ttl 60]\n' +
				'       [--client-id ID] [--client-secret SECRET] [--token-delay-ms 0] [--accept-previous-refresh-token]\n' +
				'       [--reuse-detection] [--log]',
		);
		process.exit(0);
	}
	startSandbox({ port: 8787, log: true, ...args }).then(
		(sb) => {
			console.log(`Pipedrive-like sandbox on ${sb.url}`);
			console.log(`  authorization URL  ${sb.authorizationUrl}`);
			console.log(`  token URL          ${sb.tokenUrl}`);
			console.log(`  revocation URL     ${sb.revocationUrl}`);
			console.log(`  client id          ${sb.clientId}`);
			console.log(`  client secret      ${sb.clientSecret}`);
			console.log(`  counters           ${sb.url}/__sandbox/stats`);
			const stop = () => {
				sb.close().then(
					() => process.exit(0),
					(err: Error) => {
						console.error(`closing the sandbox failed: ${err.message}`);
						process.exit(1);
					},
				);
			};
			process.on('SIGINT', stop);
			process.on('SIGTERM', stop);
		},
		(err: Error) => {
			console.error(`the sandbox did not start: ${err.message}`);
			process.exit(1);
		},
	);
}
