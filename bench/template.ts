/*
 * Contender A: n8n template #2319 ("Better OAuth2.0 workflow for Pipedrive CRM with Supabase") rebuilt with n8n's
 * built-in nodes, on the template's documented alternative store: n8n's MySQL node on MariaDB. As the template:
 * an `App_tok` table (plain-text tokens, rows matched on Platform), a refresh webhook with Basic auth holding the
 * client id and secret in a Set node, success judged by "the first key of the answer is access_token", and a
 * business call that looks for the "Invalid token" message in the error and loops refresh → read → call. The one
 * change: the loop has a safety bound (the template has none) so a benchmark run ends; the answer says when it hit.
 * Step 1 (capturing the first code) is played by the benchmark itself, which writes the first row.
 */
import * as crypto from 'node:crypto';
import type { Workflow, WorkflowNode } from '../tools/n8n/client';

export const TEMPLATE_TABLE = 'App_tok';
export const TEMPLATE_APP_ID = 'bench-app';
/** Refresh-and-retry rounds one execution may do before it gives up (the template: unbounded). */
export const RETRY_BOUND = 25;
/** How long the business call waits for the refresh service (the template: n8n's default, 5 minutes). */
export const REFRESH_CALL_TIMEOUT_MS = 15_000;
const INVALID_TOKEN = 'Invalid token: access token is invalid';

export const TABLE_SQL = `CREATE TABLE IF NOT EXISTS ${TEMPLATE_TABLE} (
	id INT AUTO_INCREMENT PRIMARY KEY,
	ref_token TEXT, acc_token TEXT, Platform VARCHAR(64), AppId VARCHAR(64),
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP, updated_at DATETIME DEFAULT CURRENT_TIMESTAMP
)`;

export interface TemplateSettings {
	/** Name prefix of the workflows, paths and credentials. */
	tag: string;
	tokenUrl: string;
	apiUrl: string;
	clientId: string;
	clientSecret: string;
	/** n8n's own base URL, for the call to the refresh webhook. */
	n8nUrl: string;
	mysqlCredential: string;
	basicAuthCredential: string;
}

let counter = 0;
function node(
	name: string,
	type: string,
	typeVersion: number,
	parameters: Record<string, unknown>,
	extra: Partial<WorkflowNode> = {},
): WorkflowNode {
	counter += 1;
	return {
		id: `b3c4d5e6-0000-4000-8000-${String(counter).padStart(12, '0')}`,
		name,
		type,
		typeVersion,
		position: [counter * 220, 0],
		parameters,
		...extra,
	};
}

function condition(leftValue: string, operation: string, rightValue: unknown, type = 'string') {
	return {
		conditions: {
			options: { caseSensitive: true, leftValue: '', typeValidation: 'loose', version: 2 },
			conditions: [
				{ id: `cond-${++counter}`, leftValue, rightValue, operator: { type, operation } },
			],
			combinator: 'and',
		},
		options: {},
	};
}

function set(fields: Record<string, string>) {
	return {
		assignments: {
			assignments: Object.entries(fields).map(([name, value]) => ({
				id: `set-${++counter}`,
				name,
				value,
				type: 'string',
			})),
		},
		options: {},
	};
}

const link = (...names: string[]) => ({
	main: names.map((n) => (n ? [{ node: n, type: 'main', index: 0 }] : [])),
});

/** Step 2: POST {appId} → read the row → Set holding the client secret → token request → save when "access_token" comes first. */
export function refreshWorkflow(s: TemplateSettings): Workflow {
	const mysql = { mySql: { id: null, name: s.mysqlCredential } };
	return {
		name: `${s.tag} template #2319 · refresh service`,
		nodes: [
			node(
				'Refresh Webhook',
				'n8n-nodes-base.webhook',
				2.1,
				{
					httpMethod: 'POST',
					path: `${s.tag}/refresh`,
					authentication: 'basicAuth',
					responseMode: 'lastNode',
					options: {},
				},
				{
					webhookId: crypto.randomUUID(),
					credentials: { httpBasicAuth: { id: null, name: s.basicAuthCredential } },
				},
			),
			node(
				'Get Refresh Token',
				'n8n-nodes-base.mySql',
				2.4,
				{
					operation: 'executeQuery',
					query: `=SELECT ref_token FROM ${TEMPLATE_TABLE} WHERE Platform = 'Pipedrive' AND AppId = '{{ $json.body.appId }}' LIMIT 1`,
					options: {},
				},
				{ credentials: mysql },
			),
			node(
				'Client Credentials',
				'n8n-nodes-base.set',
				3.4,
				set({
					client_id: s.clientId,
					client_secret: s.clientSecret,
					ref_token: '={{ $json.ref_token }}',
				}),
			),
			node('Refresh Access Token', 'n8n-nodes-base.httpRequest', 4.2, {
				method: 'POST',
				url: s.tokenUrl,
				sendHeaders: true,
				headerParameters: {
					parameters: [
						{
							name: 'Authorization',
							value: "=Basic {{ ($json.client_id + ':' + $json.client_secret).base64Encode() }}",
						},
					],
				},
				sendBody: true,
				contentType: 'form-urlencoded',
				bodyParameters: {
					parameters: [
						{ name: 'grant_type', value: 'refresh_token' },
						{ name: 'refresh_token', value: '={{ $json.ref_token }}' },
					],
				},
				options: {},
			}),
			node(
				'First Key Is access_token?',
				'n8n-nodes-base.if',
				2.2,
				condition('={{ Object.keys($json)[0] }}', 'equals', 'access_token'),
			),
			node(
				'Save Tokens',
				'n8n-nodes-base.mySql',
				2.4,
				{
					operation: 'executeQuery',
					query: `=UPDATE ${TEMPLATE_TABLE} SET acc_token = '{{ $json.access_token }}', ref_token = '{{ $json.refresh_token }}', updated_at = NOW() WHERE Platform = 'Pipedrive'`,
					options: {},
				},
				{ credentials: mysql },
			),
			node('Token Refresh Failed', 'n8n-nodes-base.stopAndError', 1, {
				errorMessage: 'Token refresh failed',
			}),
		],
		connections: {
			'Refresh Webhook': link('Get Refresh Token'),
			'Get Refresh Token': link('Client Credentials'),
			'Client Credentials': link('Refresh Access Token'),
			'Refresh Access Token': link('First Key Is access_token?'),
			'First Key Is access_token?': link('Save Tokens', 'Token Refresh Failed'),
		},
		settings: { executionOrder: 'v1', saveDataSuccessExecution: 'none' },
	};
}

/** Step 3: read the token → search a person (continue on fail) → "Invalid token" in the error? → refresh → loop. */
export function callWorkflow(s: TemplateSettings): Workflow {
	const mysql = { mySql: { id: null, name: s.mysqlCredential } };
	return {
		name: `${s.tag} template #2319 · business call`,
		nodes: [
			node(
				'Call Webhook',
				'n8n-nodes-base.webhook',
				2.1,
				{ path: `${s.tag}/call`, responseMode: 'lastNode', options: {} },
				{ webhookId: crypto.randomUUID() },
			),
			node(
				'Get Token',
				'n8n-nodes-base.mySql',
				2.4,
				{
					operation: 'executeQuery',
					query: `SELECT acc_token FROM ${TEMPLATE_TABLE} WHERE Platform = 'Pipedrive' AND AppId = '${TEMPLATE_APP_ID}' LIMIT 1`,
					options: {},
				},
				{ credentials: mysql },
			),
			node(
				'Search Person',
				'n8n-nodes-base.httpRequest',
				4.2,
				{
					url: `${s.apiUrl}/api/v2/persons/search`,
					sendQuery: true,
					queryParameters: {
						parameters: [
							{ name: 'fields', value: 'email' },
							{ name: 'term', value: "={{ $('Call Webhook').first().json.query.term }}" },
						],
					},
					sendHeaders: true,
					headerParameters: {
						parameters: [{ name: 'Authorization', value: '=Bearer {{ $json.acc_token }}' }],
					},
					options: {},
				},
				{ onError: 'continueRegularOutput' },
			),
			// the template reads error.message; with continue-on-fail HTTP Request 4.2 outputs the request's whole error
			// object as `error`, so the same English string is looked for in all of it
			node(
				'Invalid Token?',
				'n8n-nodes-base.if',
				2.2,
				condition('={{ JSON.stringify($json.error ?? "") }}', 'contains', INVALID_TOKEN),
			),
			node(
				'Under Retry Bound?',
				'n8n-nodes-base.if',
				2.2,
				condition('={{ $runIndex }}', 'lt', RETRY_BOUND, 'number'),
			),
			node(
				'Call Refresh Service',
				'n8n-nodes-base.httpRequest',
				4.2,
				{
					method: 'POST',
					url: `${s.n8nUrl}/webhook/${s.tag}/refresh`,
					authentication: 'genericCredentialType',
					genericAuthType: 'httpBasicAuth',
					sendBody: true,
					specifyBody: 'json',
					jsonBody: `{ "appId": "${TEMPLATE_APP_ID}" }`,
					// n8n's default waits 5 minutes; in queue mode the refresh execution may find no free worker slot
					options: { timeout: REFRESH_CALL_TIMEOUT_MS },
				},
				{ credentials: { httpBasicAuth: { id: null, name: s.basicAuthCredential } } },
			),
			node(
				'Retry Bound Hit',
				'n8n-nodes-base.set',
				3.4,
				set({ boundHit: 'true', refreshRounds: '={{ $runIndex }}' }),
			),
			node(
				'Person',
				'n8n-nodes-base.set',
				3.4,
				set({
					name: '={{ $json.data?.items?.[0]?.item?.name ?? "" }}',
					error: '={{ $json.error ? "API call failed" : "" }}',
				}),
			),
		],
		connections: {
			'Call Webhook': link('Get Token'),
			'Get Token': link('Search Person'),
			'Search Person': link('Invalid Token?'),
			'Invalid Token?': link('Under Retry Bound?', 'Person'),
			'Under Retry Bound?': link('Call Refresh Service', 'Retry Bound Hit'),
			'Call Refresh Service': link('Get Token'),
		},
		settings: { executionOrder: 'v1', saveDataSuccessExecution: 'none' },
	};
}
