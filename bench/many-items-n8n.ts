/*
 * Many items in real n8n: a workflow of a webhook, a Code node that makes N items (one connection each) and the
 * node's Get Valid Token, its Connection ID given two ways: an expression (`{{ $json.connectionId }}`), which n8n
 * evaluates per item, and From Input Field (`connectionId`), which the node reads itself. n8n's own record of each
 * execution gives the node's time (the run data's executionTime): n8n's work per item and the package's together.
 * The connections are made beforehand, straight through the engine, with the credentials n8n holds.
 */
import crypto from 'node:crypto';
import type { ICredentialDataDecryptedObject } from 'n8n-workflow';
import { TokenManager } from '../engine/token-manager';
import {
	cipherFromCredentials,
	oauthClientFromCredentials,
	storeFromCredentials,
} from '../nodes/OAuth2TokenManager/transport/credentials';
import type { N8nClient, Workflow } from '../tools/n8n/client';
import type { StoreChoice } from '../tools/n8n/provision';
import { sandboxAppCredential } from '../tools/n8n/stack';
import { startSandbox } from '../tools/sandbox';
import { authorizeAtSandbox } from '../tools/sandbox-grants';

const REDIRECT_URI = 'http://127.0.0.1:9/callback';
const NODE_NAME = 'Get Valid Token';

/** How the workflow gives the node each item's Connection ID. */
const CONNECTION_ID_MODES = {
	expression: { __rl: true, value: '={{ $json.connectionId }}', mode: 'id' },
	field: { __rl: true, value: 'connectionId', mode: 'field' },
};
type ConnectionIdMode = keyof typeof CONNECTION_ID_MODES;

interface Timing {
	/** The node's executionTime in n8n's run data, median and best of the runs. */
	nodeMedianMs: number;
	nodeMinMs: number;
	/** The whole webhook call, median. */
	callMedianMs: number;
}

export interface ManyItemsInN8nResult {
	store: string;
	items: number;
	runs: number;
	byMode: Record<ConnectionIdMode, Timing>;
}

const median = (values: number[]) =>
	[...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

function workflow(
	key: string,
	items: number,
	store: StoreChoice,
	ids: { app: string; store: string; auth: string },
	mode: ConnectionIdMode,
): Workflow {
	const credential = (id: string) => ({ id, name: id });
	return {
		name: `${key} many items (${mode})`,
		nodes: [
			{
				id: crypto.randomUUID(),
				name: 'Webhook',
				type: 'n8n-nodes-base.webhook',
				typeVersion: 2.1,
				position: [0, 0],
				webhookId: crypto.randomUUID(),
				parameters: {
					path: `${key}/many-${mode}`,
					authentication: 'headerAuth',
					responseMode: 'lastNode',
					options: {},
				},
				credentials: { httpHeaderAuth: credential(ids.auth) },
			},
			{
				id: crypto.randomUUID(),
				name: 'Items',
				type: 'n8n-nodes-base.code',
				typeVersion: 2,
				position: [220, 0],
				parameters: {
					jsCode: `return Array.from({ length: ${items} }, (_, i) => ({ json: { connectionId: 'many:' + String(i).padStart(5, '0') } }));`,
				},
			},
			{
				id: crypto.randomUUID(),
				name: NODE_NAME,
				type: 'n8n-nodes-oauth2-token-manager.oAuth2TokenManager',
				typeVersion: 1.3,
				position: [440, 0],
				parameters: {
					storage: store.storage,
					operation: 'getValidToken',
					connectionId: CONNECTION_ID_MODES[mode],
				},
				credentials: {
					oAuth2TokenManagerAppApi: credential(ids.app),
					[store.credentialType]: credential(ids.store),
				},
			},
			{
				id: crypto.randomUUID(),
				name: 'Count',
				type: 'n8n-nodes-base.code',
				typeVersion: 2,
				position: [660, 0],
				parameters: {
					jsCode:
						'const all = $input.all(); return [{ json: { items: all.length, fresh: all.filter((i) => i.json.refreshed === false).length } }];',
				},
			},
		],
		connections: {
			Webhook: { main: [[{ node: 'Items', type: 'main', index: 0 }]] },
			Items: { main: [[{ node: NODE_NAME, type: 'main', index: 0 }]] },
			[NODE_NAME]: { main: [[{ node: 'Count', type: 'main', index: 0 }]] },
		},
		settings: { executionOrder: 'v1', saveDataSuccessExecution: 'all' },
	};
}

/** Calls the workflow `runs` times after one warm-up; every run must answer all items, fresh. */
async function timeRuns(
	client: N8nClient,
	workflowId: string,
	path: string,
	headers: Record<string, string>,
	options: { label: string; items: number; runs: number },
): Promise<Timing> {
	const nodeMs: number[] = [];
	const callMs: number[] = [];
	for (let run = 0; run <= options.runs; run++) {
		const started = performance.now();
		const res = await client.webhook(path, { headers });
		const ms = performance.now() - started;
		const body = res.body as { items?: number; fresh?: number };
		if (res.status !== 200 || body.items !== options.items || body.fresh !== options.items)
			throw new Error(`${options.label}: ${path} answered ${res.status} ${res.text.slice(0, 200)}`);
		if (run === 0) continue; // warm-up: the store's pool and the node's managers
		const { data } = await client.listExecutions({ workflowId, includeData: 'true', limit: '1' });
		const runData = (data[0] as { data?: { resultData?: { runData?: RunData } } }).data?.resultData
			?.runData;
		const time = runData?.[NODE_NAME]?.[0]?.executionTime;
		if (typeof time !== 'number')
			throw new Error(`${options.label}: n8n recorded no time for ${NODE_NAME}`);
		nodeMs.push(time);
		callMs.push(ms);
	}
	return {
		nodeMedianMs: median(nodeMs),
		nodeMinMs: Math.min(...nodeMs),
		callMedianMs: median(callMs),
	};
}

type RunData = Record<string, Array<{ executionTime: number }>>;

/** Both ways of giving the Connection ID, each timed over `runs` executions of `items` items. */
export async function manyItemsInN8n(options: {
	client: N8nClient;
	key: string;
	label: string;
	store: StoreChoice;
	items: number;
	runs: number;
}): Promise<ManyItemsInN8nResult> {
	const { client, key, store, items } = options;
	// A provider of its own whose tokens outlive the runs: every call finds them fresh.
	const sandbox = await startSandbox({ host: '127.0.0.1', port: 0, expiresIn: 3600 });
	try {
		const appData = sandboxAppCredential(sandbox, REDIRECT_URI);
		const auth = { name: 'X-Call-Key', value: crypto.randomBytes(18).toString('base64url') };
		const credentialId = (name: string, type: string, data: Record<string, unknown>) =>
			client.createCredential({ name: `${key} many items ${name}`, type, data }).then((c) => c.id);
		const ids = {
			app: await credentialId('app', 'oAuth2TokenManagerAppApi', appData),
			store: await credentialId('store', store.credentialType, store.data),
			auth: await credentialId('auth', 'httpHeaderAuth', auth),
		};
		// The same store and app as the node's credentials make, so the node finds the connections as its own.
		const storeData = store.data as ICredentialDataDecryptedObject;
		const tokenStore = storeFromCredentials(store.storage, storeData);
		const manager = new TokenManager({
			store: tokenStore,
			cipher: cipherFromCredentials(storeData),
			client: oauthClientFromCredentials(appData as ICredentialDataDecryptedObject),
		});
		const connectionIds = Array.from(
			{ length: items },
			(_, i) => `many:${String(i).padStart(5, '0')}`,
		);
		try {
			await authorizeAtSandbox(sandbox, manager, connectionIds, { redirectUri: REDIRECT_URI });
		} finally {
			await tokenStore.close();
		}
		const byMode = {} as Record<ConnectionIdMode, Timing>;
		for (const mode of Object.keys(CONNECTION_ID_MODES) as ConnectionIdMode[]) {
			const created = await client.createWorkflow(workflow(key, items, store, ids, mode));
			await client.publishWorkflow(created.id);
			const path = `${key}/many-${mode}`;
			await client.waitForWebhook(path);
			byMode[mode] = await timeRuns(client, created.id, path, { [auth.name]: auth.value }, options);
			await client.unpublishWorkflow(created.id);
		}
		return { store: options.label, items, runs: options.runs, byMode };
	} finally {
		await sandbox.close();
	}
}

export function manyItemsInN8nTable(results: ManyItemsInN8nResult[]): string {
	const rows = results.flatMap((r) =>
		(Object.keys(r.byMode) as ConnectionIdMode[]).map((mode) =>
			[
				r.store.padEnd(18),
				(mode === 'field' ? 'From Input Field' : 'expression').padEnd(16),
				`${r.byMode[mode].nodeMedianMs} ms`.padStart(10),
				`${r.byMode[mode].nodeMinMs} ms`.padStart(9),
				`${Math.round(r.byMode[mode].callMedianMs)} ms`.padStart(10),
			].join('  '),
		),
	);
	return [
		`Many items in real n8n: Get Valid Token over ${results[0]?.items ?? '?'} items, each its own connection, fresh tokens;`,
		`the node's executionTime in n8n's run data, ${results[0]?.runs ?? '?'} runs after a warm-up, and the whole webhook call`,
		'',
		[
			'store'.padEnd(18),
			'Connection ID'.padEnd(16),
			'node p50'.padStart(10),
			'node min'.padStart(9),
			'call p50'.padStart(10),
		].join('  '),
		...rows,
	].join('\n');
}
