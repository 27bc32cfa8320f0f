'use strict';
// The whole set-up the demo and the e2e tests share: the Pipedrive-like sandbox, a real n8n with this package
// installed as a community package, the credentials, and the three bundled workflows imported and published.
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
require('../ts-require'); // the sandbox is TypeScript, kept with the tests
const { startSandbox } = require('../../test/sandbox');
const { startN8n } = require('./instance');
const { N8nClient } = require('./client');
const { packProject, installPackage, repoDir } = require('./package');

const WORKFLOW_FILES = {
	connect: '1-connect-oauth-callback.json',
	call: '2-call-api-with-valid-token.json',
	refresh: '3-refresh-on-request.json',
};
const CREDENTIAL_NAMES = {
	app: 'Pipedrive OAuth app',
	store: 'OAuth2 token store (embedded)',
	headerAuth: 'Refresh webhook header auth',
	callAuth: 'Call webhook header auth',
	basicAuth: 'Connect start basic auth',
};
const PACKAGE_NODE = 'n8n-nodes-oauth2-token-manager.oAuth2TokenManager';

function readWorkflow(name) {
	return JSON.parse(fs.readFileSync(path.join(repoDir, 'workflows', WORKFLOW_FILES[name]), 'utf8'));
}

/** The webhooks of a workflow: [{ node, path, method }]. */
function webhooks(workflow) {
	return workflow.nodes
		.filter((n) => n.type === 'n8n-nodes-base.webhook')
		.map((n) => ({ node: n.name, path: n.parameters.path, method: n.parameters.httpMethod || 'GET' }));
}

/**
 * Brings everything up. Options:
 *   userFolder   n8n's folder (required); the embedded token store's file lives in it
 *   expiresIn    access token lifetime the sandbox gives (seconds)
 *   minValiditySeconds  Get Valid Token's minimum validity in workflow 2 (the one value changed for short lifetimes)
 *   tokenDelayMs latency of the sandbox's token endpoint
 *   log(line)    progress
 *   tarball      an already packed package (else $OAUTH2TM_TARBALL, else `npm pack` of the built repo)
 */
async function startStack(options) {
	const log = options.log || (() => {});
	const timings = {};
	const mark = (key, since) => (timings[key] = Date.now() - since);
	const cleanups = [];
	const stack = { timings, credentialNames: CREDENTIAL_NAMES };
	try {
		let t = Date.now();
		const sandbox = await startSandbox({
			expiresIn: options.expiresIn ?? 3600,
			tokenDelayMs: options.tokenDelayMs ?? 0,
			log: options.sandboxLog,
		});
		cleanups.push(() => sandbox.close());
		stack.sandbox = sandbox;
		log(`Sandbox (Pipedrive-like provider) on ${sandbox.url}, access tokens live ${options.expiresIn ?? 3600}s`);

		t = Date.now();
		const tarball = options.tarball || process.env.OAUTH2TM_TARBALL;
		const packed = tarball ? { tarball } : await packProject();
		const installed = await installPackage(options.userFolder, packed.tarball).finally(() => {
			if (!tarball) fs.rmSync(path.dirname(packed.tarball), { recursive: true, force: true });
		});
		mark('packageInstallMs', t);
		log(`Installed ${installed.name}@${installed.version} as a community package (${(timings.packageInstallMs / 1000).toFixed(1)}s)`);

		t = Date.now();
		const n8n = await startN8n({ userFolder: options.userFolder, log, port: options.port, keepDatabase: options.keepDatabase });
		cleanups.push(() => n8n.stop());
		stack.n8n = n8n;
		mark('n8nStartMs', t);

		t = Date.now();
		const client = new N8nClient(n8n.url);
		stack.client = client;
		const owner = { email: 'owner@example.test', password: `Demo-${crypto.randomBytes(9).toString('base64url')}1` };
		await client.setupOwner(owner);
		await client.createApiKey();
		stack.owner = owner;

		const connectHooks = webhooks(readWorkflow('connect'));
		const callbackUrl = `${n8n.url}/webhook/${connectHooks.find((h) => h.node === 'OAuth Callback').path}`;
		stack.startUrl = `${n8n.url}/webhook/${connectHooks.find((h) => h.node === 'Start Webhook').path}`;
		const headerAuth = { name: 'X-Refresh-Key', value: crypto.randomBytes(18).toString('base64url') };
		const callAuth = { name: 'X-Call-Key', value: crypto.randomBytes(18).toString('base64url') };
		const basicAuth = { user: 'connect', password: crypto.randomBytes(18).toString('base64url') };
		stack.headerAuth = headerAuth;
		stack.callAuth = callAuth;
		stack.basicAuth = basicAuth;
		stack.callbackUrl = callbackUrl;
		stack.storeFile = path.join(n8n.userFolder, '.n8n', 'oauth2-token-manager-demo.sqlite');
		stack.credentials = {
			app: await client.createCredential({
				name: CREDENTIAL_NAMES.app,
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
			}),
			store: await client.createCredential({
				name: CREDENTIAL_NAMES.store,
				type: 'oAuth2TokenManagerEmbeddedApi',
				data: { filePath: stack.storeFile, encryptionKey: crypto.randomBytes(32).toString('base64') },
			}),
			headerAuth: await client.createCredential({ name: CREDENTIAL_NAMES.headerAuth, type: 'httpHeaderAuth', data: headerAuth }),
			callAuth: await client.createCredential({ name: CREDENTIAL_NAMES.callAuth, type: 'httpHeaderAuth', data: callAuth }),
			basicAuth: await client.createCredential({ name: CREDENTIAL_NAMES.basicAuth, type: 'httpBasicAuth', data: basicAuth }),
		};

		stack.workflows = {};
		for (const key of Object.keys(WORKFLOW_FILES)) {
			const wf = readWorkflow(key);
			if (key === 'call' && options.minValiditySeconds !== undefined) {
				const settings = wf.nodes.find((n) => n.name === 'Settings');
				const field = settings.parameters.assignments.assignments.find((a) => a.name === 'minValiditySeconds');
				field.value = options.minValiditySeconds;
			}
			const created = await client.createWorkflow(wf);
			for (const n of created.nodes) {
				for (const [type, ref] of Object.entries(n.credentials || {})) {
					if (!ref || !ref.id) throw new Error(`workflow "${wf.name}": node "${n.name}" has no ${type} credential after import`);
				}
			}
			await client.publishWorkflow(created.id);
			const hooks = webhooks(wf);
			stack.workflows[key] = { id: created.id, name: wf.name, hooks, path: hooks[hooks.length - 1].path };
		}
		for (const w of Object.values(stack.workflows)) {
			for (const h of w.hooks) await client.waitForWebhook(h.path, { method: h.method });
		}
		mark('setupMs', t);
		log(`Credentials created, 3 workflows imported and published (${(timings.setupMs / 1000).toFixed(1)}s)`);
	} catch (err) {
		for (const c of cleanups.reverse()) await c().catch(() => {});
		throw err;
	}

	const { sandbox, client } = stack;

	/**
	 * OAuth consent through workflow 1: its start webhook (Basic auth) redirects to the sandbox's authorize URL
	 * (Build Authorization URL, signed state), the sandbox consents (as `user`, or declines with deny) and
	 * redirects to the callback webhook, which exchanges the code. Resolves the callback page { status, html }.
	 */
	stack.connect = async (connectionId, { user, deny = false } = {}) => {
		const auth = `Basic ${Buffer.from(`${stack.basicAuth.user}:${stack.basicAuth.password}`).toString('base64')}`;
		const start = await fetch(`${stack.startUrl}?${new URLSearchParams({ connectionId })}`, {
			redirect: 'manual',
			headers: { authorization: auth },
		});
		const authorizeUrl = start.headers.get('location');
		if (start.status < 300 || start.status > 399 || !authorizeUrl) {
			throw new Error(`the start webhook answered ${start.status}: ${(await start.text()).slice(0, 300)}`);
		}
		if (!authorizeUrl.startsWith(sandbox.authorizationUrl)) throw new Error(`start redirected elsewhere: ${authorizeUrl}`);
		const url = new URL(authorizeUrl);
		if (user) url.searchParams.set('user', user);
		if (deny) url.searchParams.set('deny', '1');
		const res = await fetch(url, { redirect: 'manual' });
		const location = res.headers.get('location');
		if (res.status !== 302 || !location) throw new Error(`authorize answered ${res.status} without a redirect`);
		if (!location.startsWith(stack.callbackUrl)) throw new Error(`authorize redirected elsewhere: ${location}`);
		const page = await fetch(location, { redirect: 'manual' });
		return { status: page.status, html: await page.text(), authorizeUrl, callbackUrl: location };
	};

	/** Workflow 2 over its webhook; header auth unless { auth: false }; resolves { status, body }. */
	stack.call = (connectionId, { auth = true } = {}) =>
		client.webhook(stack.workflows.call.path, {
			query: { connectionId },
			headers: auth ? { [stack.callAuth.name]: stack.callAuth.value } : {},
		});

	/** Workflow 3 over its webhook; header auth unless { auth: false }. */
	stack.refresh = (connectionId, { auth = true, failedAccessToken } = {}) =>
		client.webhook(stack.workflows.refresh.path, {
			method: 'POST',
			body: { connectionId, ...(failedAccessToken ? { failedAccessToken } : {}) },
			headers: auth ? { [stack.headerAuth.name]: stack.headerAuth.value } : {},
		});

	stack.stop = async ({ keepDatabase } = {}) => {
		await stack.n8n.stop({ keepDatabase }).catch(() => {});
		await sandbox.close().catch(() => {});
	};
	return stack;
}

module.exports = { startStack, WORKFLOW_FILES, CREDENTIAL_NAMES, PACKAGE_NODE, readWorkflow };
