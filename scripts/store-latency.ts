/*
 * Get Valid Token (fresh token: no refresh) latency beside a raw primary-key read of the same row, per store, in one
 * run: PostgreSQL, MySQL/MariaDB and embedded SQLite. Each store gets a temporary database (or file) that is dropped
 * afterwards. Calls run one at a time, interleaved (raw read, Get Valid Token, raw read, ...) so both see the same
 * server conditions.
 *
 *   npm run store-latency [-- --iterations 2000] [--warmup 300] [--json]
 *
 * Settings: TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres),
 *           TEST_MYSQL_URL (default mysql://root@127.0.0.1:3306/test). A store whose server does not answer is
 *           reported as skipped. Needs Node >= 22.16 (node:sqlite): run.js starts it on the Node 24 runtime.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import mysql from 'mysql2/promise';
import { Client, Pool } from 'pg';
import { TokenCipher } from '../engine/crypto';
import { resolveOAuthClient } from '../engine/presets';
import { MySqlTokenStore, PostgresTokenStore, SqliteTokenStore } from '../engine/stores';
import { COLUMNS } from '../engine/stores/sql-schema';
import { TokenManager } from '../engine/token-manager';
import type { TokenStore } from '../engine/store';

// The baseline: the same row read by primary key through the same driver, on a connection of its own.
const COLUMN_LIST = COLUMNS.join(', ');

interface StoreUnderTest {
	store: TokenStore;
	rawRead(connectionId: string): Promise<unknown>;
	drop(): Promise<void>;
}

interface Percentiles {
	p50: number;
	p95: number;
	p99: number;
}

type Measure =
	| { store: string; skipped: string }
	| { store: string; skipped?: undefined; description: string; iterations: number; rawRead: Percentiles; getValidToken: Percentiles };

const POSTGRES_URL = process.env.TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
const MYSQL_URL = process.env.TEST_MYSQL_URL || 'mysql://root@127.0.0.1:3306/test';
const uniqueName = () => `oauth2tm_latency_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;

/** A temporary database on the TEST_POSTGRES_URL server (also for scripts/keep-alive-sweep.ts). */
export async function temporaryPostgresDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
	const name = uniqueName();
	const admin = new Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
	await admin.connect();
	await admin.query(`create database "${name}"`);
	await admin.end();
	const url = new URL(POSTGRES_URL);
	url.pathname = `/${name}`;
	return {
		url: url.toString(),
		async drop() {
			const client = new Client({ connectionString: POSTGRES_URL });
			await client.connect();
			await client.query(`drop database if exists "${name}" with (force)`);
			await client.end();
		},
	};
}

async function postgresSetup(): Promise<StoreUnderTest> {
	const database = await temporaryPostgresDatabase();
	const raw = new Pool({ connectionString: database.url, max: 1 });
	return {
		store: new PostgresTokenStore({ pool: { connectionString: database.url }, createTableIfMissing: true }),
		rawRead: async (id) => (await raw.query(`select ${COLUMN_LIST} from oauth2_tokens where connection_id = $1`, [id])).rows[0],
		async drop() {
			await raw.end();
			await database.drop();
		},
	};
}

async function mysqlSetup(): Promise<StoreUnderTest> {
	const name = uniqueName();
	const admin = await mysql.createConnection({ uri: MYSQL_URL, connectTimeout: 3000 });
	await admin.query(`create database \`${name}\``);
	await admin.end();
	const url = new URL(MYSQL_URL);
	url.pathname = `/${name}`;
	const raw = mysql.createPool({ uri: url.toString(), connectionLimit: 1 });
	return {
		store: new MySqlTokenStore({ uri: url.toString(), createTableIfMissing: true }),
		rawRead: async (id) => (await raw.execute<mysql.RowDataPacket[]>(`select ${COLUMN_LIST} from oauth2_tokens where connection_id = ?`, [id]))[0][0],
		async drop() {
			await raw.end();
			const db = await mysql.createConnection({ uri: MYSQL_URL });
			await db.query(`drop database if exists \`${name}\``);
			await db.end();
		},
	};
}

async function sqliteSetup(): Promise<StoreUnderTest> {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oauth2tm-latency-'));
	const file = path.join(dir, 'tokens.sqlite');
	let raw: DatabaseSync | undefined;
	let read: StatementSync | undefined;
	return {
		store: new SqliteTokenStore({ filePath: file }),
		// Opened on first use: the store creates the file and table with its insert. The statement is prepared once,
		// as the store keeps its own: preparing costs more than the read itself.
		rawRead: async (id) => {
			raw ??= new DatabaseSync(file);
			read ??= raw.prepare(`select ${COLUMN_LIST} from oauth2_tokens where connection_id = ?`);
			return read.get(id);
		},
		async drop() {
			raw?.close();
			fs.rmSync(dir, { recursive: true, force: true });
		},
	};
}

function percentile(sorted: number[], p: number) {
	return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function summary(samples: number[]): Percentiles {
	const sorted = [...samples].sort((a, b) => a - b);
	return { p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99) };
}

async function measure(label: string, setup: () => Promise<StoreUnderTest>, iterations: number, warmup: number): Promise<Measure> {
	let context: StoreUnderTest;
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
		for (let i = 0; i < warmup; i++) {
			await rawRead();
			await getValidToken();
		}
		const raw: number[] = [];
		const gvt: number[] = [];
		for (let i = 0; i < iterations; i++) {
			let t = performance.now();
			await rawRead();
			raw.push(performance.now() - t);
			t = performance.now();
			await getValidToken();
			gvt.push(performance.now() - t);
		}
		const rawSummary = summary(raw);
		const gvtSummary = summary(gvt);
		return { store: label, description: store.description, iterations: iterations, rawRead: rawSummary, getValidToken: gvtSummary };
	} finally {
		await store.close().catch(() => undefined);
		await context.drop().catch(() => undefined);
	}
}

export async function main(args: string[]): Promise<number> {
	const option = (name: string, fallback: number) => {
		const index = args.indexOf(`--${name}`);
		return index >= 0 ? Number(args[index + 1]) : fallback;
	};
	const iterations = option('iterations', 2000);
	const warmup = option('warmup', 300);
	const results: Measure[] = [];
	for (const [label, setup] of [
		['PostgreSQL', postgresSetup],
		['MySQL', mysqlSetup],
		['SQLite', sqliteSetup],
	] as const) {
		results.push(await measure(label, setup, iterations, warmup));
	}
	if (args.includes('--json')) {
		process.stdout.write(`${JSON.stringify({ node: process.version, iterations, results }, null, 2)}\n`);
		return 0;
	}
	const ms = (value: number) => `${value.toFixed(3)} ms`;
	process.stdout.write(`Node ${process.version}, ${iterations} interleaved calls per measure after ${warmup} warm-up pairs, one at a time\n\n`);
	process.stdout.write('store        raw PK read p50   Get Valid Token p50   overhead p50   (p95 raw / GVT)\n');
	for (const r of results) {
		if (r.skipped !== undefined) {
			process.stdout.write(`${r.store.padEnd(12)} skipped: ${r.skipped}\n`);
			continue;
		}
		const overhead = r.getValidToken.p50 - r.rawRead.p50;
		process.stdout.write(
			`${r.store.padEnd(12)} ${ms(r.rawRead.p50).padStart(15)}   ${ms(r.getValidToken.p50).padStart(19)}   ${ms(overhead).padStart(12)}   (${ms(r.rawRead.p95)} / ${ms(r.getValidToken.p95)})\n`,
		);
	}
	return 0;
}
