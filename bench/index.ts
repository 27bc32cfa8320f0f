/*
 * npm run bench: the three contenders (bench/contenders.ts) in real n8n against the sandbox provider, which rotates
 * refresh tokens and revokes a grant when a rotated-out one comes back (reuse detection), with short access tokens.
 *   steady  one execution per second per contender across several token lifetimes, regular mode
 *   burst   concurrent executions right after expiry, regular mode (one n8n process)
 *   queue   n8n main + 2 workers on Redis, concurrent executions right after expiry, repeated
 *   engine  Get Valid Token on a fresh token vs a raw primary-key read, per store (bench/store-latency.ts)
 *   many items  Get Valid Token over 1,000 items in one execution, fresh and expired, per store (bench/many-items.ts)
 * Every contender gets a fresh grant per scenario. Prints a table per scenario, writes bench/results/latest.json and
 * the chart docs/benchmarks.svg (+ .png). Run through `npm run bench` (scripts/bench.ts), which sets the machine up first.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { N8N_VERSION } from '../tools/n8n/install';
import { startN8n } from '../tools/n8n/instance';
import { installPackage, packProject } from '../tools/n8n/package';
import { embeddedStore, ownerClient, postgresStore } from '../tools/n8n/provision';
import { startQueueCluster } from '../tools/n8n/queue';
import { startSandbox, type Sandbox, type SandboxStats } from '../tools/sandbox';
import { sleep } from '../tools/sleep';
import { createTemporaryMySqlDatabase } from '../tools/temporary-database';
import {
	builtInContender,
	embeddedContender,
	postgresContender,
	templateContender,
	type CallResult,
	type Contender,
	type Environment,
} from './contenders';
import {
	chartSvg,
	engineTable,
	percentile,
	scenarioTable,
	writeChart,
	type ContenderResult,
	type EngineResult,
	type ScenarioResult,
} from './report';
import { manyItemsTable, type ManyItemsResult } from './many-items';
import { manyItemsInN8n, manyItemsInN8nTable } from './many-items-n8n';
import { REFRESH_CALL_TIMEOUT_MS, RETRY_BOUND } from './template';

const repo = path.resolve(__dirname, '..');

const settings = {
	lifetimeSeconds: Number(process.env.BENCH_LIFETIME || 20),
	minValiditySeconds: 5,
	steadyLifetimes: Number(process.env.BENCH_STEADY_LIFETIMES || 5),
	burst: 25,
	burstRepeats: 3,
	queueBurst: 50,
	queueRepeats: 3,
	queueWorkers: 2,
	workerConcurrency: 10, // n8n's default
	engineIterations: 2000,
	manyItems: 1000,
	manyItemsTokenDelayMs: 300,
};

/**
 * n8n's PostgreSQL pool holds 2 connections by default: under concurrent webhook executions on a busy machine its
 * connection wait times out before any contender's work is measured, so every n8n process gets a few more.
 */
const N8N_ENV = { DB_POSTGRESDB_POOL_SIZE: '10' };

const started = Date.now();
function progress(line: string): void {
	const s = Math.round((Date.now() - started) / 1000);
	process.stdout.write(
		`[${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}] ${line}\n`,
	);
}

interface Run {
	contender: Contender;
	user: string;
	calls: CallResult[];
	before: SandboxStats;
}

function grantOf(sandbox: Sandbox, user: string) {
	const grant = sandbox.grants().find((g) => g.userName === user);
	if (!grant) throw new Error(`no grant for ${user} at the sandbox`);
	return grant;
}

function summarize(sandbox: Sandbox, run: Run): ContenderResult {
	const after = sandbox.stats();
	const grant = grantOf(sandbox, run.user);
	const delta = (counters: (s: SandboxStats) => Record<string, number>) =>
		(counters(after)[grant.grantId] ?? 0) - (counters(run.before)[grant.grantId] ?? 0);
	const tokenRequests = delta((s) => s.refreshRequestsByGrant);
	const failures = run.calls.filter((c) => !c.ok);
	const times = run.calls.map((c) => c.ms);
	return {
		contender: run.contender.key,
		label: run.contender.label,
		executions: run.calls.length,
		succeeded: run.calls.length - failures.length,
		failed: failures.length,
		retryBoundHits: run.calls.filter((c) => c.boundHit).length,
		apiCalls: delta((s) => s.apiCallsByGrant),
		failedApiCalls: delta((s) => s.failedApiCallsByGrant),
		tokenRequests,
		failedTokenRequests: tokenRequests - delta((s) => s.refreshesByGrant),
		grantAlive: !grant.revoked,
		p50Ms: percentile(times, 50),
		p95Ms: percentile(times, 95),
		...(failures[0]?.failure ? { firstFailure: failures[0].failure } : {}),
	};
}

/** Fresh grants for every contender; resolves when their first access tokens have expired at the sandbox. */
async function freshGrants(
	contenders: Contender[],
	scenario: string,
): Promise<{ users: Map<Contender, string>; expired: Promise<void> }> {
	const users = new Map<Contender, string>();
	for (const contender of contenders) users.set(contender, await contender.freshGrant(scenario));
	const expiresAt = Date.now() + settings.lifetimeSeconds * 1000 + 700;
	return { users, expired: sleep(expiresAt - Date.now()) };
}

async function steady(sandbox: Sandbox, contenders: Contender[]): Promise<ScenarioResult> {
	const { users } = await freshGrants(contenders, 'steady');
	const seconds = settings.lifetimeSeconds * settings.steadyLifetimes;
	progress(
		`steady: 1 execution/s per contender for ${seconds}s (${settings.steadyLifetimes} token lifetimes), contenders side by side`,
	);
	const runs: Run[] = contenders.map((contender) => ({
		contender,
		user: users.get(contender)!,
		calls: [],
		before: sandbox.stats(),
	}));
	const pending: Promise<void>[] = [];
	for (let second = 0; second < seconds; second++) {
		const tick = Date.now();
		for (const run of runs) pending.push(run.contender.call().then((r) => void run.calls.push(r)));
		if (second % 20 === 19) {
			const failed = runs
				.map((r) => `${r.contender.key} ${r.calls.filter((c) => !c.ok).length} failed`)
				.join(', ');
			progress(`  steady ${second + 1}/${seconds}s: ${failed}`);
		}
		await sleep(1000 - (Date.now() - tick));
	}
	await Promise.all(pending);
	return {
		scenario: 'steady',
		title: `Steady: 1 execution/s for ${seconds}s (${settings.steadyLifetimes} access-token lifetimes of ${settings.lifetimeSeconds}s), regular mode`,
		note: `C refreshes when less than ${settings.minValiditySeconds}s remain (Minimum Validity), so it expects one token request per ${settings.lifetimeSeconds - settings.minValiditySeconds}s.`,
		contenders: runs.map((run) => summarize(sandbox, run)),
	};
}

/**
 * `size` concurrent executions per contender right after expiry of its token (contender after contender), `repeats`
 * times. Each round starts with the next contender, so a slow moment of the machine does not always fall on the same
 * one; each contender's burst waits for the token its previous burst got to expire.
 */
async function bursts(
	sandbox: Sandbox,
	contenders: Contender[],
	scenario: string,
	size: number,
	repeats: number,
): Promise<Run[]> {
	const { users, expired } = await freshGrants(contenders, scenario);
	const runs: Run[] = contenders.map((contender) => ({
		contender,
		user: users.get(contender)!,
		calls: [],
		before: sandbox.stats(),
	}));
	const lastBurst = new Map<Run, number>();
	for (let round = 1; round <= repeats; round++) {
		progress(
			`${scenario}: round ${round}/${repeats}, each contender after its access token expired`,
		);
		await expired;
		const first = (round - 1) % runs.length;
		for (const run of [...runs.slice(first), ...runs.slice(0, first)]) {
			const previous = lastBurst.get(run);
			// the token refreshed in its previous burst expires one lifetime after that burst began
			if (previous !== undefined)
				await sleep(previous + settings.lifetimeSeconds * 1000 + 700 - Date.now());
			lastBurst.set(run, Date.now());
			const results = await Promise.all(Array.from({ length: size }, () => run.contender.call()));
			run.calls.push(...results);
			progress(`  ${run.contender.key}: ${results.filter((r) => r.ok).length}/${size} succeeded`);
		}
	}
	return runs;
}

/** A measurement of bench/ run in a process of its own (scripts/run.js <name> --json), as its JSON answer. */
async function benchProcess<T>(name: string, args: string[], timeoutMinutes: number): Promise<T> {
	const { stdout } = await promisify(execFile)(
		process.execPath,
		[path.join(repo, 'scripts', 'run.js'), name, '--json', ...args],
		{ cwd: repo, maxBuffer: 16 * 1024 * 1024, timeout: timeoutMinutes * 60 * 1000 },
	);
	return JSON.parse(stdout) as T;
}

async function engine(): Promise<EngineResult[]> {
	progress(
		`engine: bench/store-latency.ts (${settings.engineIterations} interleaved calls per store)`,
	);
	const args = ['--iterations', String(settings.engineIterations)];
	return (await benchProcess<{ results: EngineResult[] }>('store-latency', args, 5)).results;
}

async function manyItems(): Promise<ManyItemsResult[]> {
	progress(
		`many items: bench/many-items.ts (${settings.manyItems} items, provider answering in ${settings.manyItemsTokenDelayMs} ms when they expire)`,
	);
	const args = [
		'--items',
		String(settings.manyItems),
		'--token-delay-ms',
		String(settings.manyItemsTokenDelayMs),
	];
	return (await benchProcess<{ results: ManyItemsResult[] }>('many-items', args, 10)).results;
}

/** The server of contender A's table, as its n8n MySQL credential names it (contenders.ts). */
const MARIADB_SERVER = 'mysql://root@127.0.0.1:3306/';

async function mariadb(): Promise<
	{ pool: mysql.Pool; database: string; drop(): Promise<void> } | undefined
> {
	const database = await createTemporaryMySqlDatabase('oauth2tm_bench', {
		server: MARIADB_SERVER,
	}).catch((error: Error) => {
		progress(`MariaDB not reachable (${error.message}): contender A is left out`);
	});
	if (!database) return undefined;
	const pool = mysql.createPool({ uri: database.url, connectionLimit: 2 });
	return {
		pool,
		database: database.name,
		async drop() {
			await pool.end().catch(() => {});
			await database.drop();
		},
	};
}

export async function runBench(): Promise<void> {
	const workdir = fs.mkdtempSync(path.join(os.tmpdir(), 'oauth2tm-bench-'));
	const cleanups: Array<() => Promise<unknown>> = [
		async () => fs.rmSync(workdir, { recursive: true, force: true }),
	];
	const scenarios: ScenarioResult[] = [];
	try {
		// First, while no n8n process runs: the engine figures are microseconds, which n8n and what it leaves running blur.
		const engineResults = await engine();
		console.log(`\n${engineTable(engineResults)}\n`);
		const manyItemsResults = await manyItems();
		console.log(`\n${manyItemsTable(manyItemsResults)}\n`);

		const sandbox = await startSandbox({
			expiresIn: settings.lifetimeSeconds,
			reuseDetection: true,
		});
		cleanups.unshift(() => sandbox.close());
		progress(
			`sandbox provider on ${sandbox.url}: rotating refresh tokens, reuse detection on, access tokens live ${settings.lifetimeSeconds}s`,
		);
		const { tarball } = await packProject();
		cleanups.push(async () => fs.rmSync(path.dirname(tarball), { recursive: true, force: true }));
		const maria = await mariadb();
		if (maria) cleanups.unshift(() => maria.drop());

		// regular mode: one n8n process with every contender
		const userFolder = path.join(workdir, 'regular');
		await installPackage(userFolder, tarball);
		progress('starting n8n (regular mode)');
		const n8n = await startN8n({ userFolder, env: N8N_ENV, log: (line) => progress(`  ${line}`) });
		cleanups.unshift(() => n8n.stop());
		const env: Environment = {
			client: await ownerClient(n8n.url),
			n8nUrl: n8n.url,
			sandbox,
			mysql: maria,
			postgresDatabase: n8n.database,
			minValiditySeconds: settings.minValiditySeconds,
		};
		const regular: Contender[] = [];
		if (maria) regular.push(await templateContender(env));
		regular.push(await builtInContender(env));
		regular.push(await postgresContender(env));
		regular.push(
			await embeddedContender(env, path.join(userFolder, '.n8n', 'bench-tokens.sqlite')),
		);
		progress(`contenders set up: ${regular.map((c) => c.key).join(', ')}`);

		scenarios.push(await steady(sandbox, regular));
		console.log(`\n${scenarioTable(scenarios[scenarios.length - 1])}\n`);

		const burstRuns = await bursts(
			sandbox,
			regular,
			'burst',
			settings.burst,
			settings.burstRepeats,
		);
		scenarios.push({
			scenario: 'burst',
			title: `Burst: ${settings.burst} concurrent executions right after expiry, regular mode (one n8n process), ${settings.burstRepeats} rounds`,
			note: 'Expected of C: 1 token request per round, no 401.',
			contenders: burstRuns.map((run) => summarize(sandbox, run)),
		});
		console.log(`\n${scenarioTable(scenarios[scenarios.length - 1])}\n`);

		progress(`many items in n8n: ${settings.manyItems} items per execution, per store`);
		const inN8n = { client: env.client, items: settings.manyItems, runs: 5 };
		const pgStore = postgresStore(n8n.database);
		const manyItemsInN8nResults = [
			await manyItemsInN8n({
				...inN8n,
				key: 'many-pg',
				label: 'PostgreSQL',
				store: { ...pgStore, data: { ...pgStore.data, tableName: 'oauth2_tokens_many' } },
			}),
			await manyItemsInN8n({
				...inN8n,
				key: 'many-sqlite',
				label: 'SQLite (embedded)',
				store: embeddedStore(path.join(userFolder, '.n8n', 'bench-many.sqlite')),
			}),
		];
		console.log(`\n${manyItemsInN8nTable(manyItemsInN8nResults)}\n`);
		await n8n.stop();

		// queue mode: main + workers on Redis, one database
		progress(`starting n8n in queue mode: main + ${settings.queueWorkers} workers`);
		const cluster = await startQueueCluster({
			baseFolder: path.join(workdir, 'queue'),
			tarball,
			workers: settings.queueWorkers,
			concurrency: settings.workerConcurrency,
			env: N8N_ENV,
			log: (line) => progress(`  ${line}`),
		});
		cleanups.unshift(() => cluster.stop());
		const queueEnv: Environment = {
			...env,
			client: await ownerClient(cluster.main.url),
			n8nUrl: cluster.main.url,
			postgresDatabase: cluster.main.database,
		};
		const queued: Contender[] = [];
		if (maria) queued.push(await templateContender(queueEnv));
		queued.push(await builtInContender(queueEnv));
		queued.push(await postgresContender(queueEnv));
		const ranBefore = cluster.executionsByWorker();
		const queueRuns = await bursts(
			sandbox,
			queued,
			'queue',
			settings.queueBurst,
			settings.queueRepeats,
		);
		const perWorker = cluster.workers.map(() => 0);
		for (const [execution, worker] of cluster.executionsByWorker())
			if (!ranBefore.has(execution)) perWorker[worker] += 1;
		scenarios.push({
			scenario: 'queue mode',
			title: `Queue mode: main + ${settings.queueWorkers} workers, ${settings.queueBurst} concurrent executions right after expiry, ${settings.queueRepeats} rounds`,
			note: `Executions per worker (from their logs): ${perWorker.join(' / ')}. Expected of C: 1 token request per round, no 401.`,
			contenders: queueRuns.map((run) => summarize(sandbox, run)),
		});
		console.log(`\n${scenarioTable(scenarios[scenarios.length - 1])}\n`);
		await cluster.stop();

		const machine = {
			cores: os.cpus().length,
			cpu: os.cpus()[0]?.model ?? 'unknown',
			memoryGb: Math.round(os.totalmem() / 2 ** 30),
			platform: `${os.platform()} ${os.release()}`,
		};
		const results = {
			date: new Date().toISOString(),
			machine,
			node: process.version,
			n8n: N8N_VERSION,
			settings: {
				...settings,
				retryBound: RETRY_BOUND,
				refreshCallTimeoutMs: REFRESH_CALL_TIMEOUT_MS,
			},
			scenarios,
			engine: engineResults,
			manyItems: manyItemsResults,
			manyItemsInN8n: manyItemsInN8nResults,
		};
		fs.mkdirSync(path.join(repo, 'bench', 'results'), { recursive: true });
		fs.writeFileSync(
			path.join(repo, 'bench', 'results', 'latest.json'),
			`${JSON.stringify(results, null, 2)}\n`,
		);
		const subtitle = `n8n ${N8N_VERSION}, Node ${process.version}, ${machine.cores} cores; access tokens live ${settings.lifetimeSeconds}s; refresh tokens rotate, reuse revokes the grant`;
		const chart = await writeChart(
			chartSvg(scenarios, subtitle),
			path.join(repo, 'docs', 'benchmarks.svg'),
			path.join(repo, 'docs', 'benchmarks.png'),
		);
		progress(
			`wrote bench/results/latest.json and ${chart.map((f) => path.relative(repo, f)).join(', ')} in ${Math.round((Date.now() - started) / 1000)}s`,
		);
	} finally {
		for (const cleanup of cleanups) await cleanup().catch(() => {});
	}
}
