/*
 * Many items in real n8n: a workflow of a webhook, a Code node that makes N items (one connection each) and the
 * node's Get Valid Token, its Connection ID an expression (`{{ $json.connectionId }}`) as users map it. n8n's own
 * record of each execution gives the node's time (the run data's executionTime): n8n's work per item (the
 * expression, the parameters) and the package's together. The connections are made beforehand, straight through the
 * engine, with the credentials n8n holds.
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

export interface ManyItemsInN8nResult {
	store: string;
	items: number;
	runs: number;
	/** The node's executionTime in n8n's run data, median and best of the runs. */
	nodeMedianMs: number;
	nodeMinMs: number;
	/** The whole webhook call, median. */
	callMedianMs: number;
}

const median = (values: number[]) =>
	[...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

function workflow(
	key: string,
	items: number,
	store: StoreChoice,
	ids: { app: string; store: string; auth: string },
): Workflow {
	const credential = (id: string) => ({ id, name: id });
	return {
		name: `${key} many items`,
		nodes: [
			{
				id: crypto.randomUUID(),
				name: 'Webhook',
				type: 'n8n-nodes-base.webhook',
				typeVersion: 2.1,
				position: [0, 0],
				webhookId: crypto.randomUUID(),
				parameters: {
					path: `${key}/many`,
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
					connectionId: { __rl: true, value: '={{ $json.connectionId }}', mode: 'id' },
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

/** Runs the workflow `runs` times after one warm-up; every run must answer all items, fresh. */
export async function manyItemsInN8n(options: {
	client: N8nClient;
	n8nUrl: string;
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
		const ids = {
			app: (
				await client.createCredential({
					name: `${key} many items app`,
					type: 'oAuth2TokenManagerAppApi',
					data: appData,
				})
			).id,
			store: (
				await client.createCredential({
					name: `${key} many items store`,
					type: store.credentialType,
					data: store.data,
				})
			).id,
			auth: (
				await client.createCredential({
					name: `${key} many items auth`,
					type: 'httpHeaderAuth',
					data: auth,
				})
			).id,
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
		const created = await client.createWorkflow(workflow(key, items, store, ids));
		await client.publishWorkflow(created.id);
		await client.waitForWebhook(`${key}/many`);

		const nodeMs: number[] = [];
		const callMs: number[] = [];
		for (let run = 0; run <= options.runs; run++) {
			const started = performance.now();
			const res = await client.webhook(`${key}/many`, { headers: { [auth.name]: auth.value } });
			const ms = performance.now() - started;
			const body = res.body as { items?: number; fresh?: number };
			if (res.status !== 200 || body.items !== items || body.fresh !== items)
				throw new Error(
					`${options.label}: the workflow answered ${res.status} ${res.text.slice(0, 200)}`,
				);
			if (run === 0) continue; // warm-up: the store's pool and the node's managers
			const { data } = await client.listExecutions({
				workflowId: created.id,
				includeData: 'true',
				limit: '1',
			});
			const runData = (
				data[0] as {
					data?: { resultData?: { runData?: Record<string, Array<{ executionTime: number }>> } };
				}
			).data?.resultData?.runData;
			const time = runData?.[NODE_NAME]?.[0]?.executionTime;
			if (typeof time !== 'number')
				throw new Error(`${options.label}: n8n recorded no time for ${NODE_NAME}`);
			nodeMs.push(time);
			callMs.push(ms);
		}
		await client.unpublishWorkflow(created.id);
		return {
			store: options.label,
			items,
			runs: options.runs,
			nodeMedianMs: median(nodeMs),
			nodeMinMs: Math.min(...nodeMs),
			callMedianMs: median(callMs),
		};
	} finally {
		await sandbox.close();
	}
}

export function manyItemsInN8nTable(results: ManyItemsInN8nResult[]): string {
	const rows = results.map((r) =>
		[
			r.store.padEnd(18),
			`${r.nodeMedianMs} ms`.padStart(10),
			`${r.nodeMinMs} ms`.padStart(9),
			`${Math.round(r.callMedianMs)} ms`.padStart(12),
		].join('  '),
	);
	return [
		`Many items in real n8n: Get Valid Token over ${results[0]?.items ?? '?'} items (Connection ID an expression), fresh tokens;`,
		`the node's executionTime in n8n's run data, ${results[0]?.runs ?? '?'} runs after a warm-up, and the whole webhook call`,
		'',
		[
			'store'.padEnd(18),
			'node p50'.padStart(10),
			'node min'.padStart(9),
			'call p50'.padStart(12),
		].join('  '),
		...rows,
	].join('\n');
}
