/*
 * API Request as an AI agent's tool, in a real n8n with no LLM: n8n's MCP Server Trigger serves the package's tool
 * variant of the node (its URL from $fromAI), and a plain MCP client over Streamable HTTP calls it as an agent would.
 * A URL outside the connection's API base is refused before anything is sent: the other host gets no request and the
 * provider no token request. A path under the API base answers with the API's body and never a token.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Workflow } from '../../tools/n8n/client';
import { type N8nInstance, startN8n } from '../../tools/n8n/instance';
import { installPackage, packProject } from '../../tools/n8n/package';
import {
	embeddedStore,
	provisionTokenManager,
	type TokenManagerSetup,
} from '../../tools/n8n/provision';
import { credentialReference, PACKAGE_NODE } from '../../tools/n8n/stack';
import { type Sandbox, startSandbox } from '../../tools/sandbox';
import { sleep } from '../../tools/sleep';

const CONNECTION = 'pipedrive:agent';
/**
 * Seconds an access token lives at the sandbox. The tests start once the connection's token has expired, so any call
 * that reaches the token refreshes it first and a token request shows it.
 */
const EXPIRES_IN = 5;
const MCP_PATH = 'e2e-agent-tool';
const TOOL_NODE = 'Call Pipedrive API';
/** A sandbox access or refresh token: `<user id>:` (and `r:` for a refresh token), then 32 base64url characters. */
const SANDBOX_TOKEN = /\d+:(r:)?[A-Za-z0-9_-]{32}/;

let userFolder: string;
let sandbox: Sandbox | undefined;
let n8n: N8nInstance | undefined;
let setup: TokenManagerSetup;
let otherHost: { url: string; requests: string[]; close(): Promise<void> } | undefined;
let mcp: McpClient;

function log(line: string) {
	if (process.env.E2E_VERBOSE) process.stderr.write(`${line}\n`);
}

/** A host outside the API base that records every request it receives. */
async function startOtherHost() {
	const requests: string[] = [];
	const server = http.createServer((req, res) => {
		requests.push(`${req.method} ${req.url}`);
		res.writeHead(200, { 'content-type': 'application/json' });
		res.end(JSON.stringify({ reached: 'the other host' }));
	});
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const { port } = server.address() as AddressInfo;
	return {
		url: `http://127.0.0.1:${port}`,
		requests,
		close: () => new Promise<void>((resolve) => server.close(() => resolve())),
	};
}

interface JsonRpcMessage {
	jsonrpc: '2.0';
	id?: number;
	result?: Record<string, unknown>;
	error?: { code: number; message: string };
}

/** What tools/call answers: the tool's output as text parts. */
interface ToolResult {
	content: { type: string; text: string }[];
	isError?: boolean;
}

/**
 * A minimal MCP client over Streamable HTTP: JSON-RPC POSTs to one URL, the session in the mcp-session-id header, each
 * answer read as JSON or from the server-sent events of the POST's own stream.
 */
class McpClient {
	private sessionId: string | null = null;
	private nextId = 1;

	constructor(readonly url: string) {}

	private async post(message: Record<string, unknown>): Promise<Response> {
		return fetch(this.url, {
			method: 'POST',
			headers: {
				'content-type': 'application/json',
				accept: 'application/json, text/event-stream',
				...(this.sessionId ? { 'mcp-session-id': this.sessionId } : {}),
			},
			body: JSON.stringify({ jsonrpc: '2.0', ...message }),
			signal: AbortSignal.timeout(90_000),
		});
	}

	/** Sends a request; resolves the answer with its id (an SSE stream is read only until that answer). */
	async request(method: string, params: Record<string, unknown> = {}): Promise<JsonRpcMessage> {
		const id = this.nextId++;
		const res = await this.post({ id, method, params });
		if (!res.ok) throw new Error(`MCP ${method} -> HTTP ${res.status}: ${await res.text()}`);
		this.sessionId = res.headers.get('mcp-session-id') ?? this.sessionId;
		const answer = (res.headers.get('content-type') ?? '').includes('text/event-stream')
			? await answerFromEvents(res, id)
			: ((await res.json()) as JsonRpcMessage);
		if (answer.error) throw new Error(`MCP ${method} -> ${answer.error.message}`);
		return answer;
	}

	async notify(method: string): Promise<void> {
		const res = await this.post({ method });
		await res.arrayBuffer();
	}

	async initialize() {
		const answer = await this.request('initialize', {
			protocolVersion: '2025-03-26',
			capabilities: {},
			clientInfo: { name: 'oauth2tm-e2e', version: '1.0.0' },
		});
		await this.notify('notifications/initialized');
		return answer.result!;
	}

	async listTools() {
		const answer = await this.request('tools/list');
		return answer.result!.tools as { name: string; inputSchema: Record<string, unknown> }[];
	}

	async callTool(name: string, args: Record<string, unknown>): Promise<ToolResult> {
		const answer = await this.request('tools/call', { name, arguments: args });
		return answer.result as unknown as ToolResult;
	}
}

/** Reads `data:` events until the JSON-RPC answer with `id`, then stops reading. */
async function answerFromEvents(res: Response, id: number): Promise<JsonRpcMessage> {
	const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
	let buffer = '';
	try {
		for (;;) {
			const { value, done } = await reader.read();
			if (value) buffer += value;
			const events = buffer.split(/\r?\n\r?\n/);
			buffer = events.pop() ?? '';
			if (done) events.push(buffer);
			for (const event of events) {
				const data = event
					.split(/\r?\n/)
					.filter((line) => line.startsWith('data:'))
					.map((line) => line.slice(5).trimStart())
					.join('\n');
				if (!data) continue;
				const message = JSON.parse(data) as JsonRpcMessage;
				if (message.id === id) return message;
			}
			if (done) throw new Error(`the event stream ended without the answer to request ${id}`);
		}
	} finally {
		await reader.cancel().catch(() => {});
	}
}

/** The tool's text, for assertions on what an agent would read. */
const textOf = (result: ToolResult) => result.content.map((part) => part.text).join('\n');

/**
 * MCP Server Trigger ← the package's tool variant of the node: API Request on the connection, its URL from the
 * agent ($fromAI), on the credentials provisionTokenManager created.
 */
function agentToolWorkflow(store: { credentialType: string; credentialName: string }): Workflow {
	return {
		name: 'e2e: API Request as an MCP tool',
		nodes: [
			{
				id: '5b0e7c2a-0000-4000-8000-000000000001',
				name: 'MCP Server Trigger',
				type: '@n8n/n8n-nodes-langchain.mcpTrigger',
				typeVersion: 2,
				position: [0, 0],
				webhookId: '5b0e7c2a-0000-4000-8000-0000000000aa',
				parameters: { authentication: 'none', path: MCP_PATH },
			},
			{
				id: '5b0e7c2a-0000-4000-8000-000000000002',
				name: TOOL_NODE,
				type: `${PACKAGE_NODE}Tool`,
				typeVersion: 1.2,
				position: [0, 240],
				parameters: {
					storage: 'embedded',
					operation: 'apiRequest',
					connectionId: { __rl: true, mode: 'id', value: CONNECTION },
					url: "={{ $fromAI('url', 'A path under the Pipedrive API, such as /api/v1/users/me', 'string') }}",
				},
				credentials: {
					oAuth2TokenManagerAppApi: credentialReference('Pipedrive OAuth app'),
					[store.credentialType]: credentialReference(store.credentialName),
				},
			},
		],
		connections: {
			[TOOL_NODE]: {
				ai_tool: [[{ node: 'MCP Server Trigger', type: 'ai_tool', index: 0 }]],
			},
		},
		settings: { executionOrder: 'v1' },
	};
}

/** n8n registers a published workflow's endpoints asynchronously: initializes once the MCP URL answers. */
async function connectMcp(url: string, timeoutMs = 60_000): Promise<McpClient> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const client = new McpClient(url);
		try {
			await client.initialize();
			return client;
		} catch (error) {
			if (Date.now() > deadline) throw error;
			await sleep(500);
		}
	}
}

beforeAll(
	async () => {
		userFolder = fs.mkdtempSync(path.join(os.tmpdir(), 'oauth2tm-agent-tool-'));
		sandbox = await startSandbox({ expiresIn: EXPIRES_IN });
		otherHost = await startOtherHost();
		const { tarball } = await packProject();
		await installPackage(userFolder, tarball);
		fs.rmSync(path.dirname(tarball), { recursive: true, force: true });
		n8n = await startN8n({ userFolder, log });
		const store = embeddedStore(path.join(userFolder, 'tokens.sqlite'));
		setup = await provisionTokenManager({ n8nUrl: n8n.url, sandbox, store });
		expect(await setup.connect(CONNECTION, 'ada')).toBe(200);
		await sleep(EXPIRES_IN * 1000 + 700);

		const workflow = await setup.client.createWorkflow(agentToolWorkflow(store));
		// n8n links each credential by name: no placeholder id may be left
		const tool = workflow.nodes.find((node) => node.name === TOOL_NODE)!;
		for (const [type, ref] of Object.entries(tool.credentials ?? {}))
			expect({ type, linked: ref?.id !== credentialReference(ref?.name ?? '').id }).toEqual({
				type,
				linked: true,
			});
		await setup.client.publishWorkflow(workflow.id);
		mcp = await connectMcp(`${n8n.url}/mcp/${MCP_PATH}`);
	},
	10 * 60 * 1000,
);

afterAll(
	async () => {
		await n8n?.stop();
		await sandbox?.close();
		await otherHost?.close();
		if (userFolder && !process.env.E2E_KEEP)
			fs.rmSync(userFolder, { recursive: true, force: true });
	},
	2 * 60 * 1000,
);

test('the MCP server lists the node as a tool whose input is the URL', async () => {
	const tools = await mcp.listTools();
	expect(tools).toEqual([
		expect.objectContaining({
			name: 'Call_Pipedrive_API',
			inputSchema: expect.objectContaining({
				properties: expect.objectContaining({ url: expect.anything() }),
			}),
		}),
	]);
});

test('as a tool, a URL outside the API base is refused before any request: the other host and the token endpoint see nothing', async () => {
	const host = new URL(otherHost!.url).host;
	const outside = [
		`${otherHost!.url}/api/v1/users/me`,
		// the API base's host and port as user info, the other host as the real one
		`http://${new URL(sandbox!.url).host}@${host}/api/v1/users/me`,
	];
	sandbox!.reset();
	for (const url of outside) {
		const result = await mcp.callTool('Call_Pipedrive_API', { url });
		const text = textOf(result);
		log(`refused ${url}: ${JSON.stringify(result)}`);
		expect(result.isError).toBe(true);
		expect(text).toContain(`calls only URLs under the connection's API base ${sandbox!.url}`);
		expect(text).not.toMatch(SANDBOX_TOKEN);
	}
	expect(otherHost!.requests).toEqual([]);
	const stats = sandbox!.stats();
	expect(stats.tokenRequests.total).toBe(0);
	expect(stats.apiCalls).toBe(0);
});

test('as a tool, a path under the API base answers with the API body and never a token', async () => {
	sandbox!.reset();
	const result = await mcp.callTool('Call_Pipedrive_API', { url: '/api/v1/users/me' });
	const text = textOf(result);
	log(`allowed: ${JSON.stringify(result)}`);
	expect(result.isError).toBeFalsy();
	expect(text).toContain('"name":"ada"');
	expect(text).not.toMatch(SANDBOX_TOKEN);
	expect(text).not.toMatch(/access_token|refresh_token|authorization|bearer/i);
	const stats = sandbox!.stats();
	expect(stats.apiCalls).toBe(1);
	expect(stats.failedApiCalls).toBe(0);
	// the stored token had expired: the refused calls above would have cost this refresh had they reached the token
	expect(stats.tokenRequests).toMatchObject({ total: 1, refresh_token: 1 });
	expect(otherHost!.requests).toEqual([]);
});
