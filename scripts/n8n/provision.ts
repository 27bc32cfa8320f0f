/*
 * Sets this package up on a running n8n the way a user does, on a token store of their choice: the OAuth app
 * credential (the sandbox as provider), a store credential, webhook credentials, and bundled workflows 1 (connect)
 * and 2 (call the API with a valid token) switched to that store, published. Then connects accounts through
 * workflow 1 and calls workflow 2. The queue-mode e2e test and the benchmark use it; the demo has its own stack.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Sandbox } from '../../test/sandbox';

export interface WorkflowNode {
	id?: string;
	name: string;
	type: string;
	typeVersion?: number;
	position?: [number, number];
	webhookId?: string;
	onError?: string;
	parameters: Record<string, any>;
	credentials?: Record<string, { id: string | null; name: string }>;
}

export interface Workflow {
	name: string;
	nodes: WorkflowNode[];
	connections: object;
	settings?: object;
}

export interface N8nClient {
	url: string;
	cookie: string | null;
	browserId: string;
	rest(method: string, path: string, body?: unknown): Promise<any>;
	setupOwner(owner: { email: string; password: string }): Promise<unknown>;
	createApiKey(): Promise<unknown>;
	createCredential(credential: { name: string; type: string; data: object }): Promise<{ id: string }>;
	createWorkflow(workflow: Workflow): Promise<{ id: string; nodes: Workflow['nodes'] }>;
	publishWorkflow(id: string): Promise<unknown>;
	waitForWebhook(path: string, options?: { method?: string; timeoutMs?: number }): Promise<void>;
	webhook(
		path: string,
		options?: { method?: string; query?: Record<string, string>; body?: unknown; headers?: Record<string, string> },
	): Promise<{ status: number; body: any; text: string }>;
}

const { N8nClient: Client } = require('./client') as { N8nClient: new (url: string) => N8nClient };

const repoDir = path.resolve(__dirname, '..', '..');
const PACKAGE_NODE = 'n8n-nodes-oauth2-token-manager.oAuth2TokenManager';
const EMBEDDED_CREDENTIAL = 'oAuth2TokenManagerEmbeddedApi';

export function readBundledWorkflow(file: string): Workflow {
	return JSON.parse(fs.readFileSync(path.join(repoDir, 'workflows', file), 'utf8'));
}

/** Where the tokens live: the node's Storage value and the credential it then asks for. */
export interface StoreChoice {
	storage: 'embedded' | 'postgres' | 'mysql';
	credentialType: string;
	credentialName: string;
	data: Record<string, unknown>;
}

/** The PostgreSQL store in the given database (the table is created on first use). */
export function postgresStore(database: string, encryptionKey = crypto.randomBytes(32).toString('base64')): StoreChoice {
	return {
		storage: 'postgres',
		credentialType: 'oAuth2TokenManagerPostgresApi',
		credentialName: 'OAuth2 token store (PostgreSQL)',
		data: { host: '127.0.0.1', port: 5432, database, user: 'postgres', password: '', ssl: 'disable', tableName: 'oauth2_tokens', createTableIfMissing: true, encryptionKey },
	};
}

/** The embedded (SQLite) store: one file, so only for processes on one host. */
export function embeddedStore(filePath: string): StoreChoice {
	return {
		storage: 'embedded',
		credentialType: EMBEDDED_CREDENTIAL,
		credentialName: 'OAuth2 token store (embedded)',
		data: { filePath, encryptionKey: crypto.randomBytes(32).toString('base64') },
	};
}

/**
 * A bundled workflow with every token node switched to the chosen store. A tag lets several set-ups share one n8n:
 * it goes before the workflow's name, its webhook paths and every credential name.
 */
export function onStore(workflow: Workflow, store: StoreChoice, tag = ''): Workflow {
	const copy: Workflow = JSON.parse(JSON.stringify(workflow));
	const tagged = (name: string) => (tag ? `${tag} ${name}` : name);
	if (tag) copy.name = tagged(copy.name);
	for (const node of copy.nodes) {
		for (const ref of Object.values(node.credentials || {})) ref.name = tagged(ref.name);
		if (tag && node.type === 'n8n-nodes-base.webhook') {
			node.parameters.path = `${tag}/${node.parameters.path}`;
			node.webhookId = crypto.randomUUID();
		}
		if (node.type !== PACKAGE_NODE) continue;
		node.parameters.storage = store.storage;
		const { [EMBEDDED_CREDENTIAL]: _embedded, ...others } = node.credentials || {};
		node.credentials = { ...others, [store.credentialType]: { id: null, name: tagged(store.credentialName) } };
	}
	return copy;
}

/** The owner account and an API key on a fresh n8n; resolves a client logged in with both. */
export async function ownerClient(n8nUrl: string): Promise<N8nClient> {
	const client = new Client(n8nUrl);
	await client.setupOwner({ email: 'owner@example.test', password: `Owner-${crypto.randomBytes(9).toString('base64url')}1` });
	await client.createApiKey();
	return client;
}

export interface TokenManagerSetup {
	client: N8nClient;
	callPath: string;
	/** Workflow 1: start webhook → the sandbox's consent (as `user`) → callback; resolves the callback's status. */
	connect(connectionId: string, user: string): Promise<number>;
	/** Workflow 2 over its webhook: { status, body } (body: connectionId, statusCode, user, tokenExpiresAt, …). */
	call(connectionId: string): Promise<{ status: number; body: any }>;
}

/** Credentials and workflows 1 and 2 on `store`, published and live (the owner from ownerClient() when no client). */
export async function provisionTokenManager(options: {
	n8nUrl: string;
	client?: N8nClient;
	sandbox: Sandbox;
	store: StoreChoice;
	tag?: string;
	minValiditySeconds?: number;
}): Promise<TokenManagerSetup> {
	const { sandbox, store, tag = '' } = options;
	const client = options.client ?? (await ownerClient(options.n8nUrl));
	const tagged = (name: string) => (tag ? `${tag} ${name}` : name);
	const connect = onStore(readBundledWorkflow('1-connect-oauth-callback.json'), store, tag);
	const call = onStore(readBundledWorkflow('2-call-api-with-valid-token.json'), store, tag);
	const hookPath = (workflow: Workflow, node: string) => workflow.nodes.find((n) => n.name === node)?.parameters.path as string;
	const startUrl = `${options.n8nUrl}/webhook/${hookPath(connect, 'Start Webhook')}`;
	const callbackUrl = `${options.n8nUrl}/webhook/${hookPath(connect, 'OAuth Callback')}`;
	const callPath = hookPath(call, 'Call Webhook');
	const basicAuth = { user: 'connect', password: crypto.randomBytes(18).toString('base64url') };
	const callAuth = { name: 'X-Call-Key', value: crypto.randomBytes(18).toString('base64url') };

	await client.createCredential({
		name: tagged('Pipedrive OAuth app'),
		type: 'oAuth2TokenManagerAppApi',
		data: {
			preset: 'custom',
			clientId: sandbox.clientId,
			clientSecret: sandbox.clientSecret,
			redirectUri: callbackUrl,
			scopes: '',
			authorizationUrl: sandbox.authorizationUrl,
			tokenUrl: sandbox.tokenUrl,
			revocationUrl: sandbox.revocationUrl,
			clientAuthentication: 'basic',
			keepResponseFields: 'api_domain',
		},
	});
	await client.createCredential({ name: tagged(store.credentialName), type: store.credentialType, data: store.data });
	await client.createCredential({ name: tagged('Call webhook header auth'), type: 'httpHeaderAuth', data: callAuth });
	await client.createCredential({ name: tagged('Connect start basic auth'), type: 'httpBasicAuth', data: basicAuth });

	if (options.minValiditySeconds !== undefined) {
		const settings = call.nodes.find((n) => n.name === 'Settings');
		const field = settings?.parameters.assignments.assignments.find((a: { name: string }) => a.name === 'minValiditySeconds');
		field.value = options.minValiditySeconds;
	}
	for (const workflow of [connect, call]) {
		const created = await client.createWorkflow(workflow);
		for (const node of created.nodes) {
			for (const [type, ref] of Object.entries(node.credentials || {})) {
				if (!ref?.id) throw new Error(`workflow "${workflow.name}": node "${node.name}" has no ${type} credential after import`);
			}
		}
		await client.publishWorkflow(created.id);
	}
	await client.waitForWebhook(hookPath(connect, 'Start Webhook'));
	await client.waitForWebhook(hookPath(connect, 'OAuth Callback'));
	await client.waitForWebhook(callPath);

	return {
		client,
		callPath,
		async connect(connectionId, user) {
			const start = await fetch(`${startUrl}?${new URLSearchParams({ connectionId })}`, {
				redirect: 'manual',
				headers: { authorization: `Basic ${Buffer.from(`${basicAuth.user}:${basicAuth.password}`).toString('base64')}` },
				signal: AbortSignal.timeout(60_000),
			});
			const authorize = start.headers.get('location');
			if (!authorize?.startsWith(sandbox.authorizationUrl)) throw new Error(`the start webhook answered ${start.status} without the consent redirect`);
			const consent = new URL(authorize);
			consent.searchParams.set('user', user);
			const back = await fetch(consent, { redirect: 'manual', signal: AbortSignal.timeout(10_000) });
			const callback = back.headers.get('location');
			if (!callback?.startsWith(callbackUrl)) throw new Error(`the sandbox answered ${back.status} without the callback redirect`);
			const page = await fetch(callback, { redirect: 'manual', signal: AbortSignal.timeout(60_000) });
			await page.arrayBuffer();
			return page.status;
		},
		call: (connectionId) => client.webhook(callPath, { query: { connectionId }, headers: { [callAuth.name]: callAuth.value } }),
	};
}
