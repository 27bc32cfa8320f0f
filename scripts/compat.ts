// `npm run test:compat`: the bundled workflows' main path on each n8n this package supports, on the Node.js it runs
// there, with the PostgreSQL and the embedded token stores: connect through workflow 1 (the sandbox as provider),
// Get Valid Token across an expiry (one refresh), then a burst of calls just after the next expiry (exactly 1 token
// request, 0 failed API calls). Before that it imports the five bundled workflows with `n8n import:workflow`, as a
// user of n8n's CLI does: a cell fails when that import prints an error. Each n8n is pinned and installed once into
// the cache outside the clone (about 6 minutes each the first time). Prints a matrix n8n × Node × store → pass/fail and figures; exits 1 if a cell fails.
// Started by run.js (dependencies installed, Node 24).
import { execSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startSandbox, type Sandbox, type SandboxStats } from '../tools/sandbox';
import { CURRENT_N8N, ensureN8n, N8N_1X, type N8nTarget } from '../tools/n8n/install';
import { type N8nInstance, startN8n } from '../tools/n8n/instance';
import { installPackage, packProject } from '../tools/n8n/package';
import {
	embeddedStore,
	ownerClient,
	postgresStore,
	provisionTokenManager,
	type StoreChoice,
	type TokenManagerSetup,
} from '../tools/n8n/provision';
import { importWithCli, WORKFLOW_FILES, type WorkflowKey } from '../tools/n8n/stack';
import { nodeRuntimeOf } from '../tools/node-runtime';
import { sleep } from '../tools/sleep';

const TARGETS: N8nTarget[] = [N8N_1X, CURRENT_N8N];
const EXPIRES_IN = 20; // seconds an access token lives at the sandbox
const MIN_VALIDITY = 5; // Get Valid Token refreshes when fewer seconds remain
const BURST = 10;

interface Cell {
	n8n: string;
	node: string;
	store: string;
	pass: boolean;
	figures: string;
	error?: string;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const log = (line: string) => console.log(`[compat] ${line}`);

function check(condition: boolean, what: string, stats?: SandboxStats) {
	if (!condition)
		throw new Error(
			`${what}${stats ? ` (sandbox: ${JSON.stringify({ tokenRequests: stats.tokenRequests, apiCalls: stats.apiCalls, failedApiCalls: stats.failedApiCalls })})` : ''}`,
		);
}

/** Sleeps until the access token has expired at the sandbox too. */
async function untilExpired(tokenExpiresAt: string | undefined) {
	const expiresAt = Date.parse(String(tokenExpiresAt));
	if (!Number.isFinite(expiresAt))
		throw new Error(`workflow 2 answered no tokenExpiresAt (${tokenExpiresAt})`);
	await sleep(Math.max(0, expiresAt - Date.now() + 700));
}

/** The main path on one store; resolves the figures, throws on the first deviation. */
async function mainPath(setup: TokenManagerSetup, sandbox: Sandbox): Promise<string> {
	const connectionId = 'pipedrive:compat';
	let t = Date.now();
	check((await setup.connect(connectionId, 'alice')) === 200, 'workflow 1 did not connect');
	const connectMs = Date.now() - t;
	const first = await setup.call(connectionId);
	check(
		first.status === 200 && first.body.statusCode === 200 && first.body.user?.name === 'alice',
		`workflow 2 answered ${first.status}: ${first.text.slice(0, 300)}`,
	);

	await untilExpired(first.body.tokenExpiresAt);
	sandbox.reset();
	t = Date.now();
	const across = await setup.call(connectionId);
	const acrossMs = Date.now() - t;
	check(
		across.status === 200 &&
			across.body.statusCode === 200 &&
			across.body.tokenRefreshedBeforeCall === true,
		`the call after expiry answered ${across.status}: ${across.text.slice(0, 300)}`,
	);
	check(
		sandbox.stats().tokenRequests.refresh_token === 1,
		'the call after expiry did not refresh exactly once',
		sandbox.stats(),
	);

	await untilExpired(across.body.tokenExpiresAt);
	sandbox.reset();
	t = Date.now();
	const burst = await Promise.all(Array.from({ length: BURST }, () => setup.call(connectionId)));
	const burstMs = Date.now() - t;
	const ok = burst.filter(
		(r) => r.status === 200 && r.body.statusCode === 200 && r.body.user?.name === 'alice',
	).length;
	const stats = sandbox.stats();
	check(ok === BURST, `${BURST - ok} of ${BURST} burst calls failed`, stats);
	check(
		stats.tokenRequests.total === 1 && stats.tokenRequests.refresh_token === 1,
		'the burst did not make exactly 1 token request',
		stats,
	);
	check(stats.failedApiCalls === 0, 'the burst made failed API calls', stats);
	return `connect ${seconds(connectMs)}; refresh across expiry 1 request, ${seconds(acrossMs)}; burst ${ok}/${BURST} ok, ${stats.tokenRequests.total} token request, ${stats.failedApiCalls} failed calls, ${seconds(burstMs)}`;
}

/** One n8n: both stores provisioned side by side (each with its own sandbox), their main paths run together. */
async function runTarget(target: N8nTarget, tarball: string, baseFolder: string): Promise<Cell[]> {
	const node = String(execSync(`"${nodeRuntimeOf(target.nodeMajor)}" --version`)).trim();
	const userFolder = path.join(baseFolder, `n8n-${target.version}`);
	const sandboxes: Sandbox[] = [];
	let n8n: N8nInstance | undefined;
	const stores = (database: string): StoreChoice[] => [
		postgresStore(database),
		embeddedStore(path.join(userFolder, 'tokens.sqlite')),
	];
	try {
		await installPackage(userFolder, tarball);
		n8n = await startN8n({ userFolder, target, log });
		const client = await ownerClient(n8n.url);
		const importProblems: string[] = [];
		for (const key of Object.keys(WORKFLOW_FILES) as WorkflowKey[]) {
			const { code, problems } = await importWithCli(n8n, key);
			if (code !== 0 || problems.length)
				importProblems.push(
					`n8n import:workflow ${WORKFLOW_FILES[key]} exited ${code}: ${problems.join(' / ') || 'no message'}`,
				);
		}
		log(
			`n8n ${target.version}: the bundled workflows imported with n8n import:workflow, ${importProblems.length ? importProblems.join('; ') : 'no error printed'}`,
		);
		const url = n8n.url;
		const runs = stores(n8n.database).map(async (store): Promise<Cell> => {
			const cell = { n8n: target.version, node, store: store.storage, pass: false, figures: '' };
			try {
				const sandbox = await startSandbox({ expiresIn: EXPIRES_IN, tokenDelayMs: 150 });
				sandboxes.push(sandbox);
				const setup = await provisionTokenManager({
					n8nUrl: url,
					client,
					sandbox,
					store,
					tag: store.storage,
					minValiditySeconds: MIN_VALIDITY,
				});
				const figures = await mainPath(setup, sandbox);
				return importProblems.length
					? { ...cell, figures, error: importProblems.join('\n') }
					: { ...cell, pass: true, figures };
			} catch (err) {
				return { ...cell, error: (err as Error).message };
			}
		});
		return await Promise.all(runs);
	} catch (err) {
		return ['postgres', 'embedded'].map((store) => ({
			n8n: target.version,
			node,
			store,
			pass: false,
			figures: '',
			error: (err as Error).message,
		}));
	} finally {
		await n8n?.stop();
		for (const sandbox of sandboxes) await sandbox.close().catch(() => {});
	}
}

function printMatrix(cells: Cell[]) {
	const firstLine = (text = '') => text.split('\n')[0].slice(0, 240);
	const rows = [
		['n8n', 'Node', 'token store', 'result', 'figures'],
		...cells.map((c) => [
			c.n8n,
			c.node,
			c.store,
			c.pass ? 'pass' : 'FAIL',
			c.pass ? c.figures : firstLine(c.error),
		]),
	];
	const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
	const line = (r: string[]) => `| ${r.map((v, i) => v.padEnd(widths[i])).join(' | ')} |`;
	console.log(`\n${line(rows[0])}\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
	for (const r of rows.slice(1)) console.log(line(r));
}

export async function main(): Promise<number> {
	const started = Date.now();
	console.log('\n> Building (npm run build)');
	execSync('npm run build --silent', { stdio: 'inherit', cwd: path.resolve(__dirname, '..') });
	for (const target of TARGETS) {
		const t = Date.now();
		const installed = await ensureN8n({ target, log });
		log(
			`n8n ${target.version} ${installed.installedNow ? `installed in ${seconds(Date.now() - t)}` : 'cached'}; Node ${nodeRuntimeOf(target.nodeMajor)}`,
		);
	}
	const baseFolder = fs.mkdtempSync(path.join(os.tmpdir(), 'oauth2tm-compat-'));
	const { tarball } = await packProject();
	const cells: Cell[] = [];
	try {
		for (const target of TARGETS) {
			const t = Date.now();
			cells.push(...(await runTarget(target, tarball, baseFolder)));
			log(`n8n ${target.version}: ${seconds(Date.now() - t)}`);
		}
	} finally {
		fs.rmSync(path.dirname(tarball), { recursive: true, force: true });
		fs.rmSync(baseFolder, { recursive: true, force: true });
	}
	printMatrix(cells);
	const passed = cells.filter((c) => c.pass).length;
	console.log(`\nTook ${seconds(Date.now() - started)} in all`);
	console.log(`compat: ${passed} passed, ${cells.length - passed} failed`);
	return passed === cells.length ? 0 : 1;
}
