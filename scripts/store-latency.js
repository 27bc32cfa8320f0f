#!/usr/bin/env node
'use strict';
/*
 * Get Valid Token (fresh token: no refresh) latency beside a raw primary-key read of the same row, per store, in one
 * run: PostgreSQL, MySQL/MariaDB and embedded SQLite. Each store gets a temporary database (or file) that is dropped
 * afterwards. Calls run one at a time, interleaved (raw read, Get Valid Token, raw read, ...) so both see the same
 * server conditions.
 *
 *   node scripts/store-latency.js [--iterations 2000] [--warmup 300] [--json]
 *
 * Settings: TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres),
 *           TEST_MYSQL_URL (default mysql://root@127.0.0.1:3306/test). A store whose server does not answer is
 *           reported as skipped. Needs Node >= 22.16 (node:sqlite); on an older Node it re-runs itself under the
 *           project's runtime (scripts/node-runtime.js).
 */
const { randomBytes } = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 16)) {
	const { runWithRuntime } = require('./node-runtime');
	runWithRuntime([__filename, ...process.argv.slice(2)]).then((code) => process.exit(code));
	return;
}

require('./ts-require');
const root = path.join(__dirname, '..');
const { TokenManager } = require(path.join(root, 'engine', 'token-manager.ts'));
const { TokenCipher } = require(path.join(root, 'engine', 'crypto.ts'));
const { resolveOAuthClient } = require(path.join(root, 'engine', 'presets.ts'));
const { PostgresTokenStore, MySqlTokenStore, SqliteTokenStore } = require(path.join(root, 'engine', 'stores', 'index.ts'));
// The baseline: the same row read by primary key through the same driver, on a connection of its own.
const COLUMN_LIST = require(path.join(root, 'engine', 'stores', 'sql-schema.ts')).COLUMNS.join(', ');

const args = process.argv.slice(2);
const option = (name, fallback) => {
	const index = args.indexOf(`--${name}`);
	return index >= 0 ? Number(args[index + 1]) : fallback;
};
const ITERATIONS = option('iterations', 2000);
const WARMUP = option('warmup', 300);
const JSON_OUTPUT = args.includes('--json');

const POSTGRES_URL = process.env.TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const MYSQL_URL = process.env.TEST_MYSQL_URL || 'mysql://root@127.0.0.1:3306/test';
const uniqueName = () => `oauth2tm_latency_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;

async function postgresSetup() {
	const { Client } = require('pg');
	const name = uniqueName();
	const admin = new Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
	await admin.connect();
	await admin.query(`create database "${name}"`);
	await admin.end();
	const url = new URL(POSTGRES_URL);
	url.pathname = `/${name}`;
	const raw = new (require('pg').Pool)({ connectionString: url.toString(), max: 1 });
	return {
		store: new PostgresTokenStore({ pool: { connectionString: url.toString() }, createTableIfMissing: true }),
		rawRead: async (id) => (await raw.query(`select ${COLUMN_LIST} from oauth2_tokens where connection_id = $1`, [id])).rows[0],
		async drop() {
			await raw.end();
			const client = new Client({ connectionString: POSTGRES_URL });
			await client.connect();
			await client.query(`drop database if exists "${name}" with (force)`);
			await client.end();
		},
	};
}

async function mysqlSetup() {
	const mysql = require('mysql2/promise');
	const name = uniqueName();
	const admin = await mysql.createConnection({ uri: MYSQL_URL, connectTimeout: 3000 });
	await admin.query(`create database \`${name}\``);
	await admin.end();
	const url = new URL(MYSQL_URL);
	url.pathname = `/${name}`;
	const raw = mysql.createPool({ uri: url.toString(), connectionLimit: 1 });
	return {
		store: new MySqlTokenStore({ uri: url.toString(), createTableIfMissing: true }),
		rawRead: async (id) => (await raw.execute(`select ${COLUMN_LIST} from oauth2_tokens where connection_id = ?`, [id]))[0][0],
		async drop() {
			await raw.end();
			const db = await mysql.createConnection({ uri: MYSQL_URL });
			await db.query(`drop database if exists \`${name}\``);
			await db.end();
		},
	};
}

async function sqliteSetup() {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oauth2tm-latency-'));
	const file = path.join(dir, 'tokens.sqlite');
	let raw;
	return {
		store: new SqliteTokenStore({ filePath: file }),
		// Opened on first use: the store creates the file and table with its insert.
		rawRead: async (id) => {
			raw ??= new (require('node:sqlite').DatabaseSync)(file);
			return raw.prepare(`select ${COLUMN_LIST} from oauth2_tokens where connection_id = ?`).get(id);
		},
		async drop() {
			raw?.close();
			fs.rmSync(dir, { recursive: true, force: true });
		},
	};
}

function percentile(sorted, p) {
	return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function summary(samples) {
	const sorted = [...samples].sort((a, b) => a - b);
	return { p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99) };
}

async function measure(label, setup) {
	let context;
	try {
		context = await setup();
	} catch (error) {
		return { store: label, skipped: `${error.message || error}`.slice(0, 160) };
	}
	const { store } = context;
	try {
		const key = `latency-test-key-${randomBytes(8).toString('hex')}`;
		const cipher = new TokenCipher(key);
		const connectionId = 'latency:acme';
		// A realistic row: a 1.2 KB access token, valid for an hour, so Get Valid Token never refreshes.
		const access = `at-${randomBytes(900).toString('base64url')}`;
		await store.insert({
			connectionId,
			provider: 'pipedrive',
			accessToken: cipher.encrypt(access, connectionId, 'access_token'),
			refreshToken: cipher.encrypt(`rt-${randomBytes(32).toString('hex')}`, connectionId, 'refresh_token'),
			tokenType: 'Bearer',
			scope: 'base deals:read',
			expiresAt: new Date(Date.now() + 3600_000),
			metadata: { api_domain: 'https://acme.pipedrive.com' },
			status: 'active',
			lastRefreshedAt: null,
			refreshCount: 0,
			lastError: null,
			appFingerprint: null,
			tokenIssuedAt: null,
		});
		const manager = new TokenManager({
			store,
			cipher,
			client: resolveOAuthClient({ preset: 'pipedrive', clientId: 'id', clientSecret: 'secret', redirectUri: 'http://127.0.0.1:9/cb', tokenUrl: 'http://127.0.0.1:9/token' }),
		});
		const rawRead = () => context.rawRead(connectionId);
		const getValidToken = async () => {
			const result = await manager.getValidToken(connectionId);
			if (result.refreshed || result.connection.accessToken !== access) throw new Error('Get Valid Token did not return the stored fresh token');
		};
		for (let i = 0; i < WARMUP; i++) {
			await rawRead();
			await getValidToken();
		}
		const raw = [];
		const gvt = [];
		for (let i = 0; i < ITERATIONS; i++) {
			let t = performance.now();
			await rawRead();
			raw.push(performance.now() - t);
			t = performance.now();
			await getValidToken();
			gvt.push(performance.now() - t);
		}
		const rawSummary = summary(raw);
		const gvtSummary = summary(gvt);
		return { store: label, description: store.description, iterations: ITERATIONS, rawRead: rawSummary, getValidToken: gvtSummary };
	} finally {
		await store.close().catch(() => undefined);
		await context.drop().catch(() => undefined);
	}
}

(async () => {
	const results = [];
	for (const [label, setup] of [
		['PostgreSQL', postgresSetup],
		['MySQL', mysqlSetup],
		['SQLite', sqliteSetup],
	]) {
		results.push(await measure(label, setup));
	}
	if (JSON_OUTPUT) {
		process.stdout.write(`${JSON.stringify({ node: process.version, iterations: ITERATIONS, results }, null, 2)}\n`);
		return;
	}
	const ms = (value) => `${value.toFixed(3)} ms`;
	process.stdout.write(`Node ${process.version}, ${ITERATIONS} interleaved calls per measure after ${WARMUP} warm-up pairs, one at a time\n\n`);
	process.stdout.write('store        raw PK read p50   Get Valid Token p50   overhead p50   (p95 raw / GVT)\n');
	for (const r of results) {
		if (r.skipped) {
			process.stdout.write(`${r.store.padEnd(12)} skipped: ${r.skipped}\n`);
			continue;
		}
		const overhead = r.getValidToken.p50 - r.rawRead.p50;
		process.stdout.write(
			`${r.store.padEnd(12)} ${ms(r.rawRead.p50).padStart(15)}   ${ms(r.getValidToken.p50).padStart(19)}   ${ms(overhead).padStart(12)}   (${ms(r.rawRead.p95)} / ${ms(r.getValidToken.p95)})\n`,
		);
	}
})().catch((error) => {
	process.stderr.write(`${error.stack || error}\n`);
	process.exit(1);
});
