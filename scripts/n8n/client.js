'use strict';
// Talks to a running n8n: owner set-up and login over its REST API (/rest), an API key, then the public API
// (/api/v1) for credentials, workflows and executions, and plain HTTP for webhooks.
const crypto = require('node:crypto');

/** A JSON request; a non-2xx answer throws with the status and the start of the body. */
async function send(url, method, headers, body, label) {
	const res = await fetch(url, {
		method,
		headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
		body: body === undefined ? undefined : JSON.stringify(body),
	});
	const text = await res.text();
	let json;
	try {
		json = text ? JSON.parse(text) : null;
	} catch {
		json = { raw: text };
	}
	if (!res.ok) {
		const err = new Error(`${label} -> ${res.status}: ${text.slice(0, 800)}`);
		err.status = res.status;
		err.body = json;
		throw err;
	}
	return { res, json };
}

class N8nClient {
	constructor(url) {
		this.url = url.replace(/\/$/, '');
		this.browserId = crypto.randomUUID(); // n8n binds its auth cookie to this header
		this.cookie = null;
		this.apiKey = null;
	}

	async rest(method, path, body) {
		const headers = { 'browser-id': this.browserId };
		if (this.cookie) headers.cookie = this.cookie;
		const { res, json } = await send(`${this.url}/rest${path}`, method, headers, body, `n8n REST ${method} ${path}`);
		const setCookie = res.headers.getSetCookie?.() || [];
		for (const c of setCookie) if (c.startsWith('n8n-auth=')) this.cookie = c.split(';')[0];
		return json && typeof json === 'object' && 'data' in json ? json.data : json;
	}

	async api(method, path, body) {
		if (!this.apiKey) throw new Error('no API key yet: call createApiKey() first');
		const { json } = await send(`${this.url}/api/v1${path}`, method, { 'x-n8n-api-key': this.apiKey }, body, `n8n API ${method} ${path}`);
		return json;
	}

	/** Creates the owner account (first start) and keeps the session cookie. */
	async setupOwner({ email, password, firstName = 'Demo', lastName = 'Owner' }) {
		this.owner = { email, password };
		return this.rest('POST', '/owner/setup', { email, password, firstName, lastName });
	}

	async login({ email, password } = this.owner) {
		this.owner = { email, password };
		return this.rest('POST', '/login', { emailOrLdapLoginId: email, password });
	}

	/** An API key with every scope the owner may have. */
	async createApiKey(label = 'oauth2-token-manager e2e') {
		const scopes = await this.rest('GET', '/api-keys/scopes');
		const key = await this.rest('POST', '/api-keys', { label, scopes, expiresAt: null });
		this.apiKey = key.rawApiKey;
		return key;
	}

	async createCredential({ name, type, data }) {
		return this.api('POST', '/credentials', { name, type, data });
	}

	/**
	 * Creates a workflow from an exported JSON (only the fields the public API takes) and returns it.
	 * Credentials referenced by name are resolved by n8n to the credential of that name and type.
	 */
	async createWorkflow(workflow) {
		const body = {
			name: workflow.name,
			nodes: workflow.nodes,
			connections: workflow.connections,
			settings: workflow.settings || { executionOrder: 'v1' },
		};
		return this.api('POST', '/workflows', body);
	}

	async publishWorkflow(id) {
		return this.api('POST', `/workflows/${id}/publish`, {});
	}

	/**
	 * n8n 2.x registers a published workflow's webhooks asynchronously (publication outbox): waits until the
	 * production webhook's CORS answer to an OPTIONS probe (which runs nothing) lists the method.
	 */
	async waitForWebhook(path, { method = 'GET', timeoutMs = 60000 } = {}) {
		const deadline = Date.now() + timeoutMs;
		for (;;) {
			const res = await fetch(`${this.url}/webhook/${path}`, {
				method: 'OPTIONS',
				headers: { origin: this.url, 'access-control-request-method': method }, // n8n adds CORS headers only then
			});
			await res.arrayBuffer();
			const allowed = (res.headers.get('access-control-allow-methods') || '').split(/\s*,\s*/);
			if (allowed.includes(method)) return;
			if (Date.now() > deadline) throw new Error(`webhook ${path} was not registered within ${timeoutMs} ms`);
			await new Promise((r) => setTimeout(r, 250));
		}
	}

	async getWorkflow(id) {
		return this.api('GET', `/workflows/${id}`);
	}

	async listExecutions(query = {}) {
		const q = new URLSearchParams({ limit: '250', ...query });
		return this.api('GET', `/executions?${q}`);
	}

	/** Calls a production webhook; returns { status, headers, body (parsed JSON when it is JSON), text }. */
	async webhook(path, { method = 'GET', query, body, headers = {}, redirect = 'manual' } = {}) {
		const q = query ? `?${new URLSearchParams(query)}` : '';
		const init = { method, headers: { ...headers }, redirect };
		if (body !== undefined) {
			init.headers['content-type'] = 'application/json';
			init.body = JSON.stringify(body);
		}
		const res = await fetch(`${this.url}/webhook/${path}${q}`, init);
		const text = await res.text();
		let parsed = text;
		try {
			parsed = JSON.parse(text);
		} catch {
			// HTML or text
		}
		return { status: res.status, headers: res.headers, body: parsed, text };
	}
}

module.exports = { N8nClient };
