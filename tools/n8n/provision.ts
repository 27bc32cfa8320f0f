/*
 * Sets this package up on a running n8n the way a user does, on a token store of their choice: the OAuth app
 * credential (the sandbox as provider), a store credential, webhook credentials, and bundled workflows 1 (connect)
 * and 2 (call the API with a valid token) switched to that store, published. Then connects accounts through
 * workflow 1 and calls workflow 2. The queue-mode e2e test and the benchmark use it; the demo has its own stack.
 */
import * as crypto from 'node:crypto';
import type { Sandbox } from '../sandbox';
import { N8nClient, type WebhookResponse, type Workflow } from './client';
import {
	assertLinked,
	credentialReference,
	PACKAGE_NODE,
	readWorkflow,
	sandboxAppCredential,
	setMinValidity,
} from './stack';

const EMBEDDED_CREDENTIAL = 'oAuth2TokenManagerEmbeddedApi';

/** Where the tokens live: the node's Storage value and the credential it then asks for. */
export interface StoreChoice {
	storage: 'embedded' | 'postgres' | 'mysql';
	credentialType: string;
	credentialName: string;
	data: Record<string, unknown>;
}

/** The PostgreSQL store in the given database (the table is created on first use). */
export function postgresStore(
	database: string,
	encryptionKey = crypto.randomBytes(32).toString('base64'),
): StoreChoice {
	return {
		storage: 'postgres',
		credentialType: 'oAuth2TokenManagerPostgresApi',
		credentialName: 'OAuth2 token store (PostgreSQL)',
		data: {
			host: '127.0.0.1',
			port: 5432,
			database,
			user: 'postgres',
			password: '',
			ssl: 'disable',
			tableName: 'oauth2_tokens',
			createTableIfMissing: true,
			encryptionKey,
		},
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
	const copy = JSON.parse(JSON.stringify(workflow)) as Workflow;
	const tagged = (name: string) => (tag ? `${tag} ${name}` : name);
	if (tag) copy.name = tagged(copy.name);
	for (const node of copy.nodes) {
		for (const ref of Object.values(node.credentials || {}))
			if (ref?.name) ref.name = tagged(ref.name);
		if (tag && node.type === 'n8n-nodes-base.webhook') {
			node.parameters.path = `${tag}/${node.parameters.path}`;
			node.webhookId = crypto.randomUUID();
		}
		if (node.type !== PACKAGE_NODE) continue;
		node.parameters.storage = store.storage;
		const { [EMBEDDED_CREDENTIAL]: _embedded, ...others } = node.credentials || {};
		node.credentials = {
			...others,
			[store.credentialType]: credentialReference(tagged(store.credentialName)),
		};
	}
	return copy;
}

/** The owner account and an API key on a fresh n8n; resolves a client logged in with both. */
export async function ownerClient(n8nUrl: string): Promise<N8nClient> {
	const client = new N8nClient(n8nUrl);
	await client.setupOwner({
		email: 'owner@example.test',
		password: `Owner-${crypto.randomBytes(9).toString('base64url')}1`,
	});
	await client.createApiKey();
	return client;
}

/** Workflow 2's answer: its Result node on success, its Error Answer node (`error`) otherwise. */
export interface CallAnswer {
	connectionId?: string;
	/** The API call's HTTP status. */
	statusCode?: number;
	/** The API's answer (the sandbox's /users/me data). */
	user?: { name?: string; [field: string]: unknown };
	tokenRefreshedBeforeCall?: boolean;
	tokenExpiresAt?: string;
	retriedAfter401?: boolean;
	error?: { code: string; message: string; description?: string; reauthorizationUrl?: string };
}

export interface TokenManagerSetup {
	client: N8nClient;
	callPath: string;
	/** Workflow 1: start webhook → the sandbox's consent (as `user`) → callback; resolves the callback's status. */
	connect(connectionId: string, user: string): Promise<number>;
	/** Workflow 2 over its webhook; `body` is {} when n8n's answer is no JSON object (`text` has it as sent). */
	call(connectionId: string): Promise<WebhookResponse & { body: CallAnswer }>;
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
	const connect = onStore(readWorkflow('connect'), store, tag);
	const call = onStore(readWorkflow('call'), store, tag);
	const hookPath = (workflow: Workflow, node: string) =>
		String(workflow.nodes.find((n) => n.name === node)?.parameters.path);
	const startUrl = `${options.n8nUrl}/webhook/${hookPath(connect, 'Start Webhook')}`;
	const callbackUrl = `${options.n8nUrl}/webhook/${hookPath(connect, 'OAuth Callback')}`;
	const callPath = hookPath(call, 'Call Webhook');
	const basicAuth = { user: 'connect', password: crypto.randomBytes(18).toString('base64url') };
	const callAuth = { name: 'X-Call-Key', value: crypto.randomBytes(18).toString('base64url') };

	const credentialIds = [
		await client.createCredential({
			name: tagged('Pipedrive OAuth app'),
			type: 'oAuth2TokenManagerAppApi',
			data: sandboxAppCredential(sandbox, callbackUrl),
		}),
		await client.createCredential({
			name: tagged(store.credentialName),
			type: store.credentialType,
			data: store.data,
		}),
		await client.createCredential({
			name: tagged('Call webhook header auth'),
			type: 'httpHeaderAuth',
			data: callAuth,
		}),
		await client.createCredential({
			name: tagged('Connect start basic auth'),
			type: 'httpBasicAuth',
			data: basicAuth,
		}),
	].map((c) => c.id);

	if (options.minValiditySeconds !== undefined) setMinValidity(call, options.minValiditySeconds);
	for (const workflow of [connect, call]) {
		const created = assertLinked(await client.createWorkflow(workflow), credentialIds);
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
				headers: {
					authorization: `Basic ${Buffer.from(`${basicAuth.user}:${basicAuth.password}`).toString('base64')}`,
				},
				signal: AbortSignal.timeout(60_000),
			});
			const authorize = start.headers.get('location');
			if (!authorize?.startsWith(sandbox.authorizationUrl))
				throw new Error(`the start webhook answered ${start.status} without the consent redirect`);
			const consent = new URL(authorize);
			consent.searchParams.set('user', user);
			const back = await fetch(consent, {
				redirect: 'manual',
				signal: AbortSignal.timeout(10_000),
			});
			const callback = back.headers.get('location');
			if (!callback?.startsWith(callbackUrl))
				throw new Error(`the sandbox answered ${back.status} without the callback redirect`);
			const page = await fetch(callback, {
				redirect: 'manual',
				signal: AbortSignal.timeout(60_000),
			});
			await page.arrayBuffer();
			return page.status;
		},
		async call(connectionId) {
			const res = await client.webhook(callPath, {
				query: { connectionId },
				headers: { [callAuth.name]: callAuth.value },
			});
			return {
				...res,
				body: (res.body && typeof res.body === 'object' ? res.body : {}) as CallAnswer,
			};
		},
	};
}
