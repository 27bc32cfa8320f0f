import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OAuth2TokenManagerAppApi } from '../credentials/OAuth2TokenManagerAppApi.credentials';
import { OAuth2TokenManagerEmbeddedApi } from '../credentials/OAuth2TokenManagerEmbeddedApi.credentials';
import { OAuth2TokenManagerMySqlApi } from '../credentials/OAuth2TokenManagerMySqlApi.credentials';
import { OAuth2TokenManagerPostgresApi } from '../credentials/OAuth2TokenManagerPostgresApi.credentials';
import { OAuth2TokenManagerSupabaseApi } from '../credentials/OAuth2TokenManagerSupabaseApi.credentials';
import {
	ApiRequestError,
	AppMismatchError,
	ConnectionNotFoundError,
	ConnectionRevokedError,
	DecryptionError,
	InvalidInputError,
	LeaseTimeoutError,
	NeedsReauthorizationError,
	ProviderFailingError,
	StoreError,
	TokenEndpointError,
	VersionConflictError,
} from '../engine/errors';

/**
 * Every bundled workflow's webhooks: each is authenticated with a credential of its own, except an OAuth callback,
 * which only feeds Exchange Authorization Code with the state check on (the signed state guards it).
 */
interface WorkflowNode {
	name: string;
	type: string;
	onError?: string;
	typeVersion: number;
	parameters: Record<string, unknown>;
	credentials?: Record<string, { id: string | null; name: string }>;
}
interface Workflow {
	id?: string;
	name: string;
	settings: Record<string, unknown>;
	nodes: WorkflowNode[];
	connections: Record<string, { main?: Array<Array<{ node: string }>> }>;
}

const directory = join(__dirname, '..', 'workflows');
const workflows = readdirSync(directory)
	.filter((file) => file.endsWith('.json'))
	.map((file) => ({
		file,
		workflow: JSON.parse(readFileSync(join(directory, file), 'utf8')) as Workflow,
	}));

/** The credential type each Webhook authentication method takes. */
const CREDENTIAL_TYPES: Record<string, string> = {
	basicAuth: 'httpBasicAuth',
	headerAuth: 'httpHeaderAuth',
	jwtAuth: 'jwtAuth',
};

/** True when every node the webhook feeds is Exchange Authorization Code that refuses a callback without state. */
function guardedBySignedState(workflow: Workflow, webhook: WorkflowNode): boolean {
	const next = (workflow.connections[webhook.name]?.main ?? [])
		.flat()
		.map((link) => workflow.nodes.find((n) => n.name === link.node)!);
	return (
		next.length > 0 &&
		next.every(
			(n) =>
				n.type === 'n8n-nodes-oauth2-token-manager.oAuth2TokenManager' &&
				n.parameters.operation === 'exchangeAuthorizationCode' &&
				(n.parameters.exchangeOptions as { allowMissingState?: boolean } | undefined)
					?.allowMissingState !== true,
		)
	);
}

describe('the bundled workflows', () => {
	const webhooks = workflows.flatMap(({ file, workflow }) =>
		workflow.nodes
			.filter((n) => n.type === 'n8n-nodes-base.webhook')
			.map((node) => ({ file, workflow, node })),
	);

	it('are found, with their webhooks', () => {
		expect(workflows.map(({ file }) => file)).toEqual([
			'1-connect-oauth-callback.json',
			'2-call-api-with-valid-token.json',
			'3-refresh-on-request.json',
			'4-keep-alive-and-alerts.json',
			'5-connections-status.json',
		]);
		expect(webhooks.map(({ file, node }) => `${file}: ${node.name}`)).toEqual([
			'1-connect-oauth-callback.json: Start Webhook',
			'1-connect-oauth-callback.json: OAuth Callback',
			'2-call-api-with-valid-token.json: Call Webhook',
			'3-refresh-on-request.json: Refresh Webhook',
			'5-connections-status.json: Status Page',
		]);
	});

	it('authenticate every webhook with a credential of its own, except the OAuth callback the signed state guards', () => {
		const unauthenticated: string[] = [];
		const credentialNames: string[] = [];
		for (const { file, workflow, node } of webhooks) {
			const authentication = (node.parameters.authentication as string | undefined) ?? 'none';
			if (authentication === 'none') {
				if (!guardedBySignedState(workflow, node))
					unauthenticated.push(`${file}: ${node.name} (/webhook/${node.parameters.path})`);
				continue;
			}
			const credential = node.credentials?.[CREDENTIAL_TYPES[authentication]];
			expect({ webhook: node.name, credential: credential?.name ?? null }).toEqual({
				webhook: node.name,
				credential: expect.any(String),
			});
			credentialNames.push(credential!.name);
		}
		expect(unauthenticated).toEqual([]);
		expect(new Set(credentialNames).size).toBe(credentialNames.length);
		expect(credentialNames).toHaveLength(4);
	});

	it("run the node's current version and read its output by the current field names", () => {
		const tokenManagers = workflows.flatMap(({ file, workflow }) =>
			workflow.nodes
				.filter((n) => n.type === 'n8n-nodes-oauth2-token-manager.oAuth2TokenManager')
				.map((node) => ({ file, node })),
		);
		expect(tokenManagers).toHaveLength(7);
		expect(
			tokenManagers
				.filter(({ node }) => node.typeVersion !== 1.2)
				.map(({ file, node }) => `${file}: ${node.name}`),
		).toEqual([]);
		// Version 1.2's Connection ID is a resource locator: a plain string there would be a version 1 or 1.1 value.
		const plainIds = tokenManagers.filter(
			({ node }) =>
				'connectionId' in node.parameters &&
				(node.parameters.connectionId as { __rl?: boolean }).__rl !== true,
		);
		expect(plainIds.map(({ file, node }) => `${file}: ${node.name}`)).toEqual([]);
		// The node's own fields as version 1 named them; versions 1.1 and 1.2 name them in camelCase.
		const version1Names =
			/json\.(expires_at|refresh_count|last_refreshed_at|min_validity_seconds|min_validity_capped|revoked_at_provider|revoked_token_type)\b/;
		const stale = workflows.flatMap(({ file, workflow }) =>
			workflow.nodes
				.filter((n) => version1Names.test(JSON.stringify(n.parameters)))
				.map((n) => `${file}: ${n.name}`),
		);
		expect(stale).toEqual([]);
	});

	// Workflow 2 is left out: its own change brings it.
	const byNumber = (n: number) => workflows.find(({ file }) => file.startsWith(`${n}-`))!;
	const firstTestRun = [1, 3, 4].map(byNumber);
	const TOKEN_MANAGER = 'n8n-nodes-oauth2-token-manager.oAuth2TokenManager';
	const sticky = (workflow: Workflow) =>
		String(workflow.nodes.find((n) => n.type === 'n8n-nodes-base.stickyNote')!.parameters.content);

	it('workflows 1, 3 and 4 run a first test by a click: a Manual Trigger whose path reaches the token manager, no webhook event awaited', () => {
		for (const { file, workflow } of firstTestRun) {
			const [manual, ...more] = workflow.nodes.filter(
				(n) => n.type === 'n8n-nodes-base.manualTrigger',
			);
			expect({ file, more }).toEqual({ file, more: [] });
			const reached = new Set<string>();
			const visit = (name: string) => {
				if (reached.has(name)) return;
				reached.add(name);
				for (const link of (workflow.connections[name]?.main ?? []).flat()) visit(link.node);
			};
			visit(manual.name);
			const tokenManagersReached = workflow.nodes.filter(
				(n) => n.type === TOKEN_MANAGER && reached.has(n.name),
			);
			expect({ file, reached: tokenManagersReached.length > 0 }).toEqual({ file, reached: true });
			// the sticky note tells how
			expect(sticky(workflow)).toContain(
				`**First test run:** click *Execute workflow* (trigger *${manual.name}*)`,
			);
		}
		// the test input of workflows 1 and 3 is what their Build Authorization URL and Request read
		const testInput = (n: number) =>
			byNumber(n).workflow.nodes.find((node) => node.name === 'Test Connection ID')!;
		expect(JSON.stringify(testInput(1).parameters)).toContain('"name":"query.connectionId"');
		expect(
			JSON.stringify(
				byNumber(1).workflow.nodes.find((n) => n.name === 'Build Authorization URL')!.parameters,
			),
		).toContain('$json.query.connectionId');
		expect(JSON.stringify(testInput(3).parameters)).toContain('"name":"connectionId"');
	});

	it('workflows 1, 3 and 4 save failed production runs to debug, and say so; a run that holds a token is never saved when it succeeds', () => {
		for (const { file, workflow } of firstTestRun) {
			expect({ file, saved: workflow.settings.saveDataErrorExecution }).toEqual({
				file,
				saved: 'all',
			});
			expect(sticky(workflow)).toContain(
				'**Failed runs are saved** (Settings → Save failed production executions: Save)',
			);
		}
	});

	it('each sticky checklist names, for each token manager node, the credential each of its slots must show after an import', () => {
		for (const { file, workflow } of firstTestRun) {
			const checklist = sticky(workflow).split('**Set-up checklist**')[1];
			for (const node of workflow.nodes.filter((n) => n.type === TOKEN_MANAGER)) {
				expect({ file, node: node.name, named: checklist.includes(`**${node.name}**`) }).toEqual({
					file,
					node: node.name,
					named: true,
				});
				for (const credential of Object.values(node.credentials ?? {}))
					expect({ file, credential: checklist.includes(`*${credential.name}*`) }).toEqual({
						file,
						credential: true,
					});
			}
			expect(checklist).toContain(
				'**OAuth App** = *Pipedrive OAuth app*, **Embedded (SQLite) Token Storage** = *OAuth2 token store (embedded)*',
			);
		}
	});

	it("workflow 3 answers the node's own field names: expiresAt, not expires_at", () => {
		const answer = byNumber(3).workflow.nodes.find((n) => n.name === 'Status and Expiry')!;
		const names = (
			answer.parameters.assignments as { assignments: Array<{ name: string }> }
		).assignments.map((a) => a.name);
		expect(names).toEqual(['connectionId', 'status', 'refreshed', 'expiresAt', 'expires_in']);
	});

	it("keep no successful production run when a node's output holds an access token (Get Valid Token, Refresh Token), nor workflow 2's API data", () => {
		const carryingTokens = workflows.filter(({ workflow }) =>
			workflow.nodes.some(
				(n) =>
					n.type === 'n8n-nodes-oauth2-token-manager.oAuth2TokenManager' &&
					['getValidToken', 'refreshToken'].includes(n.parameters.operation as string),
			),
		);
		expect(carryingTokens.map(({ file }) => file)).toEqual(['3-refresh-on-request.json']);
		carryingTokens.push(workflows.find(({ file }) => file === '2-call-api-with-valid-token.json')!);
		for (const { file, workflow } of carryingTokens)
			expect({ file, saved: workflow.settings.saveDataSuccessExecution }).toEqual({
				file,
				saved: 'none',
			});
	});

	// n8n 2.x's `import:workflow --input=<file>` stores no workflow without an id; a credential id of null makes n8n
	// 1.x's import print a dependency-index error, and n8n 2.x's editor then flags no missing credential. An id n8n does
	// not know is linked by name on import (tools/n8n/stack.ts, credentialReference).
	it('carry a workflow id of their own and give every credential reference a placeholder id, one for each name', () => {
		expect(new Set(workflows.map(({ workflow }) => workflow.id)).size).toBe(workflows.length);
		for (const { file, workflow } of workflows)
			expect({ file, id: typeof workflow.id === 'string' && workflow.id.length > 0 }).toEqual({
				file,
				id: true,
			});
		const idOf = new Map<string, Set<unknown>>();
		for (const { workflow } of workflows) {
			for (const ref of workflow.nodes.flatMap((n) => Object.values(n.credentials ?? {})))
				idOf.set(ref.name, (idOf.get(ref.name) ?? new Set()).add(ref.id));
		}
		const ids = [...idOf].map(([name, set]) => ({ name, ids: [...set] }));
		for (const {
			name,
			ids: [id, ...others],
		} of ids)
			expect({ name, id: typeof id === 'string' && id.length > 0, others }).toEqual({
				name,
				id: true,
				others: [],
			});
		expect(new Set(ids.map(({ ids: [id] }) => id)).size).toBe(ids.length);
	});

	it("name every credential their nodes use in the sticky note's checklist, with its type as n8n's editor shows it", () => {
		const typeNames: Record<string, string> = {
			httpHeaderAuth: 'Header Auth',
			httpBasicAuth: 'Basic Auth',
		};
		for (const type of [
			OAuth2TokenManagerAppApi,
			OAuth2TokenManagerSupabaseApi,
			OAuth2TokenManagerPostgresApi,
			OAuth2TokenManagerMySqlApi,
			OAuth2TokenManagerEmbeddedApi,
		]) {
			const credential = new type();
			typeNames[credential.name] = credential.displayName;
		}
		for (const { file, workflow } of workflows) {
			const note = String(
				workflow.nodes.find((n) => n.type === 'n8n-nodes-base.stickyNote')!.parameters.content,
			);
			const used = new Map(
				workflow.nodes.flatMap((n) =>
					Object.entries(n.credentials ?? {}).map(([type, { name }]) => [name, type] as const),
				),
			);
			for (const [name, type] of used)
				expect({
					file,
					named: note.includes(`*${name}* (${typeNames[type]}`)
						? `*${name}* (${typeNames[type]}`
						: note,
				}).toEqual({ file, named: `*${name}* (${typeNames[type]}` });
		}
	});
});

/** Another node's output as n8n's `$('Node')` gives it to an expression or a Code node. */
type NodeOutput = (name: string) => {
	first(): { json: Record<string, unknown> };
	all(): Array<{ json: Record<string, unknown> }>;
};

/** A node parameter's n8n expression ("={{ … }}") as a function of $json and $: these use plain JavaScript only. */
function expressionOf(value: unknown): ($json: unknown, $?: NodeOutput) => unknown {
	const match = /^=\{\{([\s\S]*)\}\}$/.exec(String(value));
	if (!match) throw new Error(`not an expression: ${String(value)}`);
	return new Function('$json', '$', `return (${match[1]});`) as (
		$json: unknown,
		$?: NodeOutput,
	) => unknown;
}

describe('workflow 2 answers its caller', () => {
	const workflow = workflows.find(
		({ file }) => file === '2-call-api-with-valid-token.json',
	)!.workflow;
	const node = (name: string) => workflow.nodes.find((n) => n.name === name)!;
	const next = (name: string, output: number) =>
		(workflow.connections[name]?.main?.[output] ?? []).map((link) => link.node);

	it('Webhook → API Request → Respond: the result on success, the error answer when API Request fails; no node outputs a token', () => {
		expect(node('Call Webhook').parameters.responseMode).toBe('responseNode');
		const tokenManagers = workflow.nodes.filter(
			(n) => n.type === 'n8n-nodes-oauth2-token-manager.oAuth2TokenManager',
		);
		expect(tokenManagers.map((n) => [n.name, n.parameters.operation])).toEqual([
			['Call Pipedrive API', 'apiRequest'],
		]);
		expect(workflow.nodes.filter((n) => n.type === 'n8n-nodes-base.httpRequest')).toEqual([]);
		expect(node('Call Pipedrive API').parameters).toMatchObject({
			url: '/api/v1/users/me',
			apiOptions: { fullResponse: true, connectionStatus: true },
		});
		// Three nodes on the way to the answer: n8n's work per node is most of an execution's time.
		expect([next('Call Webhook', 0), next('Call Pipedrive API', 0)]).toEqual([
			['Call Pipedrive API'],
			['Respond with Result'],
		]);
		expect(node('Call Pipedrive API').onError).toBe('continueErrorOutput');
		expect(next('Call Pipedrive API', 1)).toEqual(['Error Answer']);
		expect(node('Respond with Result').parameters).toMatchObject({ respondWith: 'json' });
		expect(next('Error Answer', 0)).toEqual(['Respond with Error']);
		expect(node('Respond with Error').parameters.respondWith).toBe('firstIncomingItem');
	});

	it("takes the connection ID from the caller's query itself, so a call without one is answered 400; a manual run uses pipedrive:acme", () => {
		// From Input Field: the node reads query.connectionId of its item, with no expression for n8n to evaluate.
		expect(node('Call Pipedrive API').parameters.connectionId).toEqual({
			__rl: true,
			mode: 'field',
			value: 'query.connectionId',
		});
		const manual = workflow.nodes.find((n) => n.type === 'n8n-nodes-base.manualTrigger')!;
		expect([next(manual.name, 0), next('Test Connection ID', 0)]).toEqual([
			['Test Connection ID'],
			['Call Pipedrive API'],
		]);
		expect(node('Test Connection ID').parameters).toMatchObject({
			assignments: { assignments: [{ name: 'query.connectionId', value: 'pipedrive:acme' }] },
			options: { dotNotation: true },
		});
		const status = expressionOf(
			(node('Respond with Error').parameters.options as { responseCode: string }).responseCode,
		);
		expect(
			status({ error: { code: new InvalidInputError('connectionId', 'is empty').code } }),
		).toBe(400);
	});

	it("answers with the API's result and how the token served, read from API Request's item", () => {
		const result = expressionOf(node('Respond with Result').parameters.responseBody);
		const item = {
			body: { success: true, data: { id: 1, name: 'alice' } },
			headers: {},
			statusCode: 200,
			statusMessage: 'OK',
			connection: {
				connectionId: 'pipedrive:acme',
				status: 'active',
				expiresAt: '2026-12-06T21:00:00.000Z',
				refreshedBeforeCall: true,
				retriedAfter401: false,
			},
		};
		expect(result(item)).toEqual({
			connectionId: 'pipedrive:acme',
			statusCode: 200,
			user: { id: 1, name: 'alice' },
			tokenRefreshedBeforeCall: true,
			tokenExpiresAt: '2026-12-06T21:00:00.000Z',
			retriedAfter401: false,
		});
	});

	it("answers each of the engine's error codes with its HTTP status", () => {
		const status = expressionOf(
			(node('Respond with Error').parameters.options as { responseCode: string }).responseCode,
		);
		const statusOf = (code: string) => status({ error: { code } });
		const cases: Array<[string, number]> = [
			[new ConnectionNotFoundError('c', 'the store').code, 404],
			[new NeedsReauthorizationError('c', 'refused').code, 409],
			[new ConnectionRevokedError('c').code, 409],
			[new InvalidInputError('connectionId', 'bad').code, 400],
			[new StoreError('down').code, 503],
			[new LeaseTimeoutError('c', 1000).code, 503],
			[new ProviderFailingError('c', new Date(), 3, 'down').code, 503],
			[new TokenEndpointError('failed', { httpStatus: 500 }).code, 502],
			[new TokenEndpointError('refused', { error: 'invalid_client', httpStatus: 401 }).code, 502],
			[
				new TokenEndpointError('busy', { error: 'temporarily_unavailable', httpStatus: 503 }).code,
				503,
			],
			[new ApiRequestError('HTTP 500', 'api_error', 500).code, 502],
			[new ApiRequestError('refused again', 'api_token_refused', 401).code, 502],
			[new AppMismatchError('c', 'app A', 'app B').code, 500],
			[new DecryptionError('wrong key').code, 500],
			[new VersionConflictError('c', 1).code, 500],
			['error', 500],
		];
		expect(cases.map(([code]) => [code, statusOf(code)])).toEqual(cases);
	});

	it('builds the error answer from the failed item: code, message, description and re-authorization link, and the connection', () => {
		const assignments = (
			node('Error Answer').parameters.assignments as {
				assignments: Array<{ name: string; value: string }>;
			}
		).assignments;
		const answer = expressionOf(assignments.find((a) => a.name === 'error')!.value);
		const connection = expressionOf(assignments.find((a) => a.name === 'connectionId')!.value);
		const failedItem = {
			error: 'Connection "c" must be re-authorized: refused',
			details: {
				description: 'Send the account owner through the authorization flow again',
				code: 'needs_reauth',
				connectionId: 'c',
				reauthorizationUrl: 'https://provider/authorize?state=s',
			},
		};
		expect(JSON.parse(JSON.stringify(answer(failedItem)))).toEqual({
			code: 'needs_reauth',
			message: failedItem.error,
			description: failedItem.details.description,
			reauthorizationUrl: failedItem.details.reauthorizationUrl,
		});
		expect(connection(failedItem)).toBe('c');
		// No connection ID given: the answer says so without one.
		const missing = {
			error: 'The Connection ID is empty',
			details: { description: 'Check the "Connection ID" field.', code: 'invalid_input' },
		};
		expect(JSON.parse(JSON.stringify(answer(missing)))).toEqual({
			code: 'invalid_input',
			message: missing.error,
			description: missing.details.description,
		});
		expect(connection(missing)).toBeNull();
	});
});

describe('workflow 4 keeps connections alive and alerts on the ones in trouble', () => {
	const { workflow } = workflows.find(({ file }) => file === '4-keep-alive-and-alerts.json')!;
	const node = (name: string) => workflow.nodes.find((n) => n.name === name)!;
	const next = (name: string) =>
		(workflow.connections[name]?.main?.[0] ?? []).map((link) => link.node);
	const settings = Object.fromEntries(
		(
			node('Settings').parameters.assignments as {
				assignments: Array<{ name: string; value: unknown }>;
			}
		).assignments.map((a) => [a.name, a.value]),
	);

	it('Schedule Trigger → Settings → Keep Alive → the connections in new trouble → the alert', () => {
		const trigger = workflow.nodes.find((n) => n.type === 'n8n-nodes-base.scheduleTrigger')!;
		expect([
			next(trigger.name),
			next('Settings'),
			next('Keep Alive'),
			next('New Trouble Only'),
		]).toEqual([['Settings'], ['Keep Alive'], ['New Trouble Only'], ['Send Alert']]);
		expect(node('Keep Alive').parameters).toMatchObject({
			operation: 'keepAlive',
			expiresWithinSeconds: '={{ $json.expiresWithinSeconds }}',
			idleAfterDays: '={{ $json.idleAfterDays }}',
		});
		// Pipedrive's refresh tokens die after 60 days unused; the sweep runs every 15 minutes
		expect(settings.idleAfterDays).toBeLessThan(60);
		expect(settings.expiresWithinSeconds).toBeGreaterThan(15 * 60);
	});

	it('alerts each connection once per state that needs a human (failed, failing, needs_reauth), across runs; a success clears it', () => {
		const { jsCode } = node('New Trouble Only').parameters as { jsCode: string };
		const staticData: Record<string, unknown> = {};
		// The Code node's program, with what n8n gives it: the items and the workflow's static data (kept between runs).
		const run = (items: Array<{ connectionId: string; outcome: string; status: string }>) =>
			(
				new Function('$input', '$getWorkflowStaticData', jsCode)(
					{ all: () => items.map((json) => ({ json })) },
					() => staticData,
				) as Array<{ json: { connectionId: string; status: string } }>
			).map(({ json }) => `${json.connectionId}:${json.status}`);
		const item = (connectionId: string, outcome: string, status = 'active') => ({
			connectionId,
			outcome,
			status,
		});

		expect(
			run([
				item('a', 'failed'),
				item('b', 'refreshed'),
				item('c', 'cooldown'),
				item('d', 'needs_reauth', 'needs_reauth'),
				item('e', 'revoked', 'revoked'),
			]),
		).toEqual(['a:active', 'd:needs_reauth']);
		// Every 15 minutes the same trouble: nothing new to say.
		expect(run([item('a', 'cooldown'), item('b', 'skipped_fresh'), item('c', 'cooldown')])).toEqual(
			[],
		);
		expect(run([item('a', 'failed'), item('c', 'cooldown')])).toEqual([]);
		// Worse: failing for longer than the failing period (here seen in a cooldown) is a new state.
		expect(run([item('a', 'cooldown', 'failing'), item('c', 'failed', 'failing')])).toEqual([
			'a:failing',
			'c:failing',
		]);
		expect(run([item('a', 'failed', 'failing'), item('c', 'cooldown', 'failing')])).toEqual([]);
		// A success forgets it: the next failure is reported again.
		expect(run([item('a', 'refreshed')])).toEqual([]);
		expect(run([item('a', 'failed')])).toEqual(['a:active']);
		// Ids are keys of their own, whatever they look like.
		expect(run([item('__proto__', 'failed'), item('constructor', 'failed')])).toEqual([
			'__proto__:active',
			'constructor:active',
		]);
	});

	it('posts each to the configured endpoint with a header credential of its own: the link for the owner, never a token', () => {
		const alert = node('Send Alert');
		expect(alert.parameters).toMatchObject({
			method: 'POST',
			url: "={{ $('Settings').first().json.notificationUrl }}",
			authentication: 'genericCredentialType',
			genericAuthType: 'httpHeaderAuth',
		});
		const credential = alert.credentials?.httpHeaderAuth?.name;
		const otherCredentials = workflows.flatMap(({ file, workflow: other }) =>
			file === '4-keep-alive-and-alerts.json'
				? []
				: other.nodes.flatMap((n) => Object.values(n.credentials ?? {}).map((c) => c.name)),
		);
		expect(credential).toEqual(expect.any(String));
		expect(otherCredentials).not.toContain(credential);
		expect(String(settings.notificationUrl)).toMatch(/^https:\/\//);

		const body = expressionOf(alert.parameters.jsonBody);
		const item = {
			connectionId: 'pipedrive:acme',
			outcome: 'needs_reauth',
			status: 'needs_reauth',
			errorCode: 'needs_reauth',
			errorMessage: 'Connection "pipedrive:acme" must be re-authorized',
			nextAttemptAt: null,
			reauthorizationUrl: 'https://oauth.pipedrive.com/oauth/authorize?state=s',
			access_token: 'SENTINEL-token',
			refresh_token: 'SENTINEL-refresh',
		};
		const sent = JSON.parse(String(body(item)));
		expect(sent).toEqual({
			connectionId: 'pipedrive:acme',
			status: 'needs_reauth',
			outcome: 'needs_reauth',
			errorCode: 'needs_reauth',
			errorMessage: item.errorMessage,
			nextAttemptAt: null,
			reauthorizationUrl: item.reauthorizationUrl,
		});
		expect(JSON.stringify(sent)).not.toContain('SENTINEL');
	});

	it('saves no successful run: its items hold re-authorization links', () => {
		expect(workflow.settings.saveDataSuccessExecution).toBe('none');
	});
});

describe('workflow 5 answers a status page of the connections', () => {
	const { workflow } = workflows.find(({ file }) => file === '5-connections-status.json')!;
	const node = (name: string) => workflow.nodes.find((n) => n.name === name)!;
	const next = (name: string, output = 0) =>
		(workflow.connections[name]?.main?.[output] ?? []).map((link) => link.node);
	const assignmentsOf = (name: string) =>
		(node(name).parameters.assignments as { assignments: Array<{ name: string; value: unknown }> })
			.assignments;
	const settings = Object.fromEntries(assignmentsOf('Settings').map((a) => [a.name, a.value]));

	/** Read Request's fields for a request with this query (after Settings, whose fields it keeps). */
	function readRequest(query: Record<string, unknown>): Record<string, unknown> {
		const $ = (() => ({ first: () => ({ json: { query } }) })) as unknown as NodeOutput;
		const read = { ...settings };
		for (const { name, value } of assignmentsOf('Read Request'))
			read[name] = expressionOf(value)(settings, $);
		return read;
	}

	const NOW = Date.now();
	const at = (offsetMs: number) => new Date(NOW + offsetMs).toISOString();
	const MINUTE = 60_000;
	/** A List Connections item as the node outputs it (no token: it has none to give). */
	const connection = (connectionId: string, fields: Record<string, unknown> = {}) => ({
		connectionId,
		provider: 'pipedrive',
		grantType: 'authorization_code',
		status: 'active',
		token_type: 'Bearer',
		expiresAt: at(50 * MINUTE),
		expires_in: 3000,
		scope: 'base',
		refreshCount: 3,
		lastRefreshedAt: at(-10 * MINUTE),
		lastError: null,
		failureCount: 0,
		firstFailureAt: null,
		nextAttemptAt: null,
		failingSince: null,
		appFingerprint: 'v1:abc https://oauth.example/token …c0ff',
		createdAt: at(-86_400_000),
		updatedAt: at(-10 * MINUTE),
		...fields,
	});
	const XSS_ID = '<script>alert("id")</script>';
	const XSS_ERROR = 'token endpoint answered 503: <img src=x onerror=alert(1)> & "more"';
	const listed = [
		connection('acme'),
		connection('globex', { expiresAt: at(4 * MINUTE + 30_000) }),
		connection('initech', {
			failureCount: 4,
			nextAttemptAt: at(3 * MINUTE + 30_000),
			firstFailureAt: at(-40 * MINUTE),
			failingSince: at(-25 * MINUTE),
			lastError: XSS_ERROR,
			status: 'failing',
		}),
		connection(XSS_ID, {
			status: 'needs_reauth',
			expiresAt: at(-2 * 60 * MINUTE - 5 * MINUTE),
			lastError: 'invalid_grant: the refresh token was revoked',
		}),
		connection('umbrella', { status: 'revoked', expiresAt: null }),
	];
	const counts = [
		{ status: 'active', count_connectionId: 9000 },
		{ status: 'failing', count_connectionId: 12 },
		{ status: 'needs_reauth', count_connectionId: 7 },
		{ status: 'revoked', count_connectionId: 981 },
	];

	/** Runs Render Page's code as n8n's Code node does ("Run Once for All Items"); resolves its one item. */
	function render(
		query: Record<string, unknown>,
		page = listed,
	): { contentType: string; body: string } {
		const outputs: Record<string, Array<{ json: Record<string, unknown> }>> = {
			'Read Request': [{ json: readRequest(query) }],
			'List Page': page.map((json) => ({ json })),
		};
		const $ = (name: string) => ({ first: () => outputs[name][0], all: () => outputs[name] });
		const $input = { all: () => counts.map((json) => ({ json })) };
		const run = new Function('$', '$input', String(node('Render Page').parameters.jsCode)) as (
			...args: unknown[]
		) => Array<{ json: { contentType: string; body: string } }>;
		const items = run($, $input);
		expect(items).toHaveLength(1);
		return items[0].json;
	}
	/** The row of a connection, by its data-connection-id (as escaped in the page). */
	const rowOf = (html: string, escapedId: string) =>
		new RegExp(
			`<tr [^>]*data-connection-id="${escapedId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"[\\s\\S]*?</tr>`,
		).exec(html)?.[0] ?? '';

	it('Status Page → Settings → Read Request → List Page → List All for Counts → Count per Status → Render Page → Respond with Page; a store that fails answers the error page', () => {
		expect(node('Status Page').parameters).toMatchObject({
			path: 'connections/status',
			authentication: 'basicAuth',
			responseMode: 'responseNode',
		});
		expect(node('Status Page').parameters.httpMethod ?? 'GET').toBe('GET');
		expect([
			next('Status Page'),
			next('Settings'),
			next('Read Request'),
			next('List Page'),
			next('List All for Counts'),
			next('Count per Status'),
			next('Render Page'),
		]).toEqual([
			['Settings'],
			['Read Request'],
			['List Page'],
			['List All for Counts'],
			['Count per Status'],
			['Render Page'],
			['Respond with Page'],
		]);
		for (const name of ['List Page', 'List All for Counts'])
			expect({ name, onError: node(name).onError, errorOutput: next(name, 1) }).toEqual({
				name,
				onError: 'continueErrorOutput',
				errorOutput: ['Store Error Page'],
			});
		expect(node('Store Error Page').parameters).toMatchObject({
			respondWith: 'text',
			options: { responseCode: 503 },
		});
		expect(workflow.settings.saveDataSuccessExecution).toBe('none');
	});

	it('reads one page after the cursor, one connection more than shown (so it knows a next page follows), and counts within the ID prefix', () => {
		expect(node('List Page').parameters).toEqual({
			storage: 'embedded',
			operation: 'listConnections',
			returnAll: false,
			limit: '={{ $json.pageSize + 1 }}',
			afterConnectionId: '={{ $json.after }}',
			filters: { idPrefix: '={{ $json.prefix }}', status: '={{ $json.status }}' },
		});
		expect(node('List All for Counts').parameters).toMatchObject({
			operation: 'listConnections',
			returnAll: true,
			filters: { idPrefix: "={{ $('Read Request').first().json.prefix }}" },
		});
		expect(node('List All for Counts')).toMatchObject({
			executeOnce: true,
			alwaysOutputData: true,
		});
		expect(node('Count per Status').parameters).toMatchObject({
			fieldsToSummarize: { values: [{ field: 'connectionId' }] },
			fieldsToSplitBy: 'status',
		});
	});

	it('takes only the statuses List Connections knows, a bounded refresh and page size from the query or Settings', () => {
		expect(settings).toMatchObject({
			pageSize: 50,
			autoRefreshSeconds: 0,
			reauthorizeStartUrl: '/webhook/pipedrive/oauth/start',
		});
		expect(readRequest({})).toMatchObject({
			status: '',
			prefix: '',
			after: '',
			format: 'html',
			refreshSeconds: 0,
			refreshParameter: '',
			pageSize: 50,
		});
		expect(
			readRequest({
				status: 'needs_reauth',
				prefix: 'pipedrive:',
				after: 'pipedrive:acme',
				format: 'json',
				refresh: '30',
			}),
		).toMatchObject({
			status: 'needs_reauth',
			prefix: 'pipedrive:',
			after: 'pipedrive:acme',
			format: 'json',
			refreshSeconds: 30,
			refreshParameter: '30',
		});
		expect(readRequest({ status: 'expiring"><script>', refresh: '1' })).toMatchObject({
			status: '',
			refreshSeconds: 5,
		});
		expect(readRequest({ status: ['active', 'revoked'], refresh: 'soon' })).toMatchObject({
			status: '',
			refreshSeconds: 0,
			refreshParameter: '',
		});
		expect(readRequest({ refresh: '0' })).toMatchObject({
			refreshSeconds: 0,
			refreshParameter: '0',
		});
	});

	it('shows every connection with its status in colour and in words, relative times, and the Re-authorize link where one is needed', () => {
		const { body: html, contentType } = render({});
		expect(contentType).toBe('text/html; charset=utf-8');
		const badge = (row: string) =>
			/<span class="status (s-[a-z_]+)">([^<]+)<\/span>/.exec(row)?.slice(1);
		expect(badge(rowOf(html, 'acme'))).toEqual(['s-active', 'active']);
		expect(badge(rowOf(html, 'globex'))).toEqual(['s-expiring', 'expiring']);
		expect(badge(rowOf(html, 'initech'))).toEqual(['s-failing', 'failing']);
		expect(badge(rowOf(html, '&lt;script&gt;alert(&quot;id&quot;)&lt;/script&gt;'))).toEqual([
			's-needs_reauth',
			'needs re-authorization',
		]);
		expect(badge(rowOf(html, 'umbrella'))).toEqual(['s-revoked', 'revoked']);
		// each status has a colour of its own in the style
		for (const status of ['active', 'expiring', 'failing', 'needs_reauth', 'revoked'])
			expect(html).toMatch(
				new RegExp(`\\.s-${status}\\{color:#[0-9a-f]{6};background:#[0-9a-f]{6}`),
			);

		expect(rowOf(html, 'acme')).toMatch(/>in 4\d min</);
		expect(rowOf(html, 'globex')).toContain('>in 4 min<');
		expect(rowOf(html, 'acme')).toContain('>10 min ago<');
		expect(rowOf(html, 'initech')).toMatch(/4, next <time [^>]+>in 3 min<\/time>/);
		expect(rowOf(html, 'initech')).toContain('>25 min ago<');
		const reauth = rowOf(html, '&lt;script&gt;alert(&quot;id&quot;)&lt;/script&gt;');
		expect(reauth).toContain('>expired 2 h ago<');
		expect(reauth).toContain(
			`<a class="reauth" href="/webhook/pipedrive/oauth/start?connectionId=${encodeURIComponent(XSS_ID)}">Re-authorize</a>`,
		);
		expect(html.match(/class="reauth"/g)).toHaveLength(1);
		expect(html).toContain('<b>10000</b>all');
		expect(html).toContain('<b>12</b>failing');
	});

	it('escapes every value: connection IDs and last errors come from users and providers; the page has no script at all', () => {
		const { body: html } = render({ prefix: '"><script>alert(2)</script>' });
		expect(html).not.toMatch(/<script|<img|onerror=alert\(1\)>/i);
		expect(html).toContain(
			'token endpoint answered 503: &lt;img src=x onerror=alert(1)&gt; &amp; &quot;more&quot;',
		);
		expect(html).toContain('value="&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;"');
		// nothing of the connection that is not shown: no app fingerprint, scope or token type
		expect(html).not.toMatch(/v1:abc|Bearer|oauth\.example/);
	});

	it("carries a Content-Security-Policy that lets only the page's own style in (by its hash), no script, nothing from elsewhere", () => {
		const { body: html } = render({});
		const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1];
		const hash = createHash('sha256').update(style).digest('base64');
		// n8n drops a Content-Security-Policy header a workflow sets (it sends its own sandbox policy): the page carries
		// its policy itself, before anything it governs
		const policy = `default-src 'none'; style-src 'sha256-${hash}'; form-action 'self'; base-uri 'none'`;
		expect(
			html.indexOf(`<meta http-equiv="Content-Security-Policy" content="${policy}">`),
		).toBeGreaterThan(0);
		expect(html.indexOf('<meta http-equiv="Content-Security-Policy"')).toBeLessThan(
			html.indexOf('<style>'),
		);
		// nothing to fetch: no element that loads, no address of another origin (a link of its own starts with "/" or "?")
		expect(html).not.toMatch(
			/<(link|img|iframe|object|embed|script)\b|@import|url\(|=["']?(https?:)?\/\//i,
		);
		const headers = (name: string) =>
			Object.fromEntries(
				(
					node(name).parameters.options as {
						responseHeaders: { entries: Array<{ name: string; value: string }> };
					}
				).responseHeaders.entries.map((h) => [h.name, h.value]),
			);
		expect(headers('Respond with Page')).toEqual({
			'Content-Type': '={{ $json.contentType }}',
			'Cache-Control': 'no-store',
			'X-Content-Type-Options': 'nosniff',
			'Referrer-Policy': 'no-referrer',
			'X-Frame-Options': 'DENY',
		});
		expect(headers('Store Error Page')).toEqual({
			'Content-Type': 'text/html; charset=utf-8',
			'Cache-Control': 'no-store',
			'X-Content-Type-Options': 'nosniff',
			'Referrer-Policy': 'no-referrer',
			'X-Frame-Options': 'DENY',
		});
		expect(node('Store Error Page').parameters.responseBody).toContain(
			`<meta http-equiv="Content-Security-Policy" content="default-src 'none'">`,
		);
	});

	it('pages with the last ID shown and keeps the filters; reloads itself only when asked', () => {
		const page = Array.from({ length: 51 }, (_, i) =>
			connection(`c:${String(i).padStart(3, '0')}`),
		);
		const { body: first } = render({ status: 'active', prefix: 'c:' }, page);
		expect(first.match(/<tr class=/g)).toHaveLength(50);
		expect(first).toContain(
			'<a rel="next" href="?status=active&amp;prefix=c%3A&amp;after=c%3A049">Next page »</a>',
		);
		expect(first).not.toContain('First page');
		expect(first).not.toContain('http-equiv="refresh"');
		const { body: last } = render(
			{ status: 'active', prefix: 'c:', after: 'c:049', refresh: '30' },
			page.slice(50),
		);
		expect(last).not.toContain('Next page');
		expect(last).toContain(
			'<a href="?status=active&amp;prefix=c%3A&amp;refresh=30">« First page</a>',
		);
		expect(last).toContain('<meta http-equiv="refresh" content="30">');
		expect(render({}, []).body).toContain('No connection matches.');
	});

	it('answers JSON with ?format=json: the same connections, counts and cursor', () => {
		const answer = render({ format: 'json' });
		expect(answer.contentType).toBe('application/json; charset=utf-8');
		const body = JSON.parse(answer.body);
		expect(body.counts).toEqual({
			active: 9000,
			failing: 12,
			needs_reauth: 7,
			revoked: 981,
			total: 10000,
		});
		expect(body.nextAfter).toBeNull();
		expect(
			body.connections.map((c: { connectionId: string; shownStatus: string }) => [
				c.connectionId,
				c.shownStatus,
			]),
		).toEqual([
			['acme', 'active'],
			['globex', 'expiring'],
			['initech', 'failing'],
			[XSS_ID, 'needs_reauth'],
			['umbrella', 'revoked'],
		]);
		expect(body.connections[3].reauthorizeUrl).toBe(
			`/webhook/pipedrive/oauth/start?connectionId=${encodeURIComponent(XSS_ID)}`,
		);
		expect(Object.keys(body.connections[0]).sort()).toEqual(
			[
				'connectionId',
				'provider',
				'status',
				'shownStatus',
				'expiresAt',
				'lastRefreshedAt',
				'refreshCount',
				'failureCount',
				'nextAttemptAt',
				'failingSince',
				'lastError',
				'reauthorizeUrl',
			].sort(),
		);
	});
});
