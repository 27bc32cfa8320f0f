// Starts and stops one real n8n (a cached install, on the Node.js major it is pinned with) for the demo, the e2e tests
// and the compatibility run.
// n8n's own database is a fresh PostgreSQL database per run (the machine's local server, no native module),
// dropped on stop unless kept. Data lives under <userFolder>/.n8n; community packages under .n8n/nodes.
import { type ChildProcess, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { nodeRuntimeOf } from '../node-runtime';
import { sleep } from '../sleep';
import {
	createTemporaryPostgresDatabase,
	dropPostgresDatabase,
	dropStalePostgresDatabases,
	type TemporaryPostgresDatabase,
} from '../temporary-database';
import { CURRENT_N8N, ensureN8n, type Log, type N8nTarget } from './install';

export function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const srv = net.createServer();
		srv.unref();
		srv.on('error', reject);
		srv.listen(0, '127.0.0.1', () => {
			const { port } = srv.address() as net.AddressInfo;
			srv.close(() => resolve(port));
		});
	});
}

export interface PgConfig {
	host: string;
	port: number;
	user: string;
	password: string;
}

export function pgConfig(): PgConfig {
	return {
		host: process.env.N8N_E2E_PGHOST || '127.0.0.1',
		port: Number(process.env.N8N_E2E_PGPORT || 5432),
		user: process.env.N8N_E2E_PGUSER || 'postgres',
		password: process.env.N8N_E2E_PGPASSWORD || '',
	};
}

/** pgConfig's server as a URL, on its maintenance database `postgres`. */
function pgServer(): string {
	const { host, port, user, password } = pgConfig();
	return `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${host}:${port}/postgres`;
}

const DB_PREFIX = 'n8n_oauth2tm';
/** Databases of runs that died without cleaning up are dropped after a day. */
const STALE_DATABASE_MS = 24 * 3600 * 1000;

async function freshDatabase(): Promise<TemporaryPostgresDatabase> {
	await dropStalePostgresDatabases(pgServer(), DB_PREFIX, STALE_DATABASE_MS).catch(() => {});
	return createTemporaryPostgresDatabase(DB_PREFIX, { server: pgServer() });
}

export async function dropDatabase(name: string): Promise<void> {
	await dropPostgresDatabase(pgServer(), name);
}

/** Environment for an n8n process: its folder, ports, database, and no calls home. */
function n8nEnv({
	userFolder,
	port,
	brokerPort,
	database,
	encryptionKey,
	extra = {},
}: {
	userFolder: string;
	port: number;
	brokerPort: number;
	database: string;
	encryptionKey: string;
	extra?: NodeJS.ProcessEnv;
}): NodeJS.ProcessEnv {
	const pg = pgConfig();
	const base = `http://127.0.0.1:${port}/`;
	const env = { ...process.env };
	for (const key of Object.keys(env)) {
		if (key.startsWith('N8N_') || key.startsWith('DB_') || key.startsWith('JEST_')) delete env[key];
	}
	return {
		...env,
		N8N_USER_FOLDER: userFolder,
		N8N_PORT: String(port),
		N8N_LISTEN_ADDRESS: '127.0.0.1',
		N8N_HOST: '127.0.0.1',
		N8N_PROTOCOL: 'http',
		N8N_EDITOR_BASE_URL: base,
		WEBHOOK_URL: base,
		N8N_RUNNERS_BROKER_PORT: String(brokerPort),
		N8N_RUNNERS_BROKER_LISTEN_ADDRESS: '127.0.0.1',
		N8N_ENCRYPTION_KEY: encryptionKey,
		N8N_SECURE_COOKIE: 'false',
		N8N_DIAGNOSTICS_ENABLED: 'false',
		N8N_VERSION_NOTIFICATIONS_ENABLED: 'false',
		N8N_TEMPLATES_ENABLED: 'false',
		N8N_PERSONALIZATION_ENABLED: 'false',
		N8N_DYNAMIC_BANNERS_ENABLED: 'false',
		N8N_HIRING_BANNER_ENABLED: 'false',
		N8N_AI_ENABLED: 'false',
		N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS: 'false',
		N8N_LOG_LEVEL: process.env.N8N_E2E_LOG_LEVEL || 'info',
		N8N_LOG_OUTPUT: 'console',
		EXECUTIONS_DATA_PRUNE: 'false',
		N8N_WORKFLOW_PUBLICATION_OUTBOX_POLL_INTERVAL_MS: '500', // published webhooks go live within a second
		DB_TYPE: 'postgresdb',
		DB_POSTGRESDB_HOST: pg.host,
		DB_POSTGRESDB_PORT: String(pg.port),
		DB_POSTGRESDB_USER: pg.user,
		DB_POSTGRESDB_PASSWORD: pg.password,
		DB_POSTGRESDB_DATABASE: database,
		NODE_OPTIONS: '',
		NODE_ENV: 'production', // under jest NODE_ENV=test, and n8n's CLI then exits at once without a word
		...extra,
	};
}

export interface StartN8nOptions {
	/** n8n's folder (created); its data goes to <userFolder>/.n8n */
	userFolder: string;
	/** which n8n, on which Node.js (default: the current pin on Node 24) */
	target?: N8nTarget;
	/** free ones when omitted */
	port?: number;
	brokerPort?: number;
	/** an existing database to use (kept on stop); else a fresh one, dropped on stop */
	database?: string;
	encryptionKey?: string;
	log?: Log;
	/** extra environment */
	env?: NodeJS.ProcessEnv;
	/** do not drop the fresh database on stop */
	keepDatabase?: boolean;
	/** default <userFolder>/n8n.log */
	logFile?: string;
	timeoutMs?: number;
	/**
	 * The n8n command and its options (default ['start']). A queue-mode worker answers its health check on `port`
	 * when its env sets QUEUE_HEALTH_CHECK_ACTIVE and QUEUE_HEALTH_CHECK_PORT to it.
	 */
	args?: string[];
}

export interface CliResult {
	code: number | null;
	stdout: string;
	stderr: string;
}

export interface N8nInstance {
	url: string;
	port: number;
	brokerPort: number;
	userFolder: string;
	database: string;
	encryptionKey: string;
	logFile: string;
	startMs: number;
	child: ChildProcess;
	env: NodeJS.ProcessEnv;
	/** Runs an n8n CLI command with this instance's environment (and `extraEnv`: e.g. a broker port of its own beside the running n8n). */
	cli(args: string[], extraEnv?: NodeJS.ProcessEnv): Promise<CliResult>;
	/** SIGTERM, wait for n8n's graceful shutdown (then SIGKILL), drop the database. */
	stop(options?: { keepDatabase?: boolean }): Promise<void>;
}

/** Starts n8n and resolves once it answers. */
export async function startN8n(options: StartN8nOptions): Promise<N8nInstance> {
	const log = options.log || (() => {});
	const target = options.target ?? CURRENT_N8N;
	const { bin } = await ensureN8n({ target, log });
	const node = nodeRuntimeOf(target.nodeMajor);
	const userFolder = path.resolve(options.userFolder);
	fs.mkdirSync(userFolder, { recursive: true });
	const port = options.port || (await freePort());
	let brokerPort = options.brokerPort || (await freePort());
	while (brokerPort === port) brokerPort = await freePort();
	const fresh = options.database ? undefined : await freshDatabase();
	const database = options.database || fresh!.name;
	const encryptionKey = options.encryptionKey || crypto.randomBytes(24).toString('base64url');
	const env = n8nEnv({ userFolder, port, brokerPort, database, encryptionKey, extra: options.env });
	const logFile = options.logFile || path.join(userFolder, 'n8n.log');
	const out = fs.openSync(logFile, 'a');
	const started = Date.now();
	log(
		`Starting n8n ${target.version} on Node ${target.nodeMajor}, http://127.0.0.1:${port} (database ${database}, log ${logFile})`,
	);
	const args = options.args ?? ['start'];
	const servesEditor = args[0] === 'start';
	const child = spawn(node, [bin, ...args], {
		cwd: userFolder,
		env,
		stdio: ['ignore', out, out],
		detached: false,
	});
	let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
	child.on('exit', (code, signal) => {
		exited = { code, signal };
	});
	const url = `http://127.0.0.1:${port}`;
	const deadline = Date.now() + (options.timeoutMs || 180000);
	let lastTick = Date.now();
	for (;;) {
		if (exited) {
			fs.closeSync(out);
			const tail = fs.readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n');
			if (!options.keepDatabase) await fresh?.drop().catch(() => {});
			throw new Error(
				`n8n exited during start (${JSON.stringify(exited)}). Last lines of ${logFile}:\n${tail}`,
			);
		}
		try {
			const answers = async (route: string) => {
				const res = await fetch(`${url}${route}`, { signal: AbortSignal.timeout(2000) });
				await res.arrayBuffer();
				return res.ok;
			};
			// database connected and migrated; n8n 1.x says so before its REST routes are mounted, hence the second
			// probe where there are REST routes (not on a worker's health-check port)
			if (
				(await answers('/healthz/readiness')) &&
				(!servesEditor || (await answers('/rest/settings')))
			)
				break;
		} catch {
			// not listening yet
		}
		if (Date.now() > deadline) {
			child.kill('SIGKILL');
			throw new Error(
				`n8n did not answer within ${options.timeoutMs || 180000} ms; see ${logFile}`,
			);
		}
		if (Date.now() - lastTick > 10000) {
			lastTick = Date.now();
			log(`  ... n8n starting (${Math.round((Date.now() - started) / 1000)}s)`);
		}
		await sleep(250);
	}
	const startMs = Date.now() - started;
	log(`n8n answered after ${(startMs / 1000).toFixed(1)}s`);

	let stopping: Promise<void> | null = null;
	const instance: N8nInstance = {
		url,
		port,
		brokerPort,
		userFolder,
		database,
		encryptionKey,
		logFile,
		startMs,
		child,
		env,
		cli(args, extraEnv = {}) {
			return new Promise((resolve, reject) => {
				const c = spawn(node, [bin, ...args], {
					cwd: userFolder,
					env: { ...env, ...extraEnv },
					stdio: ['ignore', 'pipe', 'pipe'],
				});
				let stdout = '';
				let stderr = '';
				c.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
				c.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
				c.on('error', reject);
				c.on('exit', (code) => resolve({ code, stdout, stderr }));
			});
		},
		stop({ keepDatabase = options.keepDatabase } = {}) {
			if (stopping) return stopping;
			stopping = (async () => {
				if (!exited) {
					const gone = new Promise((resolve) => child.once('exit', resolve));
					child.kill('SIGTERM');
					const timer = setTimeout(() => !exited && child.kill('SIGKILL'), 30000);
					await gone;
					clearTimeout(timer);
				}
				try {
					fs.closeSync(out);
				} catch {
					// closed already
				}
				if (!keepDatabase) await fresh?.drop().catch(() => {});
			})();
			return stopping;
		},
	};
	return instance;
}
