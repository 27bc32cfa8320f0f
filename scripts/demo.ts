// npm run demo [-- --keep] [--expires-in 20] [--min-validity 5] [--expiries 3]
//
// On a fresh machine: installs the repo's dependencies if missing, builds, fetches a Node.js runtime n8n accepts and
// the pinned n8n (both cached outside the clone), installs the packed package into n8n as a community package,
// starts the Pipedrive-like sandbox and n8n, creates the credentials, imports every bundled workflow (publishes 1, 2, 3
// and 5: 4 runs on a schedule), connects an account through workflow 1, calls workflow 2 across several access-token
// expiries, calls workflow 3 once, and prints a summary. --keep leaves n8n running (until Ctrl+C) and prints where its
// editor and workflow 5's status page are.
// Started by run.js, which has installed the dependencies and moved to the Node 24 runtime.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ensureN8n } from '../tools/n8n/install';
import {
	assertLinked,
	readWorkflow,
	startStack,
	WORKFLOW_FILES,
	type WorkflowKey,
} from '../tools/n8n/stack';
import { sleep } from '../tools/sleep';

const repo = path.resolve(__dirname, '..');
const started = Date.now();
const USAGE =
	'usage: npm run demo [-- --keep] [--expires-in 20] [--min-validity 5] [--expiries 3] [--interval 2]';

interface DemoOptions {
	keep: boolean;
	/** access token lifetime at the sandbox, seconds */
	expiresIn: number;
	/** Get Valid Token refreshes when fewer seconds remain */
	minValidity: number;
	/** how many token lifetimes workflow 2 is called across */
	expiries: number;
	/** seconds between two calls of workflow 2 */
	interval: number;
}

/** The options, or null for --help. */
function parseArgs(argv: string[]): DemoOptions | null {
	const o: DemoOptions = { keep: false, expiresIn: 20, minValidity: 5, expiries: 3, interval: 2 };
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		if (a === '--keep') o.keep = true;
		else if (a === '--expires-in') o.expiresIn = Number(argv[++i]);
		else if (a === '--min-validity') o.minValidity = Number(argv[++i]);
		else if (a === '--expiries') o.expiries = Number(argv[++i]);
		else if (a === '--interval') o.interval = Number(argv[++i]);
		else if (a === '--help' || a === '-h') return null;
		else throw new Error(`unknown option ${a}`);
	}
	if (!(o.minValidity < o.expiresIn)) throw new Error('--min-validity must be below --expires-in');
	return o;
}

/** What workflow 2 answers (its last node's item). */
interface CallAnswer {
	statusCode?: number;
	user?: { name?: string };
	retriedAfter401?: boolean;
}

/** What workflow 5 answers with ?format=json (the fields the demo prints). */
interface StatusPageAnswer {
	counts?: Record<string, number>;
	connections?: { connectionId: string; shownStatus: string }[];
}

/** What workflow 3 answers. */
interface RefreshAnswer {
	status?: string;
	expires_in?: number;
}

const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;
const step = (text: string) => console.log(`\n[${elapsed()}] ${text}`);
const info = (text: string) => console.log(`    ${text}`);

function run(cmd: string, args: string[], label: string) {
	step(label);
	const res = spawnSync(cmd, args, { cwd: repo, stdio: 'inherit' });
	if (res.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${res.status})`);
}

export async function main(args: string[]): Promise<number | undefined> {
	const opts = parseArgs(args);
	if (!opts) {
		console.log(USAGE);
		return 0;
	}
	console.log('OAuth2 Token Manager — demo against a real n8n and a local Pipedrive-like provider');

	run('npm', ['run', 'build', '--silent'], 'Building the package (npm run build)...');
	step('Node.js runtime for n8n (Node 24, from the npm registry, cached)...');
	info(`${process.execPath} (${process.version})`);

	step('n8n (pinned, cached outside the clone)...');
	const n8nInstall = await ensureN8n({ log: info });
	info(`n8n ${n8nInstall.version}: ${n8nInstall.bin}`);

	const userFolder = path.join(repo, '.demo', 'n8n');
	fs.rmSync(userFolder, { recursive: true, force: true });
	step('Starting the sandbox and n8n, installing the package, credentials and workflows...');
	const stack = await startStack({
		userFolder,
		expiresIn: opts.expiresIn,
		minValiditySeconds: opts.minValidity,
		log: info,
		keepDatabase: false,
	});
	let stopping: Promise<void> | null = null;
	const stop = () => (stopping ||= stack.stop()); // one shutdown, however often it is asked for
	const onSignal = () => {
		if (!stopping) console.log('\nStopping n8n and the sandbox...');
		void stop().then(() => process.exit(130));
	};
	process.on('SIGINT', onSignal);
	process.on('SIGTERM', onSignal);

	try {
		// The other bundled workflows are imported too, unpublished (workflow 4 would post alerts to its example
		// endpoint on a schedule), so the editor shows every one of them with its credentials linked.
		const imported: string[] = [];
		for (const key of Object.keys(WORKFLOW_FILES) as WorkflowKey[]) {
			if (key in stack.workflows) continue;
			const created = assertLinked(
				await stack.client.createWorkflow(readWorkflow(key)),
				Object.values(stack.credentials).map((c) => c.id),
			);
			imported.push(created.name);
		}
		if (imported.length > 0) info(`Imported, not published: ${imported.join(', ')}`);
		const connectionId = 'pipedrive:acme';
		step(
			`Connecting "${connectionId}" through workflow 1 (start webhook → Build Authorization URL → consent at the provider → callback → Exchange Authorization Code)...`,
		);
		const connected = await stack.connect(connectionId, { user: 'acme-admin' });
		if (connected.status !== 200)
			throw new Error(`workflow 1 answered ${connected.status}: ${connected.html.slice(0, 300)}`);
		info(
			`callback page: HTTP ${connected.status}, "${/<h1>(.*?)<\/h1>/.exec(connected.html)?.[1]}"`,
		);
		const afterConsent = stack.sandbox.stats();

		const runSeconds = opts.expiries * opts.expiresIn + opts.minValidity + 2;
		step(
			`Calling workflow 2 every ${opts.interval}s for ${runSeconds}s: access tokens live ${opts.expiresIn}s, ` +
				`Get Valid Token refreshes when fewer than ${opts.minValidity}s remain...`,
		);
		const calls: {
			status: number;
			api?: number;
			ms: number;
			refreshed: number;
			retried?: boolean;
		}[] = [];
		const runStart = Date.now();
		let lastRefreshes = stack.sandbox.stats().tokenRequests.refresh_token;
		while (Date.now() - runStart < runSeconds * 1000) {
			const t = Date.now();
			const res = await stack.call(connectionId);
			const s = stack.sandbox.stats();
			const refreshedNow = s.tokenRequests.refresh_token - lastRefreshes;
			lastRefreshes = s.tokenRequests.refresh_token;
			const body: CallAnswer = res.body && typeof res.body === 'object' ? res.body : {};
			calls.push({
				status: res.status,
				api: body.statusCode,
				ms: Date.now() - t,
				refreshed: refreshedNow,
				retried: body.retriedAfter401,
			});
			info(
				`#${String(calls.length).padStart(2)}  t=${String(Math.round((t - runStart) / 1000)).padStart(3)}s  ` +
					`webhook ${res.status}  API ${body.statusCode ?? '-'}  user ${body.user?.name ?? '-'}  ` +
					`${refreshedNow ? 'token refreshed' : '               '}  ${body.retriedAfter401 ? 'retried after 401' : ''}  (${Date.now() - t} ms)`,
			);
			const wait = opts.interval * 1000 - (Date.now() - t);
			if (wait > 0) await sleep(wait);
		}
		const runMs = Date.now() - runStart;
		const afterRun = stack.sandbox.stats();
		const callRefused = await stack.call(connectionId, { auth: false });
		info(`workflow 2 without its header auth: HTTP ${callRefused.status}`);

		step('Calling workflow 3 (refresh on request, header authentication)...');
		const refreshed = await stack.refresh(connectionId);
		const refreshedBody = refreshed.body as RefreshAnswer | undefined;
		info(`with its header: HTTP ${refreshed.status} ${JSON.stringify(refreshed.body)}`);
		const refused = await stack.refresh(connectionId, { auth: false });
		info(`without it: HTTP ${refused.status}`);
		const final = stack.sandbox.stats();

		step('Opening workflow 5, the connections status page (its own Basic auth), as JSON...');
		const statusAuthorization = `Basic ${Buffer.from(`${stack.statusAuth.user}:${stack.statusAuth.password}`).toString('base64')}`;
		const statusPage = await stack.client.webhook(stack.workflows.status.path, {
			query: { format: 'json' },
			headers: { authorization: statusAuthorization },
		});
		const statusBody = (
			statusPage.body && typeof statusPage.body === 'object' ? statusPage.body : {}
		) as StatusPageAnswer;
		const shown = (statusBody.connections ?? [])
			.map((c) => `${c.connectionId} ${c.shownStatus}`)
			.join(', ');
		info(`with it: HTTP ${statusPage.status}, ${shown || 'no connection'}`);
		const statusRefused = await stack.client.webhook(stack.workflows.status.path);
		info(`without it: HTTP ${statusRefused.status}`);

		const failedWebhooks = calls.filter((c) => c.status !== 200 || c.api !== 200).length;
		const refreshes =
			afterRun.tokenRequests.refresh_token - afterConsent.tokenRequests.refresh_token;
		const apiCalls = afterRun.apiCalls - afterConsent.apiCalls;
		const failedApi = afterRun.failedApiCalls - afterConsent.failedApiCalls;
		const avg = Math.round(calls.reduce((a, c) => a + c.ms, 0) / Math.max(1, calls.length));
		console.log('\n==================== Summary ====================');
		const row = (k: string, v: string) => console.log(`  ${k.padEnd(26)}${v}`);
		row(
			'n8n',
			`${n8nInstall.version} on ${stack.n8n.url} (started in ${(stack.n8n.startMs / 1000).toFixed(1)}s)`,
		);
		row('package', 'n8n-nodes-oauth2-token-manager (packed, installed as a community package)');
		row('connection', `${connectionId}, connected through workflow 1`);
		row(
			'workflow 2 executions',
			`${calls.length} in ${(runMs / 1000).toFixed(0)}s (average ${avg} ms), ${failedWebhooks} failed; without header auth: HTTP ${callRefused.status}`,
		);
		row('API calls (sandbox)', `${apiCalls}, ${failedApi} failed (401)`);
		const retried = calls.filter((c) => c.retried).length;
		row(
			'access tokens',
			`live ${opts.expiresIn}s; ${Math.floor(runMs / 1000 / opts.expiresIn)} lifetimes crossed during the run`,
		);
		row(
			'token refreshes',
			`${refreshes}, all ahead of expiry (fewer than ${opts.minValidity}s left); ${retried} call(s) retried after a 401`,
		);
		row(
			'token requests (sandbox)',
			`${final.tokenRequests.total}: ${final.tokenRequests.authorization_code} code exchange, ${final.tokenRequests.refresh_token} refresh (incl. workflow 3), ${final.tokenRequests.failed} failed`,
		);
		row(
			'workflow 3',
			`HTTP ${refreshed.status}, status ${refreshedBody?.status}, expires in ${refreshedBody?.expires_in}s; without header auth: HTTP ${refused.status}`,
		);
		row(
			'workflow 5',
			`HTTP ${statusPage.status}, ${statusBody.counts?.total ?? 0} connection(s): ${shown}; without Basic auth: HTTP ${statusRefused.status}`,
		);
		row('imported, not published', imported.length > 0 ? imported.join('; ') : 'none');
		row('total time', elapsed());
		console.log('=================================================');
		const ok =
			failedWebhooks === 0 &&
			failedApi === 0 &&
			refreshes >= opts.expiries &&
			refreshed.status === 200 &&
			refused.status >= 400 &&
			callRefused.status >= 400 &&
			statusPage.status === 200 &&
			statusRefused.status === 401;

		if (opts.keep) {
			if (!ok) process.exitCode = 1;
			console.log(`\nn8n keeps running. Editor: ${stack.n8n.url}/home/workflows`);
			console.log(`  log in as ${stack.owner.email} / ${stack.owner.password}`);
			console.log(`  sandbox (provider): ${stack.sandbox.url}/__sandbox/stats`);
			// the run's own throwaway credentials, as for the editor above
			console.log(`Connections status page (workflow 5): ${stack.statusPageUrl}`);
			console.log(`  Basic auth ${stack.statusAuth.user} / ${stack.statusAuth.password}`);
			console.log('Press Ctrl+C to stop n8n and the sandbox.');
			return undefined;
		}
		await stop();
		return ok ? 0 : 1;
	} catch (err) {
		await stop();
		throw err;
	}
}
