// The whole set-up the demo and the e2e tests share: the Pipedrive-like sandbox, a real n8n with this package
// installed as a community package, the credentials, and bundled workflows 1, 2, 3 and 5 imported and published
// (workflow 4 runs on a schedule: publishKeepAlive() publishes it when a caller wants it to run).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startSandbox, type Sandbox } from '../sandbox';
import { N8nClient, type Owner, type WebhookResponse, type Workflow } from './client';
import type { Log } from './install';
import { type N8nInstance, startN8n } from './instance';
import { installPackage, packProject, repoDir } from './package';

export const WORKFLOW_FILES = {
	connect: '1-connect-oauth-callback.json',
	call: '2-call-api-with-valid-token.json',
	refresh: '3-refresh-on-request.json',
	keepAlive: '4-keep-alive-and-alerts.json',
	status: '5-connections-status.json',
};
export type WorkflowKey = keyof typeof WORKFLOW_FILES;
/** The workflows published when the stack starts: the ones that run when called. */
const STARTED_WORKFLOWS = ['connect', 'call', 'refresh', 'status'] as const;
export type StartedWorkflow = (typeof STARTED_WORKFLOWS)[number];
export const CREDENTIAL_NAMES = {
	app: 'Pipedrive OAuth app',
	store: 'OAuth2 token store (embedded)',
	headerAuth: 'Refresh webhook header auth',
	callAuth: 'Call webhook header auth',
	basicAuth: 'Connect start basic auth',
	alertAuth: 'Alert endpoint header auth',
	statusAuth: 'Status page basic auth',
};
/** The type of each credential the bundled workflows name. */
export const CREDENTIAL_TYPES: Record<keyof typeof CREDENTIAL_NAMES, string> = {
	app: 'oAuth2TokenManagerAppApi',
	store: 'oAuth2TokenManagerEmbeddedApi',
	headerAuth: 'httpHeaderAuth',
	callAuth: 'httpHeaderAuth',
	basicAuth: 'httpBasicAuth',
	alertAuth: 'httpHeaderAuth',
	statusAuth: 'httpBasicAuth',
};
export const PACKAGE_NODE = 'n8n-nodes-oauth2-token-manager.oAuth2TokenManager';

/**
 * How the bundled workflows name a credential: its name and a placeholder id made from it. n8n's import (CLI, public
 * API) finds no credential with that id and links the one with that name instead. An id of null would link by name
 * too, but n8n 1.x's CLI import then prints a dependency-index error, and n8n 2.x's editor flags nothing on the
 * canvas when no such credential exists; the editor's Import from File drops an id it does not know, so the node
 * shows its credential as not set.
 */
export function credentialReference(name: string): { id: string; name: string } {
	return {
		id: name
			.toLowerCase()
			.replace(/[^a-z0-9]+/g, '-')
			.replace(/^-|-$/g, ''),
		name,
	};
}

export function readWorkflow(name: WorkflowKey): Workflow {
	return JSON.parse(fs.readFileSync(workflowFile(name), 'utf8')) as Workflow;
}

interface Webhook {
	node: string;
	path: string;
	method: string;
}

function webhooks(workflow: Workflow): Webhook[] {
	return workflow.nodes
		.filter((n) => n.type === 'n8n-nodes-base.webhook')
		.map((n) => ({
			node: n.name,
			path: String(n.parameters.path),
			method: String(n.parameters.httpMethod || 'GET'),
		}));
}

export interface StackOptions {
	/** n8n's folder; the embedded token store's file lives in it */
	userFolder: string;
	/** access token lifetime the sandbox gives (seconds) */
	expiresIn?: number;
	/** API Request's minimum validity in workflow 2 (the one value changed for short lifetimes) */
	minValiditySeconds?: number;
	/** latency of the sandbox's token endpoint */
	tokenDelayMs?: number;
	log?: Log;
	/** the sandbox's own request log */
	sandboxLog?: boolean | Log;
	/** an already packed package (else $OAUTH2TM_TARBALL, else `npm pack` of the built repo) */
	tarball?: string;
	port?: number;
	keepDatabase?: boolean;
}

export interface ConnectOptions {
	/** the account that consents at the provider */
	user?: string;
	/** declines consent */
	deny?: boolean;
}

export interface Stack {
	timings: Record<string, number>;
	credentialNames: typeof CREDENTIAL_NAMES;
	sandbox: Sandbox;
	n8n: N8nInstance;
	client: N8nClient;
	owner: Owner;
	startUrl: string;
	callbackUrl: string;
	headerAuth: { name: string; value: string };
	callAuth: { name: string; value: string };
	basicAuth: { user: string; password: string };
	/** The header workflow 4's alert request sends (its Alert endpoint header auth credential). */
	alertAuth: { name: string; value: string };
	/** Workflow 5's Basic auth: who may open the status page. */
	statusAuth: { user: string; password: string };
	/** Workflow 5's page, with no query: the URL a browser opens. */
	statusPageUrl: string;
	storeFile: string;
	/** The Token Encryption Key of the store credential: a test reads what the store holds with it. */
	storeEncryptionKey: string;
	credentials: Record<keyof typeof CREDENTIAL_NAMES, { id: string; name: string }>;
	workflows: Record<StartedWorkflow, { id: string; name: string; hooks: Webhook[]; path: string }>;
	/**
	 * OAuth consent through workflow 1: its start webhook (Basic auth) redirects to the sandbox's authorize URL
	 * (Build Authorization URL, signed state), the sandbox consents (as `user`, or declines with deny) and
	 * redirects to the callback webhook, which exchanges the code. Resolves the callback page.
	 */
	connect(
		connectionId: string,
		options?: ConnectOptions,
	): Promise<{ status: number; html: string; authorizeUrl: string; callbackUrl: string }>;
	/** Workflow 2 over its webhook; header auth unless { auth: false }. */
	call(connectionId: string, options?: { auth?: boolean }): Promise<WebhookResponse>;
	/** Workflow 3 over its webhook; header auth unless { auth: false }. */
	refresh(
		connectionId: string,
		options?: { auth?: boolean; failedAccessToken?: string },
	): Promise<WebhookResponse>;
	/**
	 * Workflow 4 imported with its Settings set (alerts to `notificationUrl`, Keep Alive's Expires Within) and its
	 * schedule every `everySeconds`, published; resolves its id. Unpublish it with client.unpublishWorkflow.
	 */
	publishKeepAlive(options: {
		notificationUrl: string;
		expiresWithinSeconds: number;
		everySeconds: number;
	}): Promise<string>;
	stop(options?: { keepDatabase?: boolean }): Promise<void>;
}

/** The OAuth app credential's data for the sandbox provider (Pipedrive-like: Basic client auth, api_domain kept). */
export function sandboxAppCredential(
	sandbox: Sandbox,
	redirectUri: string,
): Record<string, unknown> {
	return {
		preset: 'custom',
		clientId: sandbox.clientId,
		clientSecret: sandbox.clientSecret,
		redirectUri,
		scopes: '',
		authorizationParameters: '',
		codeExchangeParameters: '',
		refreshParameters: '',
		keepCallbackFields: '',
		tenant: '',
		accountsServer: '',
		environment: 'production',
		authorizationUrl: sandbox.authorizationUrl,
		tokenUrl: sandbox.tokenUrl,
		revocationUrl: sandbox.revocationUrl,
		clientAuthentication: 'basic',
		pkce: true, // defaults stated: n8n 1.x's public API wants every field the Custom preset shows
		keepResponseFields: 'api_domain',
	};
}

/** A header credential n8n checks on a webhook. */
function headerCredential(name: string) {
	return { name, value: crypto.randomBytes(18).toString('base64url') };
}

/** Brings everything up. */
export async function startStack(options: StackOptions): Promise<Stack> {
	const log = options.log || (() => {});
	const timings: Record<string, number> = {};
	const mark = (key: string, since: number) => (timings[key] = Date.now() - since);
	const cleanups: (() => Promise<void>)[] = [];
	try {
		let t = Date.now();
		const expiresIn = options.expiresIn ?? 3600;
		const sandbox = await startSandbox({
			expiresIn,
			tokenDelayMs: options.tokenDelayMs ?? 0,
			log: options.sandboxLog,
		});
		cleanups.push(() => sandbox.close());
		log(`Sandbox (Pipedrive-like provider) on ${sandbox.url}, access tokens live ${expiresIn}s`);

		t = Date.now();
		const tarball = options.tarball || process.env.OAUTH2TM_TARBALL;
		const packed = tarball ? { tarball } : await packProject();
		const installed = await installPackage(options.userFolder, packed.tarball).finally(() => {
			if (!tarball) fs.rmSync(path.dirname(packed.tarball), { recursive: true, force: true });
		});
		mark('packageInstallMs', t);
		log(
			`Installed ${installed.name}@${installed.version} as a community package (${(timings.packageInstallMs / 1000).toFixed(1)}s)`,
		);

		t = Date.now();
		const n8n = await startN8n({
			userFolder: options.userFolder,
			log,
			port: options.port,
			keepDatabase: options.keepDatabase,
		});
		cleanups.push(() => n8n.stop());
		mark('n8nStartMs', t);

		t = Date.now();
		const client = new N8nClient(n8n.url);
		const owner = {
			email: 'owner@example.test',
			password: `Demo-${crypto.randomBytes(9).toString('base64url')}1`,
		};
		await client.setupOwner(owner);
		await client.createApiKey();

		const connectHooks = webhooks(readWorkflow('connect'));
		const hookUrl = (node: string) => {
			const hook = connectHooks.find((h) => h.node === node);
			if (!hook) throw new Error(`workflow 1 has no webhook node "${node}"`);
			return `${n8n.url}/webhook/${hook.path}`;
		};
		const callbackUrl = hookUrl('OAuth Callback');
		const startUrl = hookUrl('Start Webhook');
		const headerAuth = headerCredential('X-Refresh-Key');
		const callAuth = headerCredential('X-Call-Key');
		const alertAuth = headerCredential('X-Alert-Key');
		const basicAuth = { user: 'connect', password: crypto.randomBytes(18).toString('base64url') };
		const statusAuth = { user: 'status', password: crypto.randomBytes(18).toString('base64url') };
		const storeFile = path.join(n8n.userFolder, '.n8n', 'oauth2-token-manager-demo.sqlite');
		const storeEncryptionKey = crypto.randomBytes(32).toString('base64');
		const data: Record<keyof typeof CREDENTIAL_NAMES, Record<string, unknown>> = {
			app: sandboxAppCredential(sandbox, callbackUrl),
			store: { filePath: storeFile, encryptionKey: storeEncryptionKey },
			headerAuth,
			callAuth,
			basicAuth,
			alertAuth,
			statusAuth,
		};
		const credentials = {} as Stack['credentials'];
		for (const key of Object.keys(CREDENTIAL_NAMES) as (keyof typeof CREDENTIAL_NAMES)[]) {
			credentials[key] = await client.createCredential({
				name: CREDENTIAL_NAMES[key],
				type: CREDENTIAL_TYPES[key],
				data: data[key],
			});
		}
		const credentialIds = Object.values(credentials).map((c) => c.id);
		const importWorkflow = async (wf: Workflow) =>
			assertLinked(await client.createWorkflow(wf), credentialIds);

		const workflows = {} as Stack['workflows'];
		for (const key of STARTED_WORKFLOWS) {
			const wf = readWorkflow(key);
			if (key === 'call' && options.minValiditySeconds !== undefined)
				setMinValidity(wf, options.minValiditySeconds);
			const created = await importWorkflow(wf);
			await client.publishWorkflow(created.id);
			const hooks = webhooks(wf);
			workflows[key] = { id: created.id, name: wf.name, hooks, path: hooks[hooks.length - 1].path };
		}
		for (const w of Object.values(workflows)) {
			for (const h of w.hooks) await client.waitForWebhook(h.path, { method: h.method });
		}
		mark('setupMs', t);
		log(
			`Credentials created, workflows 1, 2, 3 and 5 imported and published (${(timings.setupMs / 1000).toFixed(1)}s)`,
		);

		const stack: Stack = {
			timings,
			credentialNames: CREDENTIAL_NAMES,
			sandbox,
			n8n,
			client,
			owner,
			startUrl,
			callbackUrl,
			headerAuth,
			callAuth,
			basicAuth,
			alertAuth,
			statusAuth,
			statusPageUrl: `${n8n.url}/webhook/${workflows.status.path}`,
			storeFile,
			storeEncryptionKey,
			credentials,
			workflows,

			async publishKeepAlive({ notificationUrl, expiresWithinSeconds, everySeconds }) {
				const wf = readWorkflow('keepAlive');
				setSettings(wf, { notificationUrl, expiresWithinSeconds });
				const trigger = wf.nodes.find((n) => n.type === 'n8n-nodes-base.scheduleTrigger');
				if (!trigger) throw new Error(`workflow "${wf.name}" has no Schedule Trigger`);
				trigger.parameters.rule = {
					interval: [{ field: 'seconds', secondsInterval: everySeconds }],
				};
				const created = await importWorkflow(wf);
				await client.publishWorkflow(created.id);
				return created.id;
			},

			async connect(connectionId, { user, deny = false } = {}) {
				const auth = `Basic ${Buffer.from(`${basicAuth.user}:${basicAuth.password}`).toString('base64')}`;
				const start = await fetch(`${startUrl}?${new URLSearchParams({ connectionId })}`, {
					redirect: 'manual',
					headers: { authorization: auth },
				});
				const authorizeUrl = start.headers.get('location');
				if (start.status < 300 || start.status > 399 || !authorizeUrl) {
					throw new Error(
						`the start webhook answered ${start.status}: ${(await start.text()).slice(0, 300)}`,
					);
				}
				if (!authorizeUrl.startsWith(sandbox.authorizationUrl))
					throw new Error(`start redirected elsewhere: ${authorizeUrl}`);
				const url = new URL(authorizeUrl);
				if (user) url.searchParams.set('user', user);
				if (deny) url.searchParams.set('deny', '1');
				const res = await fetch(url, { redirect: 'manual' });
				const location = res.headers.get('location');
				if (res.status !== 302 || !location)
					throw new Error(`authorize answered ${res.status} without a redirect`);
				if (!location.startsWith(callbackUrl))
					throw new Error(`authorize redirected elsewhere: ${location}`);
				const page = await fetch(location, { redirect: 'manual' });
				return {
					status: page.status,
					html: await page.text(),
					authorizeUrl,
					callbackUrl: location,
				};
			},

			call: (connectionId, { auth = true } = {}) =>
				client.webhook(workflows.call.path, {
					query: { connectionId },
					headers: auth ? { [callAuth.name]: callAuth.value } : {},
				}),

			refresh: (connectionId, { auth = true, failedAccessToken } = {}) =>
				client.webhook(workflows.refresh.path, {
					method: 'POST',
					body: { connectionId, ...(failedAccessToken ? { failedAccessToken } : {}) },
					headers: auth ? { [headerAuth.name]: headerAuth.value } : {},
				}),

			async stop({ keepDatabase } = {}) {
				await n8n.stop({ keepDatabase }).catch(() => {});
				await sandbox.close().catch(() => {});
			},
		};
		return stack;
	} catch (err) {
		for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
		throw err;
	}
}

/** The path of a bundled workflow's file. */
export function workflowFile(name: WorkflowKey): string {
	return path.join(repoDir, 'workflows', WORKFLOW_FILES[name]);
}

/**
 * Imports a bundled workflow's file with `n8n import:workflow --input=<file>`, as a user of n8n's CLI does. n8n logs
 * a failed part of an import (such as its dependency index) and still reports success, so the output's lines that
 * report a problem are returned beside the exit code.
 */
export async function importWithCli(
	n8n: N8nInstance,
	name: WorkflowKey,
): Promise<{ code: number | null; problems: string[] }> {
	const { code, stdout, stderr } = await n8n.cli([
		'import:workflow',
		`--input=${workflowFile(name)}`,
	]);
	const problems = `${stdout}\n${stderr}`
		.split('\n')
		.filter((line) => /error|fail|violat|invalid|skipp/i.test(line));
	return { code, problems };
}

/** Throws unless n8n linked every credential the workflow names to one of `credentialIds`; resolves the workflow. */
export function assertLinked<T extends Workflow>(workflow: T, credentialIds: string[]): T {
	for (const node of workflow.nodes) {
		for (const [type, ref] of Object.entries(node.credentials || {})) {
			if (!ref?.id || !credentialIds.includes(ref.id))
				throw new Error(
					`workflow "${workflow.name}": node "${node.name}" has no ${type} credential after import`,
				);
		}
	}
	return workflow;
}

/** Sets fields of a workflow's Settings node (each must exist there). */
export function setSettings(workflow: Workflow, values: Record<string, unknown>) {
	const settings = workflow.nodes.find((n) => n.name === 'Settings');
	const assignments = (
		settings?.parameters.assignments as
			{ assignments?: { name: string; value: unknown }[] } | undefined
	)?.assignments;
	for (const [name, value] of Object.entries(values)) {
		const field = assignments?.find((a) => a.name === name);
		if (!field) throw new Error(`workflow "${workflow.name}" has no Settings field ${name}`);
		field.value = value;
	}
}

/** Sets the Minimum Validity of workflow 2's API Request node. */
export function setMinValidity(workflow: Workflow, seconds: number) {
	const node = workflow.nodes.find(
		(n) => n.type === PACKAGE_NODE && n.parameters.operation === 'apiRequest',
	);
	if (!node) throw new Error(`workflow "${workflow.name}" has no API Request node`);
	node.parameters.minValiditySeconds = seconds;
}
