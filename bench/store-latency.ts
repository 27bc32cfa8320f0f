/*
 * Get Valid Token (fresh token: no refresh) latency beside a raw primary-key read of the same row, per store, in one
 * run: PostgreSQL, MySQL/MariaDB and embedded SQLite. Each store gets a temporary database (or file) that is dropped
 * afterwards. Calls run one at a time, interleaved (raw read, Get Valid Token, raw read, ...) so both see the same
 * server conditions.
 *
 *   npm run store-latency [-- --iterations 2000] [--warmup 300] [--json]
 *
 * With --list N instead: List Connections with Return All (listConnections, a page of LIST_PAGE_SIZE per query) over
 * N connections, and the same list filtered by status and id prefix, each timed --runs times after one warm-up.
 *
 *   npm run store-latency -- --list 10000 [--runs 5] [--json]
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
import { Pool } from 'pg';
import { listConnections, LIST_PAGE_SIZE, type ListFilters } from '../engine/connections';
import { TokenCipher } from '../engine/crypto';
import { resolveOAuthClient } from '../engine/presets';
import { MySqlTokenStore, PostgresTokenStore, SqliteTokenStore } from '../engine/stores';
import { COLUMNS } from '../engine/stores/sql-schema';
import { TokenManager } from '../engine/token-manager';
import type { TokenStore } from '../engine/store';
import {
	createTemporaryMySqlDatabase,
	createTemporaryPostgresDatabase,
} from '../tools/temporary-database';

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
	| {
			store: string;
			skipped?: undefined;
			description: string;
			iterations: number;
			rawRead: Percentiles;
			getValidToken: Percentiles;
	  };

async function postgresSetup(): Promise<StoreUnderTest> {
	const database = await createTemporaryPostgresDatabase('oauth2tm_latency');
	const raw = new Pool({ connectionString: database.url, max: 1 });
	return {
		store: new PostgresTokenStore({
			pool: { connectionString: database.url },
			createTableIfMissing: true,
		}),
		rawRead: async (id) =>
			(await raw.query(`select ${COLUMN_LIST} from oauth2_tokens where connection_id = $1`, [id]))
				.rows[0],
		async drop() {
			await raw.end();
			await database.drop();
		},
	};
}

async function mysqlSetup(): Promise<StoreUnderTest> {
	const database = await createTemporaryMySqlDatabase('oauth2tm_latency');
	const raw = mysql.createPool({ uri: database.url, connectionLimit: 1 });
	return {
		store: new MySqlTokenStore({ uri: database.url, createTableIfMissing: true }),
		rawRead: async (id) =>
			(
				await raw.execute<mysql.RowDataPacket[]>(
					`select ${COLUMN_LIST} from oauth2_tokens where connection_id = ?`,
					[id],
				)
			)[0][0],
		async drop() {
			await raw.end();
			await database.drop();
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

async function measure(
	label: string,
	setup: () => Promise<StoreUnderTest>,
	iterations: number,
	warmup: number,
): Promise<Measure> {
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
			refreshToken: cipher.encrypt(
				`rt-${randomBytes(32).toString('hex')}`,
				connectionId,
				'refresh_token',
			),
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
			client: resolveOAuthClient({
				preset: 'pipedrive',
				clientId: 'id',
				clientSecret: 'secret',
				redirectUri: 'http://127.0.0.1:9/cb',
				tokenUrl: 'http://127.0.0.1:9/token',
			}),
		});
		const rawRead = () => context.rawRead(connectionId);
		const getValidToken = async () => {
			const result = await manager.getValidToken(connectionId);
			if (result.refreshed || result.connection.accessToken !== access)
				throw new Error('Get Valid Token did not return the stored fresh token');
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
		return {
			store: label,
			description: store.description,
			iterations: iterations,
			rawRead: rawSummary,
			getValidToken: gvtSummary,
		};
	} finally {
		await store.close().catch(() => undefined);
		await context.drop().catch(() => undefined);
	}
}

interface ListMeasure {
	store: string;
	skipped?: string;
	/** Milliseconds per listing, fastest and median of the runs. */
	all?: { rows: number; min: number; median: number };
	filtered?: { rows: number; min: number; median: number };
}

/** Inserts `count` connections (a tenth failing, a tenth needing re-authorization) a few at a time, as callbacks would. */
async function fillStore(store: TokenStore, count: number): Promise<void> {
	const concurrency = 16;
	let next = 0;
	const worker = async () => {
		for (let i = next++; i < count; i = next++) {
			const failing = i % 10 === 3;
			await store.insert({
				// Ids as users make them: a customer name and number, mixed case.
				connectionId: `${i % 2 ? 'Customer' : 'customer'}-${String(i).padStart(6, '0')}-${randomBytes(3).toString('hex')}`,
				provider: i % 3 ? 'pipedrive' : 'hubspot',
				accessToken: `ct:${randomBytes(600).toString('base64url')}`,
				refreshToken: `ct:${randomBytes(60).toString('base64url')}`,
				tokenType: 'Bearer',
				scope: 'base deals:read',
				expiresAt: new Date(Date.now() + 3600_000),
				metadata: { api_domain: 'https://acme.pipedrive.com' },
				status: i % 10 === 7 ? 'needs_reauth' : 'active',
				lastRefreshedAt: new Date(),
				refreshCount: i % 50,
				lastError: failing ? 'the provider answered 503' : null,
				appFingerprint: null,
				tokenIssuedAt: null,
				failureCount: failing ? 4 : 0,
				failingSince: failing ? new Date() : null,
			});
		}
	};
	await Promise.all(Array.from({ length: concurrency }, worker));
}

async function timeListing(store: TokenStore, filters: ListFilters, runs: number) {
	let rows = 0;
	const times: number[] = [];
	for (let run = 0; run <= runs; run++) {
		const t = performance.now();
		rows = (await listConnections(store, filters)).length;
		// Run 0 warms the pool and the statement caches.
		if (run > 0) times.push(performance.now() - t);
	}
	times.sort((a, b) => a - b);
	return { rows, min: times[0], median: times[Math.floor(times.length / 2)] };
}

async function measureList(
	label: string,
	setup: () => Promise<StoreUnderTest>,
	count: number,
	runs: number,
): Promise<ListMeasure> {
	let context: StoreUnderTest;
	try {
		context = await setup();
	} catch (error) {
		return { store: label, skipped: `${error.message || error}`.slice(0, 160) };
	}
	try {
		await fillStore(context.store, count);
		const all = await timeListing(context.store, {}, runs);
		if (all.rows !== count)
			throw new Error(`${label}: Return All listed ${all.rows} of ${count} connections`);
		const filtered = await timeListing(
			context.store,
			{ status: 'active', idPrefix: 'customer-' },
			runs,
		);
		return { store: label, all, filtered };
	} finally {
		await context.store.close().catch(() => undefined);
		await context.drop().catch(() => undefined);
	}
}

async function listMain(count: number, runs: number, json: boolean): Promise<number> {
	const results: ListMeasure[] = [];
	for (const [label, setup] of [
		['PostgreSQL', postgresSetup],
		['MySQL', mysqlSetup],
		['SQLite', sqliteSetup],
	] as const) {
		results.push(await measureList(label, setup, count, runs));
	}
	if (json) {
		process.stdout.write(
			`${JSON.stringify({ node: process.version, connections: count, pageSize: LIST_PAGE_SIZE, runs, results }, null, 2)}\n`,
		);
		return 0;
	}
	const ms = (value: number) => `${value.toFixed(1)} ms`;
	process.stdout.write(
		`Node ${process.version}, ${count} connections, pages of ${LIST_PAGE_SIZE}, ${runs} timed runs after one warm-up\n\n`,
	);
	process.stdout.write(
		'store        Return All (min / median)      status active + id prefix "customer-" (rows, min / median)\n',
	);
	for (const r of results) {
		if (!r.all || !r.filtered) {
			process.stdout.write(`${r.store.padEnd(12)} skipped: ${r.skipped}\n`);
			continue;
		}
		process.stdout.write(
			`${r.store.padEnd(12)} ${`${ms(r.all.min)} / ${ms(r.all.median)}`.padEnd(30)} ${r.filtered.rows} rows, ${ms(r.filtered.min)} / ${ms(r.filtered.median)}\n`,
		);
	}
	return 0;
}

const USAGE =
	'usage: npm run store-latency [-- --iterations 2000] [--warmup 300] [--json]\n' +
	'       npm run store-latency -- --list 10000 [--runs 5] [--json]\n' +
	'  environment: TEST_POSTGRES_URL, TEST_MYSQL_URL (the servers the temporary databases go on)';

export async function main(args: string[]): Promise<number> {
	if (args.includes('--help') || args.includes('-h')) {
		console.log(USAGE);
		return 0;
	}
	const option = (name: string, fallback: number) => {
		const index = args.indexOf(`--${name}`);
		return index >= 0 ? Number(args[index + 1]) : fallback;
	};
	if (args.includes('--list'))
		return listMain(option('list', 10_000), option('runs', 5), args.includes('--json'));
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
		process.stdout.write(
			`${JSON.stringify({ node: process.version, iterations, results }, null, 2)}\n`,
		);
		return 0;
	}
	const ms = (value: number) => `${value.toFixed(3)} ms`;
	process.stdout.write(
		`Node ${process.version}, ${iterations} interleaved calls per measure after ${warmup} warm-up pairs, one at a time\n\n`,
	);
	process.stdout.write(
		'store        raw PK read p50   Get Valid Token p50   overhead p50   (p95 raw / GVT)\n',
	);
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
