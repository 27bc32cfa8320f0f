// Talks to a running n8n: owner set-up and login over its REST API (/rest), an API key, then the public API
// (/api/v1) for credentials, workflows and executions, and plain HTTP for webhooks.
import crypto from 'node:crypto';
import { sleep } from '../sleep';

/** A non-2xx answer: the status and the parsed body beside the message. */
export class N8nRequestError extends Error {
	constructor(
		message: string,
		readonly status: number,
		readonly body: unknown,
	) {
		super(message);
		this.name = 'N8nRequestError';
	}
}

/** A node as a workflow JSON holds it (only what the tooling reads). */
export interface WorkflowNode {
	id?: string;
	name: string;
	type: string;
	typeVersion?: number;
	position?: [number, number];
	webhookId?: string;
	/** What the node does when it fails (e.g. continueRegularOutput). */
	onError?: string;
	parameters: Record<string, unknown>;
	/**
	 * By type. The bundled workflows give each a placeholder id (credentialReference): an id n8n does not know makes
	 * its import link the credential by name.
	 */
	credentials?: Record<string, { id?: string | null; name?: string } | null>;
}

/** A workflow as exported to JSON (workflows/*.json) or as the public API returns it. */
export interface Workflow {
	id?: string;
	name: string;
	nodes: WorkflowNode[];
	connections: Record<string, unknown>;
	settings?: Record<string, unknown>;
	[key: string]: unknown;
}

export interface CreatedWorkflow extends Workflow {
	id: string;
}

export interface Owner {
	email: string;
	password: string;
}

export interface WebhookResponse {
	status: number;
	headers: Headers;
	/** The body parsed when it is JSON, else the text. */
	body: unknown;
	text: string;
}

/** An execution as the public API lists it (the fields the tooling reads). */
export interface Execution {
	id: string;
	workflowId: string;
	status: string;
	[key: string]: unknown;
}

export interface WebhookRequest {
	method?: string;
	query?: Record<string, string>;
	body?: unknown;
	headers?: Record<string, string>;
	redirect?: 'manual' | 'follow' | 'error';
}

function parseJson(text: string): unknown {
	try {
		return text ? JSON.parse(text) : null;
	} catch {
		return { raw: text };
	}
}

/** A JSON request; a non-2xx answer throws with the status and the start of the body. */
async function send(
	url: string,
	method: string,
	headers: Record<string, string>,
	body: unknown,
	label: string,
) {
	const res = await fetch(url, {
		method,
		headers: {
			accept: 'application/json',
			...(body === undefined ? {} : { 'content-type': 'application/json' }),
			...headers,
		},
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	const text = await res.text();
	const json = parseJson(text);
	if (!res.ok)
		throw new N8nRequestError(`${label} -> ${res.status}: ${text.slice(0, 800)}`, res.status, json);
	return { res, json };
}

export class N8nClient {
	readonly url: string;
	/** n8n binds its auth cookie to this header. */
	readonly browserId = crypto.randomUUID();
	cookie: string | null = null;
	apiKey: string | null = null;
	owner: Owner | undefined;

	constructor(url: string) {
		this.url = url.replace(/\/$/, '');
	}

	/** A call to n8n's internal REST API with the session cookie; resolves its `data`. */
	async rest<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
		const headers: Record<string, string> = { 'browser-id': this.browserId };
		if (this.cookie) headers.cookie = this.cookie;
		const { res, json } = await send(
			`${this.url}/rest${path}`,
			method,
			headers,
			body,
			`n8n REST ${method} ${path}`,
		);
		for (const cookie of res.headers.getSetCookie())
			if (cookie.startsWith('n8n-auth=')) this.cookie = cookie.split(';')[0];
		return (json && typeof json === 'object' && 'data' in json ? json.data : json) as T;
	}

	/** The node or credential types the editor loads (`/types/nodes.json`, `/types/credentials.json`), by name. */
	async types(kind: 'nodes' | 'credentials'): Promise<string[]> {
		const headers: Record<string, string> = {
			'browser-id': this.browserId,
			...(this.cookie ? { cookie: this.cookie } : {}),
		};
		const { json } = await send(
			`${this.url}/types/${kind}.json`,
			'GET',
			headers,
			undefined,
			`n8n GET /types/${kind}.json`,
		);
		return (json as { name: string }[]).map((type) => type.name);
	}

	/** A call to the public API with the API key. */
	async api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
		if (!this.apiKey) throw new Error('no API key yet: call createApiKey() first');
		const { json } = await send(
			`${this.url}/api/v1${path}`,
			method,
			{ 'x-n8n-api-key': this.apiKey },
			body,
			`n8n API ${method} ${path}`,
		);
		return json as T;
	}

	/** Creates the owner account (first start) and keeps the session cookie. */
	async setupOwner({
		email,
		password,
		firstName = 'Demo',
		lastName = 'Owner',
	}: Owner & { firstName?: string; lastName?: string }) {
		this.owner = { email, password };
		return this.rest('POST', '/owner/setup', { email, password, firstName, lastName });
	}

	async login({ email, password }: Owner = this.owner!) {
		this.owner = { email, password };
		return this.rest('POST', '/login', { emailOrLdapLoginId: email, password });
	}

	/** An API key with every scope the owner may have. */
	async createApiKey(label = 'oauth2-token-manager e2e') {
		const scopes = await this.rest<string[]>('GET', '/api-keys/scopes');
		const key = await this.rest<{ id: string; rawApiKey: string }>('POST', '/api-keys', {
			label,
			scopes,
			expiresAt: null,
		});
		this.apiKey = key.rawApiKey;
		return key;
	}

	async createCredential({
		name,
		type,
		data,
	}: {
		name: string;
		type: string;
		data: Record<string, unknown>;
	}) {
		return this.api<{ id: string; name: string; type: string }>('POST', '/credentials', {
			name,
			type,
			data,
		});
	}

	/**
	 * Creates a workflow from an exported JSON (only the fields the public API takes) and returns it.
	 * Credentials referenced by name are resolved by n8n to the credential of that name and type.
	 */
	async createWorkflow(workflow: Workflow) {
		const body = {
			name: workflow.name,
			nodes: workflow.nodes,
			connections: workflow.connections,
			settings: workflow.settings || { executionOrder: 'v1' },
		};
		return this.api<CreatedWorkflow>('POST', '/workflows', body);
	}

	/** Publishes (2.x) or, on n8n 1.x, which has no publish route (405 Method Not Allowed), activates the workflow. */
	async publishWorkflow(id: string) {
		try {
			return await this.api<CreatedWorkflow>('POST', `/workflows/${id}/publish`, {});
		} catch (err) {
			if (!(err instanceof N8nRequestError && err.status === 405)) throw err;
			return this.api<CreatedWorkflow>('POST', `/workflows/${id}/activate`, {});
		}
	}

	/** Takes a workflow out of production: its triggers (a schedule too) stop. */
	async unpublishWorkflow(id: string) {
		return this.api<CreatedWorkflow>('POST', `/workflows/${id}/unpublish`, {});
	}

	/**
	 * n8n 2.x registers a published workflow's webhooks asynchronously (publication outbox): waits until the
	 * production webhook's CORS answer to an OPTIONS probe (which runs nothing) lists the method.
	 */
	async waitForWebhook(
		path: string,
		{ method = 'GET', timeoutMs = 60000 }: { method?: string; timeoutMs?: number } = {},
	) {
		const deadline = Date.now() + timeoutMs;
		for (;;) {
			const res = await fetch(`${this.url}/webhook/${path}`, {
				method: 'OPTIONS',
				headers: { origin: this.url, 'access-control-request-method': method }, // n8n adds CORS headers only then
			});
			await res.arrayBuffer();
			const allowed = (res.headers.get('access-control-allow-methods') || '').split(/\s*,\s*/);
			if (allowed.includes(method)) return;
			if (Date.now() > deadline)
				throw new Error(`webhook ${path} was not registered within ${timeoutMs} ms`);
			await sleep(250);
		}
	}

	async getWorkflow(id: string) {
		return this.api<CreatedWorkflow>('GET', `/workflows/${id}`);
	}

	async listExecutions(
		query: Record<string, string> = {},
	): Promise<{ data: Execution[]; nextCursor?: string | null }> {
		const q = new URLSearchParams({ limit: '250', ...query });
		return this.api('GET', `/executions?${q}`);
	}

	/** Calls a production webhook. */
	async webhook(
		path: string,
		{ method = 'GET', query, body, headers = {}, redirect = 'manual' }: WebhookRequest = {},
	): Promise<WebhookResponse> {
		const q = query ? `?${new URLSearchParams(query)}` : '';
		const init: RequestInit = { method, headers: { ...headers }, redirect };
		if (body !== undefined) {
			init.headers = { ...headers, 'content-type': 'application/json' };
			init.body = JSON.stringify(body);
		}
		const res = await fetch(`${this.url}/webhook/${path}${q}`, init);
		const text = await res.text();
		let parsed: unknown = text;
		try {
			parsed = JSON.parse(text);
		} catch {
			// HTML or text
		}
		return { status: res.status, headers: res.headers, body: parsed, text };
	}
}
