import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OAuth2TokenManagerAppApi } from '../credentials/OAuth2TokenManagerAppApi.credentials';
import { OAuth2TokenManagerEmbeddedApi } from '../credentials/OAuth2TokenManagerEmbeddedApi.credentials';
import { OAuth2TokenManagerMySqlApi } from '../credentials/OAuth2TokenManagerMySqlApi.credentials';
import { OAuth2TokenManagerPostgresApi } from '../credentials/OAuth2TokenManagerPostgresApi.credentials';
import { OAuth2TokenManagerSupabaseApi } from '../credentials/OAuth2TokenManagerSupabaseApi.credentials';
import {
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
	.map((file) => ({ file, workflow: JSON.parse(readFileSync(join(directory, file), 'utf8')) as Workflow }));

/** The credential type each Webhook authentication method takes. */
const CREDENTIAL_TYPES: Record<string, string> = { basicAuth: 'httpBasicAuth', headerAuth: 'httpHeaderAuth', jwtAuth: 'jwtAuth' };

/** True when every node the webhook feeds is Exchange Authorization Code that refuses a callback without state. */
function guardedBySignedState(workflow: Workflow, webhook: WorkflowNode): boolean {
	const next = (workflow.connections[webhook.name]?.main ?? []).flat().map((link) => workflow.nodes.find((n) => n.name === link.node)!);
	return (
		next.length > 0 &&
		next.every(
			(n) =>
				n.type === 'n8n-nodes-oauth2-token-manager.oAuth2TokenManager' &&
				n.parameters.operation === 'exchangeAuthorizationCode' &&
				(n.parameters.exchangeOptions as { allowMissingState?: boolean } | undefined)?.allowMissingState !== true,
		)
	);
}

describe('the bundled workflows', () => {
	const webhooks = workflows.flatMap(({ file, workflow }) =>
		workflow.nodes.filter((n) => n.type === 'n8n-nodes-base.webhook').map((node) => ({ file, workflow, node })),
	);

	it('are found, with their webhooks', () => {
		expect(workflows.map(({ file }) => file)).toEqual([
			'1-connect-oauth-callback.json',
			'2-call-api-with-valid-token.json',
			'3-refresh-on-request.json',
			'4-keep-alive-and-alerts.json',
		]);
		expect(webhooks.map(({ file, node }) => `${file}: ${node.name}`)).toEqual([
			'1-connect-oauth-callback.json: Start Webhook',
			'1-connect-oauth-callback.json: OAuth Callback',
			'2-call-api-with-valid-token.json: Call Webhook',
			'3-refresh-on-request.json: Refresh Webhook',
		]);
	});

	it('authenticate every webhook with a credential of its own, except the OAuth callback the signed state guards', () => {
		const unauthenticated: string[] = [];
		const credentialNames: string[] = [];
		for (const { file, workflow, node } of webhooks) {
			const authentication = (node.parameters.authentication as string | undefined) ?? 'none';
			if (authentication === 'none') {
				if (!guardedBySignedState(workflow, node)) unauthenticated.push(`${file}: ${node.name} (/webhook/${node.parameters.path})`);
				continue;
			}
			const credential = node.credentials?.[CREDENTIAL_TYPES[authentication]];
			expect({ webhook: node.name, credential: credential?.name ?? null }).toEqual({ webhook: node.name, credential: expect.any(String) });
			credentialNames.push(credential!.name);
		}
		expect(unauthenticated).toEqual([]);
		expect(new Set(credentialNames).size).toBe(credentialNames.length);
		expect(credentialNames).toHaveLength(3);
	});

	it('run the node\'s current version and read its output by the current field names', () => {
		const tokenManagers = workflows.flatMap(({ file, workflow }) =>
			workflow.nodes.filter((n) => n.type === 'n8n-nodes-oauth2-token-manager.oAuth2TokenManager').map((node) => ({ file, node })),
		);
		expect(tokenManagers).toHaveLength(6);
		expect(tokenManagers.filter(({ node }) => node.typeVersion !== 1.2).map(({ file, node }) => `${file}: ${node.name}`)).toEqual([]);
		// Version 1.2's Connection ID is a resource locator: a plain string there would be a version 1 or 1.1 value.
		const plainIds = tokenManagers.filter(({ node }) => 'connectionId' in node.parameters && (node.parameters.connectionId as { __rl?: boolean }).__rl !== true);
		expect(plainIds.map(({ file, node }) => `${file}: ${node.name}`)).toEqual([]);
		// The node's own fields as version 1 named them; versions 1.1 and 1.2 name them in camelCase.
		const version1Names = /json\.(expires_at|refresh_count|last_refreshed_at|min_validity_seconds|min_validity_capped|revoked_at_provider|revoked_token_type)\b/;
		const stale = workflows.flatMap(({ file, workflow }) =>
			workflow.nodes.filter((n) => version1Names.test(JSON.stringify(n.parameters))).map((n) => `${file}: ${n.name}`),
		);
		expect(stale).toEqual([]);
	});

	// Workflow 2 is left out: its own change brings it.
	const byNumber = (n: number) => workflows.find(({ file }) => file.startsWith(`${n}-`))!;
	const firstTestRun = [1, 3, 4].map(byNumber);
	const TOKEN_MANAGER = 'n8n-nodes-oauth2-token-manager.oAuth2TokenManager';
	const sticky = (workflow: Workflow) => String(workflow.nodes.find((n) => n.type === 'n8n-nodes-base.stickyNote')!.parameters.content);

	it('workflows 1, 3 and 4 run a first test by a click: a Manual Trigger whose path reaches the token manager, no webhook event awaited', () => {
		for (const { file, workflow } of firstTestRun) {
			const [manual, ...more] = workflow.nodes.filter((n) => n.type === 'n8n-nodes-base.manualTrigger');
			expect({ file, more }).toEqual({ file, more: [] });
			const reached = new Set<string>();
			const visit = (name: string) => {
				if (reached.has(name)) return;
				reached.add(name);
				for (const link of (workflow.connections[name]?.main ?? []).flat()) visit(link.node);
			};
			visit(manual.name);
			const tokenManagersReached = workflow.nodes.filter((n) => n.type === TOKEN_MANAGER && reached.has(n.name));
			expect({ file, reached: tokenManagersReached.length > 0 }).toEqual({ file, reached: true });
			// the sticky note tells how
			expect(sticky(workflow)).toContain(`**First test run:** click *Execute workflow* (trigger *${manual.name}*)`);
		}
		// the test input of workflows 1 and 3 is what their Build Authorization URL and Request read
		const testInput = (n: number) => byNumber(n).workflow.nodes.find((node) => node.name === 'Test Connection ID')!;
		expect(JSON.stringify(testInput(1).parameters)).toContain('"name":"query.connectionId"');
		expect(JSON.stringify(byNumber(1).workflow.nodes.find((n) => n.name === 'Build Authorization URL')!.parameters)).toContain('$json.query.connectionId');
		expect(JSON.stringify(testInput(3).parameters)).toContain('"name":"connectionId"');
	});

	it('workflows 1, 3 and 4 save failed production runs to debug, and say so; a run that holds a token is never saved when it succeeds', () => {
		for (const { file, workflow } of firstTestRun) {
			expect({ file, saved: workflow.settings.saveDataErrorExecution }).toEqual({ file, saved: 'all' });
			expect(sticky(workflow)).toContain('**Failed runs are saved** (Settings → Save failed production executions: Save)');
		}
	});

	it('each sticky checklist names, for each token manager node, the credential each of its slots must show after an import', () => {
		for (const { file, workflow } of firstTestRun) {
			const checklist = sticky(workflow).split('**Set-up checklist**')[1];
			for (const node of workflow.nodes.filter((n) => n.type === TOKEN_MANAGER)) {
				expect({ file, node: node.name, named: checklist.includes(`**${node.name}**`) }).toEqual({ file, node: node.name, named: true });
				for (const credential of Object.values(node.credentials ?? {})) expect({ file, credential: checklist.includes(`*${credential.name}*`) }).toEqual({ file, credential: true });
			}
			expect(checklist).toContain('**OAuth App** = *Pipedrive OAuth app*, **Embedded (SQLite) Token Storage** = *OAuth2 token store (embedded)*');
		}
	});

	it('workflow 3 answers the node\'s own field names: expiresAt, not expires_at', () => {
		const answer = byNumber(3).workflow.nodes.find((n) => n.name === 'Status and Expiry')!;
		const names = (answer.parameters.assignments as { assignments: Array<{ name: string }> }).assignments.map((a) => a.name);
		expect(names).toEqual(['connectionId', 'status', 'refreshed', 'expiresAt', 'expires_in']);
	});

	it("keep no successful production run when a node's output holds an access token (Get Valid Token, Refresh Token)", () => {
		const carryingTokens = workflows.filter(({ workflow }) =>
			workflow.nodes.some((n) => n.type === 'n8n-nodes-oauth2-token-manager.oAuth2TokenManager' && ['getValidToken', 'refreshToken'].includes(n.parameters.operation as string)),
		);
		expect(carryingTokens.map(({ file }) => file)).toEqual(['2-call-api-with-valid-token.json', '3-refresh-on-request.json']);
		for (const { file, workflow } of carryingTokens) expect({ file, saved: workflow.settings.saveDataSuccessExecution }).toEqual({ file, saved: 'none' });
	});

	// n8n 2.x's `import:workflow --input=<file>` stores no workflow without an id; a credential id of null makes n8n
	// 1.x's import print a dependency-index error, and n8n 2.x's editor then flags no missing credential. An id n8n does
	// not know is linked by name on import (scripts/n8n/stack.ts, credentialReference).
	it('carry a workflow id of their own and give every credential reference a placeholder id, one for each name', () => {
		expect(new Set(workflows.map(({ workflow }) => workflow.id)).size).toBe(workflows.length);
		for (const { file, workflow } of workflows) expect({ file, id: typeof workflow.id === 'string' && workflow.id.length > 0 }).toEqual({ file, id: true });
		const idOf = new Map<string, Set<unknown>>();
		for (const { workflow } of workflows) {
			for (const ref of workflow.nodes.flatMap((n) => Object.values(n.credentials ?? {}))) idOf.set(ref.name, (idOf.get(ref.name) ?? new Set()).add(ref.id));
		}
		const ids = [...idOf].map(([name, set]) => ({ name, ids: [...set] }));
		for (const { name, ids: [id, ...others] } of ids) expect({ name, id: typeof id === 'string' && id.length > 0, others }).toEqual({ name, id: true, others: [] });
		expect(new Set(ids.map(({ ids: [id] }) => id)).size).toBe(ids.length);
	});

	it("name every credential their nodes use in the sticky note's checklist, with its type as n8n's editor shows it", () => {
		const typeNames: Record<string, string> = { httpHeaderAuth: 'Header Auth', httpBasicAuth: 'Basic Auth' };
		for (const type of [OAuth2TokenManagerAppApi, OAuth2TokenManagerSupabaseApi, OAuth2TokenManagerPostgresApi, OAuth2TokenManagerMySqlApi, OAuth2TokenManagerEmbeddedApi]) {
			const credential = new type();
			typeNames[credential.name] = credential.displayName;
		}
		for (const { file, workflow } of workflows) {
			const note = String(workflow.nodes.find((n) => n.type === 'n8n-nodes-base.stickyNote')!.parameters.content);
			const used = new Map(workflow.nodes.flatMap((n) => Object.entries(n.credentials ?? {}).map(([type, { name }]) => [name, type] as const)));
			for (const [name, type] of used) expect({ file, named: note.includes(`*${name}* (${typeNames[type]}`) ? `*${name}* (${typeNames[type]}` : note }).toEqual({ file, named: `*${name}* (${typeNames[type]}` });
		}
	});
});

/** A node parameter's n8n expression ("={{ … }}") as a function of $json: these use plain JavaScript only. */
function expressionOf(value: unknown): ($json: unknown) => unknown {
	const match = /^=\{\{([\s\S]*)\}\}$/.exec(String(value));
	if (!match) throw new Error(`not an expression: ${String(value)}`);
	return new Function('$json', `return (${match[1]});`) as ($json: unknown) => unknown;
}

describe('workflow 2 answers its caller', () => {
	const workflow = workflows.find(({ file }) => file === '2-call-api-with-valid-token.json')!.workflow;
	const node = (name: string) => workflow.nodes.find((n) => n.name === name)!;
	const next = (name: string, output: number) => (workflow.connections[name]?.main?.[output] ?? []).map((link) => link.node);

	it('through Respond to Webhook nodes: the result on success, the error answer from every token and API node that fails', () => {
		expect(node('Call Webhook').parameters.responseMode).toBe('responseNode');
		expect(next('Result', 0)).toEqual(['Respond with Result']);
		expect(node('Respond with Result').parameters).toEqual({ respondWith: 'firstIncomingItem', options: {} });
		const failing = workflow.nodes.filter((n) => ['n8n-nodes-oauth2-token-manager.oAuth2TokenManager', 'n8n-nodes-base.httpRequest'].includes(n.type));
		expect(failing.map((n) => n.name).sort()).toEqual(['Call Pipedrive API', 'Get Valid Token', 'Refresh Token (Failed Token)', 'Retry Once']);
		for (const n of failing) expect({ node: n.name, onError: n.onError, errorOutput: next(n.name, 1) }).toEqual({ node: n.name, onError: 'continueErrorOutput', errorOutput: ['Error Answer'] });
		expect(next('Error Answer', 0)).toEqual(['Respond with Error']);
		expect(node('Respond with Error').parameters.respondWith).toBe('firstIncomingItem');
	});

	it("answers each of the engine's error codes with its HTTP status", () => {
		const status = expressionOf((node('Respond with Error').parameters.options as { responseCode: string }).responseCode);
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
			[new TokenEndpointError('busy', { error: 'temporarily_unavailable', httpStatus: 503 }).code, 503],
			['api_error', 502],
			[new AppMismatchError('c', 'app A', 'app B').code, 500],
			[new DecryptionError('wrong key').code, 500],
			[new VersionConflictError('c', 1).code, 500],
			['error', 500],
		];
		expect(cases.map(([code]) => [code, statusOf(code)])).toEqual(cases);
	});

	it('builds the error answer from the failed item without its token: a token node item, or an API call item', () => {
		const answer = expressionOf((node('Error Answer').parameters.assignments as { assignments: Array<{ name: string; value: string }> }).assignments.find((a) => a.name === 'error')!.value);
		const tokenNodeItem = {
			error: 'Connection "c" must be re-authorized: refused',
			details: { description: 'Send the account owner through the authorization flow again', code: 'needs_reauth', reauthorizationUrl: 'https://provider/authorize?state=s' },
			connectionId: 'c',
		};
		expect(JSON.parse(JSON.stringify(answer(tokenNodeItem)))).toEqual({
			code: 'needs_reauth',
			message: tokenNodeItem.error,
			description: tokenNodeItem.details.description,
			reauthorizationUrl: tokenNodeItem.details.reauthorizationUrl,
		});
		// n8n puts the failed node's input (here Get Valid Token's output) beside the error of an HTTP Request node
		const apiItem = {
			error: { message: 'Request failed with status code 401', config: { headers: { Authorization: 'Bearer SENTINEL-token' } } },
			access_token: 'SENTINEL-token',
		};
		expect(answer(apiItem)).toEqual({ code: 'api_error', message: 'The API call failed: Request failed with status code 401' });
	});
});

describe('workflow 4 keeps connections alive and alerts on the ones in trouble', () => {
	const { workflow } = workflows.find(({ file }) => file === '4-keep-alive-and-alerts.json')!;
	const node = (name: string) => workflow.nodes.find((n) => n.name === name)!;
	const next = (name: string) => (workflow.connections[name]?.main?.[0] ?? []).map((link) => link.node);
	const settings = Object.fromEntries(
		(node('Settings').parameters.assignments as { assignments: Array<{ name: string; value: unknown }> }).assignments.map((a) => [a.name, a.value]),
	);

	it('Schedule Trigger → Settings → Keep Alive → the connections in new trouble → the alert', () => {
		const trigger = workflow.nodes.find((n) => n.type === 'n8n-nodes-base.scheduleTrigger')!;
		expect([next(trigger.name), next('Settings'), next('Keep Alive'), next('New Trouble Only')]).toEqual([['Settings'], ['Keep Alive'], ['New Trouble Only'], ['Send Alert']]);
		expect(node('Keep Alive').parameters).toMatchObject({ operation: 'keepAlive', expiresWithinSeconds: '={{ $json.expiresWithinSeconds }}', idleAfterDays: '={{ $json.idleAfterDays }}' });
		// Pipedrive's refresh tokens die after 60 days unused; the sweep runs every 15 minutes
		expect(settings.idleAfterDays).toBeLessThan(60);
		expect(settings.expiresWithinSeconds).toBeGreaterThan(15 * 60);
	});

	it('alerts each connection once per state that needs a human (failed, failing, needs_reauth), across runs; a success clears it', () => {
		const { jsCode } = node('New Trouble Only').parameters as { jsCode: string };
		const staticData: Record<string, unknown> = {};
		// The Code node's program, with what n8n gives it: the items and the workflow's static data (kept between runs).
		const run = (items: Array<{ connectionId: string; outcome: string; status: string }>) =>
			(new Function('$input', '$getWorkflowStaticData', jsCode)({ all: () => items.map((json) => ({ json })) }, () => staticData) as Array<{ json: { connectionId: string; status: string } }>).map(
				({ json }) => `${json.connectionId}:${json.status}`,
			);
		const item = (connectionId: string, outcome: string, status = 'active') => ({ connectionId, outcome, status });

		expect(run([item('a', 'failed'), item('b', 'refreshed'), item('c', 'cooldown'), item('d', 'needs_reauth', 'needs_reauth'), item('e', 'revoked', 'revoked')])).toEqual(['a:active', 'd:needs_reauth']);
		// Every 15 minutes the same trouble: nothing new to say.
		expect(run([item('a', 'cooldown'), item('b', 'skipped_fresh'), item('c', 'cooldown')])).toEqual([]);
		expect(run([item('a', 'failed'), item('c', 'cooldown')])).toEqual([]);
		// Worse: failing for longer than the failing period (here seen in a cooldown) is a new state.
		expect(run([item('a', 'cooldown', 'failing'), item('c', 'failed', 'failing')])).toEqual(['a:failing', 'c:failing']);
		expect(run([item('a', 'failed', 'failing'), item('c', 'cooldown', 'failing')])).toEqual([]);
		// A success forgets it: the next failure is reported again.
		expect(run([item('a', 'refreshed')])).toEqual([]);
		expect(run([item('a', 'failed')])).toEqual(['a:active']);
		// Ids are keys of their own, whatever they look like.
		expect(run([item('__proto__', 'failed'), item('constructor', 'failed')])).toEqual(['__proto__:active', 'constructor:active']);
	});

	it('posts each to the configured endpoint with a header credential of its own: the link for the owner, never a token', () => {
		const alert = node('Send Alert');
		expect(alert.parameters).toMatchObject({ method: 'POST', url: "={{ $('Settings').first().json.notificationUrl }}", authentication: 'genericCredentialType', genericAuthType: 'httpHeaderAuth' });
		const credential = alert.credentials?.httpHeaderAuth?.name;
		const otherCredentials = workflows.flatMap(({ file, workflow: other }) =>
			file === '4-keep-alive-and-alerts.json' ? [] : other.nodes.flatMap((n) => Object.values(n.credentials ?? {}).map((c) => c.name)),
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
