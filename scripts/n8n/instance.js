'use strict';
// Starts and stops one real n8n (the cached install, on the Node 24 runtime) for the demo and the e2e tests.
// n8n's own database is a fresh PostgreSQL database per run (the machine's local server, no native module),
// dropped on stop unless kept. Data lives under <userFolder>/.n8n; community packages under .n8n/nodes.
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { nodeRuntime } = require('../node-runtime');
const { ensureN8n } = require('./install');

function freePort() {
	return new Promise((resolve, reject) => {
		const srv = net.createServer();
		srv.unref();
		srv.on('error', reject);
		srv.listen(0, '127.0.0.1', () => {
			const { port } = srv.address();
			srv.close(() => resolve(port));
		});
	});
}

function sleep(ms) {
	return new Promise((r) => setTimeout(r, ms));
}

function pgConfig() {
	return {
		host: process.env.N8N_E2E_PGHOST || '127.0.0.1',
		port: Number(process.env.N8N_E2E_PGPORT || 5432),
		user: process.env.N8N_E2E_PGUSER || 'postgres',
		password: process.env.N8N_E2E_PGPASSWORD || '',
	};
}

async function withAdminClient(fn) {
	const { Client } = require('pg');
	const client = new Client({ ...pgConfig(), database: 'postgres' });
	await client.connect();
	try {
		return await fn(client);
	} finally {
		await client.end();
	}
}

const DB_PREFIX = 'n8n_oauth2tm_';

/** Databases of runs that died without cleaning up (the name carries its creation time): dropped after a day. */
async function dropStaleDatabases(maxAgeMs = 24 * 3600 * 1000) {
	await withAdminClient(async (c) => {
		const { rows } = await c.query('SELECT datname FROM pg_database WHERE datname LIKE $1', [`${DB_PREFIX}%`]);
		for (const { datname } of rows) {
			const created = parseInt(datname.slice(DB_PREFIX.length).split('_')[0], 36);
			if (Number.isFinite(created) && Date.now() - created > maxAgeMs) {
				await c.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
			}
		}
	});
}

async function createDatabase(name) {
	await withAdminClient((c) => c.query(`CREATE DATABASE "${name}"`));
}

async function dropDatabase(name) {
	await withAdminClient((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
}

/** Environment for an n8n process: its folder, ports, database, and no calls home. */
function n8nEnv({ userFolder, port, brokerPort, database, encryptionKey, extra = {} }) {
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

/**
 * Starts n8n and resolves once it answers. Options:
 *   userFolder (required; created), port / brokerPort (free ones when omitted), log(line),
 *   env (extra environment), keepDatabase (do not drop on stop), logFile (default <userFolder>/n8n.log),
 *   args (the n8n command and its options, default ['start']; a queue-mode worker answers its health check on
 *   `port` when its env sets QUEUE_HEALTH_CHECK_ACTIVE and QUEUE_HEALTH_CHECK_PORT to it).
 * Returns { url, port, userFolder, database, encryptionKey, logFile, startMs, child, cli(args), stop() }.
 */
async function startN8n(options) {
	const log = options.log || (() => {});
	const { bin } = await ensureN8n({ log });
	const node = nodeRuntime();
	const userFolder = path.resolve(options.userFolder);
	fs.mkdirSync(userFolder, { recursive: true });
	const port = options.port || (await freePort());
	let brokerPort = options.brokerPort || (await freePort());
	while (brokerPort === port) brokerPort = await freePort();
	const database = options.database || `${DB_PREFIX}${Date.now().toString(36)}_${crypto.randomBytes(3).toString('hex')}`;
	const encryptionKey = options.encryptionKey || crypto.randomBytes(24).toString('base64url');
	if (!options.database) {
		await dropStaleDatabases().catch(() => {});
		await createDatabase(database);
	}
	const env = n8nEnv({ userFolder, port, brokerPort, database, encryptionKey, extra: options.env });
	const logFile = options.logFile || path.join(userFolder, 'n8n.log');
	const out = fs.openSync(logFile, 'a');
	const started = Date.now();
	log(`Starting n8n on http://127.0.0.1:${port} (database ${database}, log ${logFile})`);
	const child = spawn(node, [bin, ...(options.args || ['start'])], { cwd: userFolder, env, stdio: ['ignore', out, out], detached: false });
	let exited = null;
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
			if (!options.database && !options.keepDatabase) await dropDatabase(database).catch(() => {});
			throw new Error(`n8n exited during start (${JSON.stringify(exited)}). Last lines of ${logFile}:\n${tail}`);
		}
		try {
			const res = await fetch(`${url}/healthz/readiness`, { signal: AbortSignal.timeout(2000) });
			if (res.ok) break; // database connected and migrated, n8n fully started
		} catch {
			// not listening yet
		}
		if (Date.now() > deadline) {
			child.kill('SIGKILL');
			throw new Error(`n8n did not answer within ${options.timeoutMs || 180000} ms; see ${logFile}`);
		}
		if (Date.now() - lastTick > 10000) {
			lastTick = Date.now();
			log(`  ... n8n starting (${Math.round((Date.now() - started) / 1000)}s)`);
		}
		await sleep(250);
	}
	const startMs = Date.now() - started;
	log(`n8n answered after ${(startMs / 1000).toFixed(1)}s`);

	let stopping = null;
	const instance = {
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
		/** Runs an n8n CLI command with this instance's environment; resolves { code, stdout, stderr }. */
		cli(args) {
			return new Promise((resolve, reject) => {
				const c = spawn(node, [bin, ...args], { cwd: userFolder, env, stdio: ['ignore', 'pipe', 'pipe'] });
				let stdout = '';
				let stderr = '';
				c.stdout.on('data', (d) => (stdout += d));
				c.stderr.on('data', (d) => (stderr += d));
				c.on('error', reject);
				c.on('exit', (code) => resolve({ code, stdout, stderr }));
			});
		},
		/** SIGTERM, wait for n8n's graceful shutdown (then SIGKILL), drop the database. */
		stop({ keepDatabase = options.keepDatabase } = {}) {
			if (stopping) return stopping;
			stopping = (async () => {
				if (!exited) {
					const gone = new Promise((r) => child.once('exit', r));
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
				if (!keepDatabase && !options.database) await dropDatabase(database).catch(() => {});
			})();
			return stopping;
		},
	};
	return instance;
}

module.exports = { startN8n, freePort, createDatabase, dropDatabase, pgConfig };
