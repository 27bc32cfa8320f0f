/*
 * The bundled workflows as a user brings them into n8n (the pinned version): with n8n's CLI
 * (`n8n import:workflow --input=<file>`) and with the editor's Import from File, before and after the credentials they
 * name exist. The CLI prints no error either way and links the named credentials once they exist; the editor shows
 * every credential still to choose as missing on the canvas. The same CLI check runs on n8n 1.x in `npm run test:compat`.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startSandbox, type Sandbox } from '../../tools/sandbox';
import type { N8nClient, Workflow } from '../../tools/n8n/client';
import { type Editor, openEditor } from '../../tools/n8n/editor';
import { type N8nInstance, startN8n } from '../../tools/n8n/instance';
import { installPackage, packProject } from '../../tools/n8n/package';
import { ownerClient } from '../../tools/n8n/provision';
import {
	assertLinked,
	CREDENTIAL_NAMES,
	CREDENTIAL_TYPES,
	importWithCli,
	readWorkflow,
	sandboxAppCredential,
	WORKFLOW_FILES,
	type WorkflowKey,
	workflowFile,
} from '../../tools/n8n/stack';

const KEYS = Object.keys(WORKFLOW_FILES) as WorkflowKey[];

let userFolder: string;
let n8n: N8nInstance | undefined;
let client: N8nClient;
let sandbox: Sandbox | undefined;

function log(line: string) {
	if (process.env.E2E_VERBOSE) process.stderr.write(`${line}\n`);
}

/** The names of a workflow's nodes that name a credential. */
const nodesWithCredentials = (workflow: Workflow) =>
	workflow.nodes.filter((n) => Object.keys(n.credentials ?? {}).length > 0).map((n) => n.name);

/** Imports every bundled workflow with n8n's CLI; resolves what each import printed as a problem, by file. */
async function importAllWithCli() {
	const results: Record<string, { code: number | null; problems: string[] }> = {};
	for (const key of KEYS) results[WORKFLOW_FILES[key]] = await importWithCli(n8n!, key);
	return results;
}

const clean = Object.fromEntries(
	KEYS.map((key) => [WORKFLOW_FILES[key], { code: 0, problems: [] }]),
);

beforeAll(async () => {
	userFolder = fs.mkdtempSync(path.join(os.tmpdir(), 'oauth2tm-import-'));
	const { tarball } = await packProject();
	await installPackage(userFolder, tarball);
	fs.rmSync(path.dirname(tarball), { recursive: true, force: true });
	n8n = await startN8n({ userFolder, log });
	client = await ownerClient(n8n.url);
}, 600000);

afterAll(async () => {
	await n8n?.stop();
	await sandbox?.close();
	fs.rmSync(userFolder, { recursive: true, force: true });
});

test('n8n import:workflow imports every bundled workflow without printing an error before its credentials exist', async () => {
	expect(await importAllWithCli()).toEqual(clean);
	for (const key of KEYS) {
		const { id, name } = readWorkflow(key);
		expect(await client.getWorkflow(String(id))).toMatchObject({ id, name });
	}
}, 300000);

test('Import from File in the editor (headless Chromium) shows every credential to choose as missing on the canvas', async () => {
	let editor: Editor | undefined;
	try {
		editor = await openEditor({ n8n: n8n!, owner: client.owner! });
		for (const key of KEYS) {
			const workflow = readWorkflow(key);
			await editor.importFromFile(
				workflowFile(key),
				workflow.nodes.filter((n) => n.type !== 'n8n-nodes-base.stickyNote').length,
			);
			expect({
				file: WORKFLOW_FILES[key],
				flagged: (await editor.nodesWithIssues()).sort(),
			}).toEqual({ file: WORKFLOW_FILES[key], flagged: nodesWithCredentials(workflow).sort() });
		}
	} finally {
		await editor?.close();
	}
}, 300000);

test('with the named credentials created first, n8n import:workflow links every one by name and prints no error', async () => {
	sandbox = await startSandbox({});
	const data: Record<keyof typeof CREDENTIAL_NAMES, Record<string, unknown>> = {
		app: sandboxAppCredential(sandbox, `${n8n!.url}/webhook/pipedrive/oauth/callback`),
		store: {
			filePath: path.join(userFolder, 'tokens.sqlite'),
			encryptionKey: crypto.randomBytes(32).toString('base64'),
		},
		headerAuth: { name: 'X-Refresh-Key', value: crypto.randomBytes(18).toString('base64url') },
		callAuth: { name: 'X-Call-Key', value: crypto.randomBytes(18).toString('base64url') },
		basicAuth: { user: 'connect', password: crypto.randomBytes(18).toString('base64url') },
		alertAuth: { name: 'X-Alert-Key', value: crypto.randomBytes(18).toString('base64url') },
		statusAuth: { user: 'status', password: crypto.randomBytes(18).toString('base64url') },
	};
	const ids: string[] = [];
	for (const key of Object.keys(CREDENTIAL_NAMES) as (keyof typeof CREDENTIAL_NAMES)[]) {
		ids.push(
			(
				await client.createCredential({
					name: CREDENTIAL_NAMES[key],
					type: CREDENTIAL_TYPES[key],
					data: data[key],
				})
			).id,
		);
	}
	expect(await importAllWithCli()).toEqual(clean);
	for (const key of KEYS) assertLinked(await client.getWorkflow(String(readWorkflow(key).id)), ids);
}, 300000);
