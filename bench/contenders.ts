/*
 * The three contenders of the benchmark, each set up on a running n8n against the same sandbox provider, each with
 * one webhook the benchmark calls and a way to get a fresh grant (a new consent) before every scenario.
 *   A  template #2319 rebuilt with built-in nodes, tokens in MariaDB through n8n's MySQL node
 *   B  n8n's built-in OAuth2: an HTTP Request node with an oAuth2Api credential (n8n refreshes after a 401)
 *   C  this node: bundled workflow 2 on the PostgreSQL store (and, in regular mode, the embedded store)
 */
import * as crypto from 'node:crypto';
import type { Pool } from 'mysql2/promise';
import type { N8nClient, Workflow } from '../tools/n8n/client';
import {
	embeddedStore,
	postgresStore,
	provisionTokenManager,
	type StoreChoice,
} from '../tools/n8n/provision';
import type { Sandbox } from '../tools/sandbox';
import {
	callWorkflow,
	refreshWorkflow,
	TABLE_SQL,
	TEMPLATE_APP_ID,
	TEMPLATE_TABLE,
} from './template';

export interface CallResult {
	ok: boolean;
	ms: number;
	/** The template's loop ran into its safety bound. */
	boundHit?: boolean;
	/** Why a call counts as failed (HTTP status and the start of the answer). */
	failure?: string;
}

export interface Contender {
	key: string;
	label: string;
	/** A new consent: a grant no earlier scenario touched. Resolves the sandbox user it belongs to. */
	freshGrant(scenario: string): Promise<string>;
	call(): Promise<CallResult>;
}

export interface Environment {
	client: N8nClient;
	n8nUrl: string;
	sandbox: Sandbox;
	/** A pool on the MariaDB database that holds the template's table (contender A). */
	mysql?: { pool: Pool; database: string };
	/** n8n's own PostgreSQL database (the PostgreSQL token store's table goes there too). */
	postgresDatabase: string;
	minValiditySeconds: number;
}

/** Calls a webhook; `check` judges the answer (its JSON object, else {}: an answer that is no JSON object has no fields). */
async function timed(
	path: string,
	url: string,
	check: (status: number, body: Record<string, unknown>) => CallResult | boolean,
	headers: Record<string, string> = {},
): Promise<CallResult> {
	const started = performance.now();
	try {
		const res = await fetch(`${url}/webhook/${path}`, {
			headers,
			signal: AbortSignal.timeout(120_000),
		});
		const text = await res.text();
		const ms = performance.now() - started;
		let body: unknown = {};
		try {
			body = JSON.parse(text);
		} catch {
			// not JSON: no fields
		}
		const verdict = check(
			res.status,
			body && typeof body === 'object' ? (body as Record<string, unknown>) : {},
		);
		if (typeof verdict === 'boolean')
			return verdict
				? { ok: true, ms }
				: { ok: false, ms, failure: `${res.status} ${text.slice(0, 160)}` };
		return { ...verdict, ms };
	} catch (error) {
		return { ok: false, ms: performance.now() - started, failure: (error as Error).message };
	}
}

const userName = (key: string, scenario: string) =>
	`${key}-${scenario}`.toLowerCase().replace(/[^a-z0-9-]/g, '-');

/** C: bundled workflows 1 and 2, switched to one store. Workflow 2's own webhook auth is a header. */
export async function tokenManagerContender(
	env: Environment,
	key: string,
	label: string,
	store: StoreChoice,
): Promise<Contender> {
	const setup = await provisionTokenManager({
		n8nUrl: env.n8nUrl,
		client: env.client,
		sandbox: env.sandbox,
		store,
		tag: key,
		minValiditySeconds: env.minValiditySeconds,
	});
	let connectionId = '';
	let expected = '';
	return {
		key,
		label,
		async freshGrant(scenario) {
			expected = userName(key, scenario);
			connectionId = `bench:${expected}`;
			const status = await setup.connect(connectionId, expected);
			if (status !== 200) throw new Error(`${label}: workflow 1 answered ${status} to the consent`);
			return expected;
		},
		async call() {
			const started = performance.now();
			try {
				const res = await setup.call(connectionId);
				const ms = performance.now() - started;
				const ok =
					res.status === 200 && res.body.statusCode === 200 && res.body.user?.name === expected;
				return ok ? { ok, ms } : { ok, ms, failure: `${res.status} ${res.text.slice(0, 160)}` };
			} catch (error) {
				return {
					ok: false,
					ms: performance.now() - started,
					failure: `0 ${(error as Error).message.slice(0, 160)}`,
				};
			}
		},
	};
}

export function postgresContender(env: Environment): Promise<Contender> {
	return tokenManagerContender(
		env,
		'c-pg',
		'C: this node (PostgreSQL)',
		postgresStore(env.postgresDatabase),
	);
}

export function embeddedContender(env: Environment, file: string): Promise<Contender> {
	return tokenManagerContender(env, 'c-sqlite', 'C: this node (embedded)', embeddedStore(file));
}

async function publish(
	client: N8nClient,
	workflow: Workflow,
	webhooks: Array<{ path: string; method?: string }>,
): Promise<void> {
	const created = await client.createWorkflow(workflow);
	await client.publishWorkflow(created.id);
	for (const hook of webhooks) await client.waitForWebhook(hook.path, { method: hook.method });
}

/** The consent the sandbox gives as `user`, followed to the redirect it answers with. */
async function consent(authorizeUrl: string, user: string): Promise<string> {
	const url = new URL(authorizeUrl);
	url.searchParams.set('user', user);
	const res = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(10_000) });
	const location = res.headers.get('location');
	if (res.status !== 302 || !location)
		throw new Error(`the sandbox answered ${res.status} to the consent`);
	return location;
}

/**
 * B: n8n's OAuth2 credential, connected through n8n's own OAuth flow (/rest/oauth2-credential). Its webhook checks a
 * header credential as workflow 2's does: the same workload, and n8n's cost of checking a webhook credential
 * (a fresh expression isolate per request in n8n 2.x) falls on both.
 */
export async function builtInContender(env: Environment): Promise<Contender> {
	const key = 'b-oauth2';
	const { sandbox, client } = env;
	const callAuth = { name: 'X-Call-Key', value: crypto.randomBytes(18).toString('base64url') };
	const callAuthCredential = await client.createCredential({
		name: `${key} call webhook header auth`,
		type: 'httpHeaderAuth',
		data: callAuth,
	});
	const credential = await client.createCredential({
		name: `${key} Pipedrive (n8n OAuth2)`,
		type: 'oAuth2Api',
		data: {
			grantType: 'authorizationCode',
			authUrl: sandbox.authorizationUrl,
			accessTokenUrl: sandbox.tokenUrl,
			clientId: sandbox.clientId,
			clientSecret: sandbox.clientSecret,
			scope: 'base',
			authQueryParameters: '',
			authentication: 'header',
		},
	});
	const path = `${key}/call`;
	await publish(
		client,
		{
			name: `${key} HTTP Request with n8n's OAuth2`,
			nodes: [
				{
					id: 'a1b2c3d4-0000-4000-8000-000000000001',
					name: 'Call Webhook',
					type: 'n8n-nodes-base.webhook',
					typeVersion: 2.1,
					position: [0, 0],
					webhookId: crypto.randomUUID(),
					parameters: { path, authentication: 'headerAuth', responseMode: 'lastNode', options: {} },
					credentials: {
						httpHeaderAuth: { id: callAuthCredential.id, name: `${key} call webhook header auth` },
					},
				},
				{
					id: 'a1b2c3d4-0000-4000-8000-000000000002',
					name: 'Call Pipedrive API',
					type: 'n8n-nodes-base.httpRequest',
					typeVersion: 4.2,
					position: [220, 0],
					parameters: {
						url: `${sandbox.url}/api/v1/users/me`,
						authentication: 'genericCredentialType',
						genericAuthType: 'oAuth2Api',
						options: {},
					},
					credentials: { oAuth2Api: { id: credential.id, name: `${key} Pipedrive (n8n OAuth2)` } },
				},
			],
			connections: {
				'Call Webhook': { main: [[{ node: 'Call Pipedrive API', type: 'main', index: 0 }]] },
			},
			settings: { executionOrder: 'v1', saveDataSuccessExecution: 'none' },
		},
		[{ path }],
	);
	let expected = '';
	return {
		key,
		label: "B: n8n's built-in OAuth2",
		async freshGrant(scenario) {
			expected = userName(key, scenario);
			const authorizeUrl: string = await client.rest(
				'GET',
				`/oauth2-credential/auth?id=${credential.id}`,
			);
			const callback = await consent(authorizeUrl, expected);
			const res = await fetch(callback, {
				redirect: 'manual',
				headers: { cookie: client.cookie ?? '', 'browser-id': client.browserId },
				signal: AbortSignal.timeout(30_000),
			});
			const page = await res.text();
			if (res.status !== 200 || (/error/i.test(page.slice(0, 2000)) && !/success/i.test(page))) {
				throw new Error(
					`${key}: n8n's OAuth2 callback answered ${res.status}: ${page.replace(/\s+/g, ' ').slice(0, 200)}`,
				);
			}
			return expected;
		},
		call: () =>
			timed(
				path,
				env.n8nUrl,
				(status, body) =>
					status === 200 && (body.data as { name?: string } | undefined)?.name === expected,
				{ [callAuth.name]: callAuth.value },
			),
	};
}

/** A: the template's table in MariaDB, its refresh service and business call. Step 1 is played here. */
export async function templateContender(env: Environment): Promise<Contender> {
	if (!env.mysql) throw new Error('contender A needs MariaDB');
	const { pool, database } = env.mysql;
	const key = 'a-template';
	const { sandbox, client } = env;
	await pool.query(TABLE_SQL);
	const mysqlCredential = `${key} MariaDB`;
	const basicAuthCredential = `${key} refresh webhook basic auth`;
	await client.createCredential({
		name: mysqlCredential,
		type: 'mySql',
		data: { host: '127.0.0.1', port: 3306, database, user: 'root', password: '' },
	});
	await client.createCredential({
		name: basicAuthCredential,
		type: 'httpBasicAuth',
		data: { user: 'refresh', password: crypto.randomBytes(18).toString('base64url') },
	});
	const settings = {
		tag: key,
		tokenUrl: sandbox.tokenUrl,
		apiUrl: sandbox.url,
		clientId: sandbox.clientId,
		clientSecret: sandbox.clientSecret,
		n8nUrl: env.n8nUrl,
		mysqlCredential,
		basicAuthCredential,
	};
	await publish(client, refreshWorkflow(settings), [{ path: `${key}/refresh`, method: 'POST' }]);
	await publish(client, callWorkflow(settings), [{ path: `${key}/call` }]);
	const redirectUri = `${env.n8nUrl}/webhook/${key}/oauth-callback`; // the template's step 1 webhook
	let term = '';
	return {
		key,
		label: 'A: template #2319 (built-in nodes, MariaDB)',
		async freshGrant(scenario) {
			const user = userName(key, scenario);
			term = `${user}@example.test`;
			const q = new URLSearchParams({
				client_id: sandbox.clientId,
				redirect_uri: redirectUri,
				state: 'bench',
			});
			const code = new URL(
				await consent(`${sandbox.authorizationUrl}?${q}`, user),
			).searchParams.get('code');
			const res = await fetch(sandbox.tokenUrl, {
				method: 'POST',
				headers: {
					'content-type': 'application/x-www-form-urlencoded',
					authorization: `Basic ${Buffer.from(`${sandbox.clientId}:${sandbox.clientSecret}`).toString('base64')}`,
				},
				body: new URLSearchParams({
					grant_type: 'authorization_code',
					code: code ?? '',
					redirect_uri: redirectUri,
				}),
				signal: AbortSignal.timeout(10_000),
			});
			const tokens = (await res.json()) as { access_token: string; refresh_token: string };
			if (!tokens.access_token) throw new Error(`${key}: the code exchange failed (${res.status})`);
			// the template's step 1: update the Pipedrive row when there is one, else insert it
			const [updated] = await pool.query(
				`UPDATE ${TEMPLATE_TABLE} SET acc_token = ?, ref_token = ?, updated_at = NOW() WHERE Platform = 'Pipedrive'`,
				[tokens.access_token, tokens.refresh_token],
			);
			if ((updated as { affectedRows: number }).affectedRows === 0) {
				await pool.query(
					`INSERT INTO ${TEMPLATE_TABLE} (acc_token, ref_token, Platform, AppId) VALUES (?, ?, 'Pipedrive', ?)`,
					[tokens.access_token, tokens.refresh_token, TEMPLATE_APP_ID],
				);
			}
			return user;
		},
		call: () =>
			timed(`${key}/call?${new URLSearchParams({ term })}`, env.n8nUrl, (status, body) => {
				if (body.boundHit === 'true')
					return { ok: false, ms: 0, boundHit: true, failure: 'retry bound hit' };
				return status === 200 && body.name === term.split('@')[0];
			}),
	};
}
