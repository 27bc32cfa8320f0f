'use strict';
/*
 * End to end: a real n8n (the pinned version, Node 24) with this package installed as a community package, the
 * bundled workflows published (workflow 4, on a schedule, by its own test), and the Pipedrive-like sandbox as the provider. Run with `npm run test:e2e`
 * (it builds, installs n8n if needed, then runs this file with jest.e2e.config.js).
 */
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { openEditor } = require('../../tools/n8n/editor');
const { freePort } = require('../../tools/n8n/instance');
const { readWorkflow, startStack } = require('../../tools/n8n/stack');
const { sleep } = require('../../tools/sleep');

const EXPIRES_IN = 20; // seconds an access token lives at the sandbox
const MIN_VALIDITY = 5; // API Request (workflow 2) refreshes when fewer seconds remain

let stack;
let userFolder;
const grantOf = {}; // connection id -> sandbox grant id
const tokenExpiry = {}; // connection id -> expires_at of the token the last call used

function log(line) {
	if (process.env.E2E_VERBOSE) process.stderr.write(`${line}\n`);
}

async function call(connectionId) {
	const res = await stack.call(connectionId);
	expect(res.status).toBe(200);
	expect(res.body).toMatchObject({ connectionId, statusCode: 200 });
	tokenExpiry[connectionId] = Date.parse(res.body.tokenExpiresAt);
	return res.body;
}

/** The trigger of a workflow a test builds: a webhook (no authentication: test-only) that answers with the last node's item. */
function testWebhook(idPrefix, webhookPath) {
	return {
		id: `${idPrefix}-0000-4000-8000-000000000001`,
		name: 'Webhook',
		type: 'n8n-nodes-base.webhook',
		typeVersion: 2.1,
		position: [0, 0],
		webhookId: `${idPrefix}-0000-4000-8000-0000000000aa`,
		parameters: { path: webhookPath, responseMode: 'lastNode', options: {} },
	};
}

/** Sleeps until the access token the connection last used has really expired (at the sandbox too). */
async function untilExpired(...connectionIds) {
	const latest = Math.max(...connectionIds.map((id) => tokenExpiry[id]));
	const wait = latest - Date.now() + 700;
	log(`waiting ${wait} ms for the access token to expire`);
	if (wait > 0) await sleep(wait);
}

beforeAll(
	async () => {
		userFolder = fs.mkdtempSync(path.join(os.tmpdir(), 'oauth2tm-e2e-'));
		stack = await startStack({
			userFolder,
			expiresIn: EXPIRES_IN,
			minValiditySeconds: MIN_VALIDITY,
			tokenDelayMs: 150, // a slow token endpoint widens any race between executions
			log,
		});
		log(`n8n ${stack.n8n.url} started in ${stack.n8n.startMs} ms`);
	},
	15 * 60 * 1000,
);

afterAll(async () => {
	if (stack) await stack.stop();
	if (userFolder && !process.env.E2E_KEEP) fs.rmSync(userFolder, { recursive: true, force: true });
}, 60 * 1000);

test('workflow 1 connects two connection ids one after the other; each keeps its own account', async () => {
	const acme = await stack.connect('pipedrive:acme', { user: 'alice' });
	expect(acme.status).toBe(200);
	expect(acme.html).toContain('Connected');
	const globex = await stack.connect('pipedrive:globex', { user: 'bob' });
	expect(globex.status).toBe(200);
	expect(stack.sandbox.stats().tokenRequests.authorization_code).toBe(2);

	const a = await call('pipedrive:acme');
	const b = await call('pipedrive:globex');
	expect(a.user.name).toBe('alice');
	expect(b.user.name).toBe('bob');
	for (const g of stack.sandbox.grants()) {
		if (g.userName === 'alice') grantOf['pipedrive:acme'] = g.grantId;
		if (g.userName === 'bob') grantOf['pipedrive:globex'] = g.grantId;
	}
	expect(stack.sandbox.stats().failedApiCalls).toBe(0);
});

test('workflow 1 refuses a declined consent, a replayed callback, a tampered state and a start without its auth', async () => {
	const before = stack.sandbox.stats().tokenRequests.total;
	const declined = await stack.connect('pipedrive:declined', { deny: true });
	expect(declined.status).toBe(400);
	expect(declined.html).toContain('declined');
	expect(stack.sandbox.stats().tokenRequests.total).toBe(before); // nothing exchanged

	const ok = await stack.connect('pipedrive:initech', { user: 'carol' });
	expect(ok.status).toBe(200);
	const replay = await fetch(ok.callbackUrl, { redirect: 'manual' });
	expect(replay.status).toBe(400); // the state works once

	const fresh = await fetch(`${stack.startUrl}?connectionId=pipedrive:initech`, {
		redirect: 'manual',
		headers: {
			authorization: `Basic ${Buffer.from(`${stack.basicAuth.user}:${stack.basicAuth.password}`).toString('base64')}`,
		},
	});
	const state = new URL(fresh.headers.get('location')).searchParams.get('state');
	const tampered = `${stack.callbackUrl}?code=anything&state=${encodeURIComponent(state.slice(0, -2) + (state.endsWith('A') ? 'BB' : 'AA'))}`;
	const refused = await fetch(tampered, { redirect: 'manual' });
	expect(refused.status).toBe(400);

	const noAuth = await fetch(`${stack.startUrl}?connectionId=pipedrive:initech`, {
		redirect: 'manual',
	});
	expect([401, 403]).toContain(noAuth.status);
	expect(stack.sandbox.stats().tokenRequests.total).toBe(before + 1); // only the one good exchange
});

test('workflow 2 refuses a call without its header auth or with a wrong one: no token, no API call, no profile', async () => {
	stack.sandbox.reset();
	const refused = await stack.call('pipedrive:acme', { auth: false });
	expect([401, 403]).toContain(refused.status);
	const wrong = await stack.client.webhook(stack.workflows.call.path, {
		query: { connectionId: 'pipedrive:acme' },
		headers: { [stack.callAuth.name]: 'not-the-key' },
	});
	expect([401, 403]).toContain(wrong.status);
	// Workflow 3's key does not open workflow 2: each webhook has its own credential.
	const otherKey = await stack.client.webhook(stack.workflows.call.path, {
		query: { connectionId: 'pipedrive:acme' },
		headers: {
			[stack.callAuth.name]: stack.headerAuth.value,
			[stack.headerAuth.name]: stack.headerAuth.value,
		},
	});
	expect([401, 403]).toContain(otherKey.status);
	for (const res of [refused, wrong, otherKey])
		expect(res.text).not.toMatch(/alice|access_token|connectionId/);
	const s = stack.sandbox.stats();
	expect(s.apiCalls).toBe(0);
	expect(s.tokenRequests.total).toBe(0);
	expect((await call('pipedrive:acme')).user.name).toBe('alice');
});

test(
	'workflow 2 across 3 expiries: 0 failed API calls, one refresh per expiry crossed, both connections',
	async () => {
		stack.sandbox.reset();
		const ids = ['pipedrive:acme', 'pipedrive:globex'];
		const expiries = 3;
		for (let phase = 1; phase <= expiries; phase++) {
			await untilExpired(...ids);
			for (let i = 0; i < 3; i++) {
				for (const id of ids) {
					const body = await call(id);
					expect(body.retriedAfter401).toBe(false);
					expect(body.tokenRefreshedBeforeCall).toBe(i === 0);
				}
			}
			const s = stack.sandbox.stats();
			expect(s.refreshesByGrant[grantOf['pipedrive:acme']]).toBe(phase);
			expect(s.refreshesByGrant[grantOf['pipedrive:globex']]).toBe(phase);
		}
		const s = stack.sandbox.stats();
		expect(s.failedApiCalls).toBe(0);
		expect(s.apiCalls).toBe(expiries * 3 * ids.length);
		expect(s.tokenRequests).toMatchObject({
			refresh_token: expiries * ids.length,
			authorization_code: 0,
			failed: 0,
		});
	},
	5 * 60 * 1000,
);

test(
	'10 parallel executions of workflow 2 just after expiry make exactly 1 token request',
	async () => {
		await untilExpired('pipedrive:acme');
		stack.sandbox.reset();
		const results = await Promise.all(
			Array.from({ length: 10 }, () => stack.call('pipedrive:acme')),
		);
		for (const r of results) {
			expect(r.status).toBe(200);
			expect(r.body).toMatchObject({
				connectionId: 'pipedrive:acme',
				statusCode: 200,
				retriedAfter401: false,
			});
			expect(r.body.user.name).toBe('alice');
		}
		const s = stack.sandbox.stats();
		expect(s.tokenRequests.total).toBe(1);
		expect(s.tokenRequests.refresh_token).toBe(1);
		expect(s.apiCalls).toBe(10);
		expect(s.failedApiCalls).toBe(0);
	},
	2 * 60 * 1000,
);

test(
	'API Request on a token the provider drops early: 401 → one refresh with the failed token → one retry; 5 executions, 1 refresh',
	async () => {
		await call('pipedrive:acme'); // a fresh, stored token
		stack.sandbox.expireAccessTokens(); // the provider drops it before its expiry
		stack.sandbox.reset();
		const results = await Promise.all(
			Array.from({ length: 5 }, () => stack.call('pipedrive:acme')),
		);
		for (const r of results) {
			expect(r.status).toBe(200);
			expect(r.body).toMatchObject({ statusCode: 200 });
		}
		// an execution that read the token before the first refresh was stored got 401 and retried once; one that
		// started later got the new token straight away
		const retried = results.filter((r) => r.body.retriedAfter401).length;
		expect(retried).toBeGreaterThanOrEqual(1);
		const s = stack.sandbox.stats();
		expect(s.failedApiCalls).toBe(retried); // one 401 per retried execution, never a second
		expect(s.apiCalls).toBe(5 + retried);
		expect(s.tokenRequests.refresh_token).toBe(1); // "refresh if stale": the other executions reuse the new token
		// the connection is healthy again without a retry
		expect((await call('pipedrive:acme')).retriedAfter401).toBe(false);
	},
	2 * 60 * 1000,
);

test('workflow 3 refuses a request without its header auth, and answers status and expiry (never a token) with it', async () => {
	stack.sandbox.reset();
	const refused = await stack.refresh('pipedrive:globex', { auth: false });
	expect([401, 403]).toContain(refused.status);
	const wrong = await stack.client.webhook(stack.workflows.refresh.path, {
		method: 'POST',
		body: { connectionId: 'pipedrive:globex' },
		headers: { [stack.headerAuth.name]: 'not-the-key' },
	});
	expect([401, 403]).toContain(wrong.status);
	expect(stack.sandbox.stats().tokenRequests.total).toBe(0);

	const ok = await stack.refresh('pipedrive:globex');
	expect(ok.status).toBe(200);
	expect(ok.body).toMatchObject({
		connectionId: 'pipedrive:globex',
		status: 'active',
		refreshed: true,
	});
	expect(ok.body.expires_in).toBeGreaterThan(EXPIRES_IN - 5);
	expect(Object.keys(ok.body).sort()).toEqual([
		'connectionId',
		'expiresAt',
		'expires_in',
		'refreshed',
		'status',
	]);
	expect(ok.text).not.toMatch(/access_token|refresh_token/);
	expect(stack.sandbox.stats().tokenRequests.refresh_token).toBe(1);

	// "refresh if stale": a failed token that is no longer the stored one costs no token request
	const stale = await stack.refresh('pipedrive:globex', { failedAccessToken: 'an-old-token' });
	expect(stale.status).toBe(200);
	expect(stale.body.refreshed).toBe(false);
	expect(stack.sandbox.stats().tokenRequests.refresh_token).toBe(1);
	expect((await call('pipedrive:globex')).user.name).toBe('bob');
});

test('workflow 3 also runs as a sub-workflow (Execute Workflow Trigger) from another workflow', async () => {
	const caller = await stack.client.createWorkflow({
		name: 'e2e: calls workflow 3',
		nodes: [
			testWebhook('9d1c0b6e', 'e2e/sub-refresh'),
			{
				id: '9d1c0b6e-0000-4000-8000-000000000002',
				name: 'Refresh via Workflow 3',
				type: 'n8n-nodes-base.executeWorkflow',
				typeVersion: 1.2,
				position: [240, 0],
				parameters: {
					source: 'database',
					workflowId: { __rl: true, mode: 'id', value: stack.workflows.refresh.id },
					workflowInputs: {
						mappingMode: 'defineBelow',
						value: { connectionId: '={{ $json.query.connectionId }}', failedAccessToken: '' },
						matchingColumns: [],
						schema: ['connectionId', 'failedAccessToken'].map((id) => ({
							id,
							displayName: id,
							required: false,
							defaultMatch: false,
							display: true,
							canBeUsedToMatch: true,
							type: 'string',
						})),
						attemptToConvertTypes: false,
						convertFieldsToString: true,
					},
					options: {},
				},
			},
		],
		connections: {
			Webhook: { main: [[{ node: 'Refresh via Workflow 3', type: 'main', index: 0 }]] },
		},
		settings: { executionOrder: 'v1' },
	});
	await stack.client.publishWorkflow(caller.id);
	await stack.client.waitForWebhook('e2e/sub-refresh');
	stack.sandbox.reset();
	const res = await stack.client.webhook('e2e/sub-refresh', {
		query: { connectionId: 'pipedrive:acme' },
	});
	expect(res.status).toBe(200);
	expect(res.body).toMatchObject({
		connectionId: 'pipedrive:acme',
		status: 'active',
		refreshed: true,
	});
	expect(res.text).not.toMatch(/access_token|refresh_token/);
	expect(stack.sandbox.stats().tokenRequests.refresh_token).toBe(1);
	expect((await call('pipedrive:acme')).user.name).toBe('alice');
});

test('On Error "continue (using error output)": a failed item reaches the error branch with its code and description', async () => {
	const token = readWorkflow('call').nodes.find((n) => n.name === 'Call Pipedrive API');
	const noOp = (name, x) => ({
		id: `7e2f4a10-0000-4000-8000-00000000000${x}`,
		name,
		type: 'n8n-nodes-base.noOp',
		typeVersion: 1,
		position: [480, x * 100],
		parameters: {},
	});
	const workflow = await stack.client.createWorkflow({
		name: 'e2e: error output',
		nodes: [
			testWebhook('7e2f4a10', 'e2e/error-output'),
			{
				...token,
				id: '7e2f4a10-0000-4000-8000-000000000002',
				position: [240, 0],
				onError: 'continueErrorOutput',
				parameters: {
					...token.parameters,
					connectionId: { __rl: true, mode: 'id', value: 'pipedrive:never-connected' },
					minValiditySeconds: 300,
				},
			},
			noOp('Got a token', 3),
			noOp('Failed', 4),
		],
		connections: {
			Webhook: { main: [[{ node: token.name, type: 'main', index: 0 }]] },
			[token.name]: {
				main: [
					[{ node: 'Got a token', type: 'main', index: 0 }],
					[{ node: 'Failed', type: 'main', index: 0 }],
				],
			},
		},
		settings: { executionOrder: 'v1' },
	});
	await stack.client.publishWorkflow(workflow.id);
	await stack.client.waitForWebhook('e2e/error-output');
	const res = await stack.client.webhook('e2e/error-output');
	expect(res.status).toBe(200);
	// n8n adds the input item's fields (the webhook request) to an item it routes to the error output.
	expect(res.body).toMatchObject({
		error: expect.stringMatching(/^No connection "pipedrive:never-connected" in /),
		details: {
			code: 'connection_not_found',
			description: expect.stringMatching(/Build Authorization URL/),
		},
	});
});

test('many items in one execution: API Request over 31 items on three connection ids answers each in place, one call each', async () => {
	const token = readWorkflow('call').nodes.find((n) => n.name === 'Call Pipedrive API');
	const ids = Array.from({ length: 30 }, (_, i) => (i % 2 ? 'pipedrive:globex' : 'pipedrive:acme'));
	ids.splice(7, 0, 'pipedrive:never-connected');
	const code = (x, name, jsCode) => ({
		id: `5c3b2a10-0000-4000-8000-00000000000${x}`,
		name,
		type: 'n8n-nodes-base.code',
		typeVersion: 2,
		position: [x * 220, 0],
		parameters: { jsCode },
	});
	const workflow = await stack.client.createWorkflow({
		name: 'e2e: many items',
		nodes: [
			testWebhook('5c3b2a10', 'e2e/many-items'),
			code(
				2,
				'Items',
				`return ${JSON.stringify(ids)}.map((connectionId) => ({ json: { connectionId } }));`,
			),
			{
				...token,
				id: '5c3b2a10-0000-4000-8000-000000000003',
				position: [660, 0],
				onError: 'continueRegularOutput',
				parameters: {
					...token.parameters,
					connectionId: { __rl: true, mode: 'field', value: 'connectionId' },
					apiOptions: { connectionStatus: true },
				},
			},
			code(
				4,
				'Summary',
				`const all = $input.all();
return [{ json: {
	paired: all.map((item) => item.pairedItem.item),
	users: all.map((item) => item.json.body?.data?.name ?? null),
	errors: all.flatMap((item, k) => item.json.error ? [{ k, code: item.json.details.code, connectionId: item.json.details.connectionId }] : []),
} }];`,
			),
		],
		connections: {
			Webhook: { main: [[{ node: 'Items', type: 'main', index: 0 }]] },
			Items: { main: [[{ node: token.name, type: 'main', index: 0 }]] },
			[token.name]: { main: [[{ node: 'Summary', type: 'main', index: 0 }]] },
		},
		settings: { executionOrder: 'v1' },
	});
	await stack.client.publishWorkflow(workflow.id);
	await stack.client.waitForWebhook('e2e/many-items');
	stack.sandbox.reset();
	const res = await stack.client.webhook('e2e/many-items');
	expect(res.status).toBe(200);
	const names = {
		'pipedrive:acme': 'alice',
		'pipedrive:globex': 'bob',
		'pipedrive:never-connected': null,
	};
	expect(res.body).toEqual({
		paired: ids.map((_, i) => i),
		users: ids.map((id) => names[id]),
		errors: [{ k: 7, code: 'connection_not_found', connectionId: 'pipedrive:never-connected' }],
	});
	const s = stack.sandbox.stats();
	expect(s.apiCalls).toBe(30);
	expect(s.failedApiCalls).toBe(0);
	// A token near its expiry is refreshed once for all the items on its connection.
	expect(s.tokenRequests.refresh_token).toBeLessThanOrEqual(2);
	expect(res.text).not.toMatch(/SENTINEL|access_token|refresh_token/);
});

test(
	'a new user sets the node up in the editor (headless Chromium): the embedded store by default, the credentials picked, Get Valid Token',
	async () => {
		// a second App and a store of another kind, so each list has to offer its own kind and the right one be picked
		await stack.client.createCredential({
			name: 'Another OAuth app',
			type: 'oAuth2TokenManagerAppApi',
			data: {
				preset: 'pipedrive',
				clientId: 'another-client',
				clientSecret: 'another-secret',
				redirectUri: stack.callbackUrl,
			},
		});
		await stack.client.createCredential({
			name: 'PostgreSQL token store',
			type: 'oAuth2TokenManagerPostgresApi',
			data: {
				host: '127.0.0.1',
				database: 'postgres',
				user: 'postgres',
				port: 5432,
				encryptionKey: 'an-encryption-key-of-32-characters',
			},
		});
		const connected = await stack.connect('pipedrive:editor', { user: 'dave' });
		expect(connected.status).toBe(200);
		const { app, store } = stack.credentialNames;

		const editor = await openEditor(stack);
		try {
			await editor.addNodeToNewWorkflow('OAuth2 Token Manager', 'Get a valid access token');
			// a new node starts on the embedded store, which needs nothing set up
			expect(await editor.credentialLabels()).toEqual([
				'OAuth App',
				'Embedded (SQLite) Token Storage',
			]);
			expect(await editor.parameterLabels()).toEqual([
				'Storage',
				'Operation',
				'Connection ID',
				'Minimum Validity (Seconds)',
			]);
			expect(await editor.optionShown('storage')).toBe('Embedded (SQLite)');
			// n8n 2.41 fills one slot of a new node: with the credential saved last among the slots shown (here the
			// second App, created above); the embedded slot then offers its only credential
			expect(await editor.selectedCredential('OAuth App')).toBe('Another OAuth app');
			expect(await editor.selectedCredential('Embedded (SQLite) Token Storage')).toBe(
				'Select Credential',
			);
			expect(await editor.credentialChoices('Embedded (SQLite) Token Storage')).toEqual([store]);
			await editor.pickCredential(store);
			expect(await editor.selectedCredential('Embedded (SQLite) Token Storage')).toBe(store);

			expect((await editor.credentialChoices('OAuth App')).sort()).toEqual([
				'Another OAuth app',
				app,
			]);
			await editor.pickCredential(app);
			expect(await editor.selectedCredential('OAuth App')).toBe(app);
			expect(await editor.selectedCredential('Embedded (SQLite) Token Storage')).toBe(store);
			expect(await editor.optionShown('storage')).toBe('Embedded (SQLite)');

			// another store shows its own slot; back on the embedded store, its credential is still the one picked
			expect(await editor.chooseOption('storage', 'PostgreSQL')).toEqual([
				'Embedded (SQLite)',
				'MySQL',
				'PostgreSQL',
				'Supabase',
			]);
			expect(await editor.credentialLabels()).toEqual(['OAuth App', 'PostgreSQL Token Storage']);
			await editor.chooseOption('storage', 'Embedded (SQLite)');
			expect(await editor.credentialLabels()).toEqual([
				'OAuth App',
				'Embedded (SQLite) Token Storage',
			]);
			expect(await editor.selectedCredential('Embedded (SQLite) Token Storage')).toBe(store);

			// the Connection ID's list: the store's connections with their status, searched by ID
			// searched anywhere in the ID: "editor" finds "pipedrive:editor"
			const listed = await editor.pickFromList(
				'connectionId',
				'editor',
				'pipedrive:editor (active)',
			);
			expect(listed).toEqual(['pipedrive:editor (active)']);
			const output = await editor.executeStep();
			expect(output).toMatchObject({
				connectionId: 'pipedrive:editor',
				status: 'active',
				token_type: 'Bearer',
			});
			// a node added today runs the current version: the node's own fields in camelCase
			expect(Object.keys(output)).toEqual(
				expect.arrayContaining(['expiresAt', 'refreshCount', 'minValiditySeconds']),
			);
			expect(Object.keys(output).filter((key) => /_at$|_count$|^min_validity/.test(key))).toEqual(
				[],
			);
			// the token the editor shows is one the provider accepts, for the account connected above
			const me = await fetch(`${stack.sandbox.url}/api/v1/users/me`, {
				headers: { authorization: `Bearer ${output.access_token}` },
			});
			expect(me.status).toBe(200);
			expect((await me.json()).data.name).toBe('dave');
		} catch (err) {
			const picture = path.join(os.tmpdir(), `oauth2tm-e2e-editor-failure-${process.pid}.png`);
			await editor.screenshot(picture).catch(() => undefined);
			process.stderr.write(`the editor at the failure: ${picture}\n`);
			throw err;
		} finally {
			await editor.close();
		}
	},
	3 * 60 * 1000,
);

test(
	'in the editor (headless Chromium) the Connection ID is set From Input Field: saved as that mode, run on an item carrying the field',
	async () => {
		const connected = await stack.connect('pipedrive:field', { user: 'frank' });
		expect(connected.status).toBe(200);
		const { app, store } = stack.credentialNames;

		const editor = await openEditor(stack);
		let node;
		try {
			await editor.addNodeToNewWorkflow('OAuth2 Token Manager', 'Get a valid access token');
			await editor.credentialChoices('OAuth App');
			await editor.pickCredential(app);
			await editor.credentialChoices('Embedded (SQLite) Token Storage');
			await editor.pickCredential(store);
			// n8n names its standard modes itself ("From list"), the node's own mode by its display name
			expect(await editor.chooseMode('connectionId', 'From Input Field')).toEqual([
				'From list',
				'By ID',
				'From Input Field',
			]);
			await editor.fillLocator('connectionId', 'query.connectionId');
			expect(await editor.locatorShown('connectionId')).toEqual({
				mode: 'From Input Field',
				value: 'query.connectionId',
			});
			const workflowId = await editor.saveWorkflow();
			// on the canvas the node, its Connection ID given, shows no issue
			expect(await editor.nodesWithIssues()).toEqual([]);
			// n8n's autosave stores the workflow a moment after the last change
			for (const until = Date.now() + 30000; Date.now() < until; await sleep(500)) {
				const saved = await stack.client.getWorkflow(workflowId).catch(() => null);
				node = saved?.nodes.find((n) => n.type.endsWith('.oAuth2TokenManager'));
				if (node?.parameters.connectionId?.mode === 'field') break;
			}
		} catch (err) {
			const picture = path.join(
				os.tmpdir(),
				`oauth2tm-e2e-editor-field-failure-${process.pid}.png`,
			);
			await editor.screenshot(picture).catch(() => undefined);
			process.stderr.write(`the editor at the failure: ${picture}\n`);
			throw err;
		} finally {
			await editor.close();
		}

		expect(node.parameters.connectionId).toEqual({
			__rl: true,
			mode: 'field',
			value: 'query.connectionId',
		});

		// the node as the editor saved it, behind a webhook whose item holds the ID in query.connectionId
		const workflow = await stack.client.createWorkflow({
			name: 'e2e: Connection ID from an input field, set in the editor',
			nodes: [testWebhook('6d4c3b21', 'e2e/editor-field'), { ...node, position: [220, 0] }],
			connections: { Webhook: { main: [[{ node: node.name, type: 'main', index: 0 }]] } },
			settings: { executionOrder: 'v1' },
		});
		await stack.client.publishWorkflow(workflow.id);
		await stack.client.waitForWebhook('e2e/editor-field');
		const res = await stack.client.webhook('e2e/editor-field', {
			query: { connectionId: 'pipedrive:field' },
		});
		expect(res.status).toBe(200);
		expect(res.body).toMatchObject({ connectionId: 'pipedrive:field', status: 'active' });
		// the token is one the provider accepts, for the account connected under that ID
		const me = await fetch(`${stack.sandbox.url}/api/v1/users/me`, {
			headers: { authorization: `Bearer ${res.body.access_token}` },
		});
		expect(me.status).toBe(200);
		expect((await me.json()).data.name).toBe('frank');
		await stack.client.unpublishWorkflow(workflow.id);
	},
	3 * 60 * 1000,
);

test("workflow 2 saves no successful production run: its data holds the account's API data", async () => {
	const connected = await stack.connect('pipedrive:saved', { user: 'erin' });
	expect(connected.status).toBe(200);
	for (let i = 0; i < 2; i++) expect((await call('pipedrive:saved')).user.name).toBe('erin');
	const { data } = await stack.client.listExecutions({ workflowId: stack.workflows.call.id });
	expect(data.filter((e) => e.status === 'success')).toEqual([]);
	// workflow 1 keeps its runs (they hold no token), so executions are being saved on this n8n
	const connects = await stack.client.listExecutions({ workflowId: stack.workflows.connect.id });
	expect(connects.data.filter((e) => e.status === 'success').length).toBeGreaterThan(0);
});

/** The provider ends the grant of a connection made by stack.connect(): a replayed authorization code revokes what it produced (RFC 6749 §4.1.2). */
async function revokeGrantAtProvider(connected, user) {
	const replay = await fetch(stack.sandbox.tokenUrl, {
		method: 'POST',
		headers: {
			authorization: `Basic ${Buffer.from(`${stack.sandbox.clientId}:${stack.sandbox.clientSecret}`).toString('base64')}`,
			'content-type': 'application/x-www-form-urlencoded',
		},
		body: new URLSearchParams({
			grant_type: 'authorization_code',
			code: new URL(connected.callbackUrl).searchParams.get('code'),
			redirect_uri: stack.callbackUrl,
		}),
	});
	expect(replay.status).toBe(400);
	expect(stack.sandbox.grants().find((g) => g.userName === user).revoked).toBe(true);
}

/** Asserts workflow 2's error answer: JSON, the status, only the documented fields, and nothing token-shaped. */
function expectErrorAnswer(res, status, connectionId) {
	expect(res.status).toBe(status);
	expect(res.headers.get('content-type')).toMatch(/^application\/json/);
	expect(Object.keys(res.body).sort()).toEqual(['connectionId', 'error']);
	expect(res.body.connectionId).toBe(connectionId);
	for (const key of Object.keys(res.body.error))
		expect(['code', 'message', 'description', 'reauthorizationUrl']).toContain(key);
	expect(res.text).not.toMatch(/access_token|refresh_token|Bearer/i);
	// the sandbox's tokens are "<user id>:" or "<user id>:r:" and 32 base64url characters
	expect(res.text).not.toMatch(/(^|[^0-9.])\d+:(r:)?[A-Za-z0-9_-]{32}/);
	expect(res.text).not.toContain(stack.sandbox.clientSecret);
	expect(res.text).not.toContain(stack.callAuth.value);
}

test('workflow 2 answers an unknown connection with 404 and a JSON error naming it, asking the provider nothing', async () => {
	stack.sandbox.reset();
	const res = await stack.call('pipedrive:never-connected');
	expectErrorAnswer(res, 404, 'pipedrive:never-connected');
	expect(res.body.error).toEqual({
		code: 'connection_not_found',
		message: expect.stringMatching(/^No connection "pipedrive:never-connected" in /),
		description: expect.stringMatching(/Build Authorization URL/),
	});
	expect(stack.sandbox.stats()).toMatchObject({ apiCalls: 0, tokenRequests: { total: 0 } });
});

test('workflow 2 answers 400 to a call without a connection ID (no fallback), asking the provider nothing', async () => {
	stack.sandbox.reset();
	const res = await stack.client.webhook(stack.workflows.call.path, {
		headers: { [stack.callAuth.name]: stack.callAuth.value },
	});
	expect(res.status).toBe(400);
	expect(res.body).toEqual({
		connectionId: null,
		error: expect.objectContaining({
			code: 'invalid_input',
			message: expect.stringMatching(/Connection ID/),
		}),
	});
	expect(stack.sandbox.stats()).toMatchObject({ apiCalls: 0, tokenRequests: { total: 0 } });
});

test('workflow 2 answers 409 with a working re-authorization link when the provider revoked the grant', async () => {
	const connectionId = 'pipedrive:revoked';
	const connected = await stack.connect(connectionId, { user: 'grace' });
	expect(connected.status).toBe(200);
	expect((await call(connectionId)).user.name).toBe('grace');
	await revokeGrantAtProvider(connected, 'grace');
	stack.sandbox.expireAccessTokens(); // the API now answers 401, and the refresh is refused
	stack.sandbox.reset();

	const first = await stack.call(connectionId); // API Request: 401 → refresh with the failed token → invalid_grant
	const again = await stack.call(connectionId); // API Request reads the stored status: no token request
	for (const res of [first, again]) {
		expectErrorAnswer(res, 409, connectionId);
		expect(res.body.error).toMatchObject({
			code: 'needs_reauth',
			message: expect.stringMatching(/^Connection "pipedrive:revoked" must be re-authorized/),
			reauthorizationUrl: expect.stringMatching(
				new RegExp(`^${stack.sandbox.authorizationUrl}\\?`),
			),
		});
	}
	expect(stack.sandbox.stats().tokenRequests).toMatchObject({ total: 1, refresh_token: 1 });

	// the link in the answer brings the account back: consent, callback (workflow 1), and calls work again
	const link = new URL(again.body.error.reauthorizationUrl);
	link.searchParams.set('user', 'grace');
	const consent = await fetch(link, { redirect: 'manual' });
	expect(consent.status).toBe(302);
	const callback = await fetch(consent.headers.get('location'), { redirect: 'manual' });
	expect(callback.status).toBe(200);
	expect((await call(connectionId)).user.name).toBe('grace');
});

test('workflow 3 saves no successful production run: its Refresh Token output holds the access token', async () => {
	const ok = await stack.refresh('pipedrive:globex');
	expect(ok.status).toBe(200);
	expect(ok.body).toMatchObject({
		connectionId: 'pipedrive:globex',
		status: 'active',
		refreshed: true,
	});
	// earlier tests ran it over HTTP and as a sub-workflow as well
	const { data } = await stack.client.listExecutions({ workflowId: stack.workflows.refresh.id });
	expect(data.filter((e) => e.status === 'success')).toEqual([]);
});

/**
 * No token of any kind: no token field, none of the sandbox's tokens ("<user id>:" or "<user id>:r:" and 32 base64url
 * characters, as a JSON string of its own; an app fingerprint's "v1:<hash>" is none).
 */
function expectNoToken(text) {
	expect(text).not.toMatch(/access_token|refresh_token|accessToken|refreshToken/i);
	expect(text).not.toMatch(/"\d+:(r:)?[A-Za-z0-9_-]{32}"/);
}

test('List Connections and Get Connection run with the storage credential alone and output no token', async () => {
	const store = {
		oAuth2TokenManagerEmbeddedApi: {
			id: stack.credentials.store.id,
			name: stack.credentials.store.name,
		},
	};
	const readerWorkflow = async (prefix, webhookPath, parameters) => {
		const webhook = testWebhook(prefix, webhookPath);
		webhook.parameters.responseData = 'allEntries';
		const workflow = await stack.client.createWorkflow({
			name: `e2e: ${parameters.operation}`,
			nodes: [
				webhook,
				{
					id: `${prefix}-0000-4000-8000-000000000002`,
					name: 'Read Connections',
					type: 'n8n-nodes-oauth2-token-manager.oAuth2TokenManager',
					typeVersion: 1.2,
					position: [240, 0],
					parameters: { storage: 'embedded', ...parameters },
					credentials: store,
				},
			],
			connections: { Webhook: { main: [[{ node: 'Read Connections', type: 'main', index: 0 }]] } },
			settings: { executionOrder: 'v1' },
		});
		await stack.client.publishWorkflow(workflow.id);
		await stack.client.waitForWebhook(webhookPath);
	};
	await readerWorkflow('3c5a9e71', 'e2e/list-connections', {
		operation: 'listConnections',
		returnAll: true,
		filters: { idPrefix: 'pipedrive:' },
	});
	await readerWorkflow('3c5a9e72', 'e2e/get-connection', {
		operation: 'getConnection',
		connectionId: { __rl: true, mode: 'id', value: '={{ $json.query.connectionId }}' },
	});
	stack.sandbox.reset();

	const list = await stack.client.webhook('e2e/list-connections');
	expect(list.status).toBe(200);
	const ids = list.body.map((c) => c.connectionId);
	expect(ids).toEqual(expect.arrayContaining(['pipedrive:acme', 'pipedrive:globex']));
	expect(ids).toEqual([...ids].sort());
	for (const connection of list.body)
		expect(connection).toMatchObject({
			provider: 'custom',
			grantType: 'authorization_code',
			status: expect.stringMatching(/^(active|needs_reauth)$/),
		});
	expectNoToken(list.text);

	const acme = await stack.client.webhook('e2e/get-connection', {
		query: { connectionId: 'pipedrive:acme' },
	});
	expect(acme.status).toBe(200);
	const listed = list.body.find((c) => c.connectionId === 'pipedrive:acme');
	expect(acme.body).toHaveLength(1);
	expect(Object.keys(acme.body[0])).toEqual(Object.keys(listed));
	expect(acme.body[0]).toMatchObject({
		connectionId: 'pipedrive:acme',
		status: 'active',
		expiresAt: listed.expiresAt,
		api_domain: stack.sandbox.url,
		failureCount: 0,
	});
	expectNoToken(acme.text);
	expect(stack.sandbox.stats().tokenRequests.total).toBe(0); // reading connections never asks the provider
});

/** An alert endpoint of the user's: records every post workflow 4 makes. */
async function startAlertReceiver() {
	const alerts = [];
	const receiver = http.createServer((req, res) => {
		let body = '';
		req.on('data', (chunk) => (body += chunk));
		req.on('end', () => {
			alerts.push({ path: req.url, key: req.headers[stack.alertAuth.name.toLowerCase()], body });
			res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
		});
	});
	await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
	return {
		alerts,
		url: `http://127.0.0.1:${receiver.address().port}/alerts`,
		close: () => new Promise((resolve) => receiver.close(resolve)),
	};
}

test(
	'workflow 4 on its schedule: a connection whose grant ended reaches the alert endpoint with its re-authorization link; a healthy one is refreshed once',
	async () => {
		const receiver = await startAlertReceiver();
		const { alerts } = receiver;
		let keepAliveId;
		try {
			const healthy = await stack.connect('alerts:healthy', { user: 'heidi' });
			const ended = await stack.connect('alerts:ended', { user: 'ivan' });
			expect([healthy.status, ended.status]).toEqual([200, 200]);
			await revokeGrantAtProvider(ended, 'ivan');
			const grantOfUser = (user) => stack.sandbox.grants().find((g) => g.userName === user).grantId;
			// Keep Alive refreshes what expires within 10 s: from about 10 s after the connections were made
			stack.sandbox.reset();
			keepAliveId = await stack.publishKeepAlive({
				notificationUrl: receiver.url,
				expiresWithinSeconds: 10,
				everySeconds: 2,
			});

			const deadline = Date.now() + 90_000;
			while (
				!(alerts.length > 0 && stack.sandbox.stats().refreshesByGrant[grantOfUser('heidi')] >= 1) &&
				Date.now() < deadline
			)
				await sleep(250);
			// a refreshed token lives 20 s, so it is not due again for about 10 s: stop the schedule before then
			await stack.client.unpublishWorkflow(keepAliveId);
			keepAliveId = undefined;
			await sleep(3000); // a sweep that had started ends

			expect(stack.sandbox.stats().refreshesByGrant[grantOfUser('heidi')]).toBe(1);
			const forEnded = alerts.filter((a) => JSON.parse(a.body).connectionId === 'alerts:ended');
			expect(forEnded).toHaveLength(1); // a connection that needs re-authorization is not swept again
			expect(alerts.map((a) => JSON.parse(a.body).connectionId)).not.toContain('alerts:healthy');
			const [alert] = forEnded;
			expect(alert.path).toBe('/alerts');
			expect(alert.key).toBe(stack.alertAuth.value);
			const body = JSON.parse(alert.body);
			expect(body).toMatchObject({
				connectionId: 'alerts:ended',
				status: 'needs_reauth',
				outcome: 'needs_reauth',
				errorCode: 'needs_reauth',
			});
			expect(body.reauthorizationUrl).toMatch(new RegExp(`^${stack.sandbox.authorizationUrl}\\?`));
			expectNoToken(alert.body);
			expect(alert.body).not.toContain(stack.sandbox.clientSecret);

			// the link brings the account back: consent, callback (workflow 1), and calls work again
			const link = new URL(body.reauthorizationUrl);
			link.searchParams.set('user', 'ivan');
			const consent = await fetch(link, { redirect: 'manual' });
			expect(consent.status).toBe(302);
			const callback = await fetch(consent.headers.get('location'), { redirect: 'manual' });
			expect(callback.status).toBe(200);
			expect((await call('alerts:ended')).user.name).toBe('ivan');
		} finally {
			if (keepAliveId) await stack.client.unpublishWorkflow(keepAliveId).catch(() => undefined);
			await receiver.close();
		}
	},
	4 * 60 * 1000,
);

test(
	'workflow 4 on its schedule: a connection whose client secret no longer works is alerted once, naming the cause, across failed refreshes; a healthy one never',
	async () => {
		const receiver = await startAlertReceiver();
		let keepAliveId;
		try {
			stack.sandbox.configure({ expiresIn: 3600 });
			const healthy = await stack.connect('secret:healthy', { user: 'kate' });
			stack.sandbox.configure({ expiresIn: EXPIRES_IN });
			const broken = await stack.connect('secret:broken', { user: 'leo' });
			expect([healthy.status, broken.status]).toEqual([200, 200]);
			// The app's secret is rotated at the provider; n8n's App credential still holds the old one.
			stack.sandbox.configure({ clientSecret: `${stack.sandbox.clientSecret}-rotated` });
			stack.sandbox.reset();
			keepAliveId = await stack.publishKeepAlive({
				notificationUrl: receiver.url,
				expiresWithinSeconds: 10,
				everySeconds: 2,
			});

			// The broken connection becomes due about 10 s after it was made; a refused refresh is tried again after the
			// 30 s base cooldown: wait for two refused refreshes, with the sweep running every 2 s all along. (Connections of
			// earlier tests that are due fail too, with the same secret: their alerts are theirs.)
			const grantOfUser = (user) => stack.sandbox.grants().find((g) => g.userName === user).grantId;
			const refreshRequests = (user) =>
				stack.sandbox.stats().refreshRequestsByGrant[grantOfUser(user)] ?? 0;
			const deadline = Date.now() + 120_000;
			while (refreshRequests('leo') < 2 && Date.now() < deadline) await sleep(250);
			await sleep(4000); // two more sweeps, in the cooldown
			await stack.client.unpublishWorkflow(keepAliveId);
			keepAliveId = undefined;
			await sleep(3000); // a sweep that had started ends

			expect([refreshRequests('leo'), refreshRequests('kate')]).toEqual([2, 0]);
			const alertsOf = (connectionId) =>
				receiver.alerts.filter((a) => JSON.parse(a.body).connectionId === connectionId);
			expect(alertsOf('secret:healthy')).toHaveLength(0);
			expect(alertsOf('secret:broken')).toHaveLength(1);
			const [alert] = alertsOf('secret:broken');
			const body = JSON.parse(alert.body);
			expect(body).toMatchObject({
				connectionId: 'secret:broken',
				status: 'active',
				outcome: 'failed',
				errorCode: 'invalid_client',
			});
			expect(body.errorMessage).toMatch(/invalid_client/);
			expect(alert.key).toBe(stack.alertAuth.value);
			expectNoToken(alert.body);
			expect(alert.body).not.toContain(stack.sandbox.clientSecret);
		} finally {
			stack.sandbox.configure({ clientSecret: stack.sandbox.clientSecret, expiresIn: EXPIRES_IN });
			if (keepAliveId) await stack.client.unpublishWorkflow(keepAliveId).catch(() => undefined);
			await receiver.close();
		}
	},
	4 * 60 * 1000,
);

test(
	'workflows 1 and 3 run a first test from their Manual Trigger, no webhook event awaited (n8n execute)',
	async () => {
		const connected = await stack.connect('pipedrive:acme', { user: 'alice' });
		expect(connected.status).toBe(200);
		const execute = async (id) => {
			// a task broker of its own: the running n8n holds the instance's port
			const { code, stdout, stderr } = await stack.n8n.cli(
				['execute', `--id=${id}`, '--rawOutput'],
				{ N8N_RUNNERS_BROKER_PORT: String(await freePort()) },
			);
			if (code !== 0)
				throw new Error(
					`n8n execute --id=${id} exited with ${code}: ${(stderr || stdout).slice(-1500)}`,
				);
			return stdout;
		};
		// workflow 1: Test Connection ID → Build Authorization URL: a link to the provider for pipedrive:acme
		const connect = await execute(stack.workflows.connect.id);
		expect(connect).toMatch(
			/"authorizationUrl":\s*"http:\/\/127\.0\.0\.1:\d+\/oauth\/authorize\?[^"]*state=/,
		);

		// workflow 3: the CLI starts a workflow at its Execute Workflow Trigger, so a copy without it starts at the Manual Trigger
		const refresh = readWorkflow('refresh');
		const subTrigger = refresh.nodes.find(
			(n) => n.type === 'n8n-nodes-base.executeWorkflowTrigger',
		);
		refresh.nodes = refresh.nodes.filter((n) => n !== subTrigger);
		delete refresh.connections[subTrigger.name];
		refresh.name = 'e2e: workflow 3 by its Manual Trigger';
		delete refresh.id;
		const copy = await stack.client.createWorkflow(refresh);
		stack.sandbox.reset();
		const refreshed = await execute(copy.id);
		expect(refreshed).toMatch(/"expiresAt":\s*"20\d\d-/);
		expect(refreshed).toMatch(/"refreshed":\s*true/);
		expect(stack.sandbox.stats().tokenRequests.refresh_token).toBe(1);
	},
	3 * 60 * 1000,
);
