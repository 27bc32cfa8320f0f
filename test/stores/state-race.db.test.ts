/**
 * A state works once across OS processes, on real PostgreSQL, MariaDB and SQLite: several processes record the
 * same states at the same moment (callbacks of one authorization delivered to several n8n workers), each state of
 * a fresh connection and of one with an older record; exactly one process gets each state accepted, and the
 * newest state of a connection always wins over older ones racing it.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TokenStore } from '../../engine/store';
import { MySqlTokenStore, PostgresTokenStore, SqliteTokenStore } from '../../engine/stores';
import {
	createTemporaryMySqlDatabase,
	createTemporaryPostgresDatabase,
} from '../../tools/temporary-database';
import { stateOrder } from './contract';
import { describeMySql, describePostgres } from './servers';

const WORKER = join(__dirname, 'state-race-worker.js');
const PROCESSES = 4;

interface Attempt {
	connectionId: string;
	stateOrder: string;
}
interface AttemptResult extends Attempt {
	accepted?: boolean;
	error?: string;
}
interface StoreSetup {
	kind: 'postgres' | 'mysql' | 'sqlite';
	options: Record<string, unknown>;
	open(): TokenStore;
	cleanup(): Promise<void>;
}

function runWorker(setup: StoreSetup, attempts: Attempt[]) {
	const child = fork(
		WORKER,
		[JSON.stringify({ kind: setup.kind, options: setup.options, attempts })],
		{ stdio: ['ignore', 'inherit', 'pipe', 'ipc'] },
	);
	let stderr = '';
	child.stderr!.on('data', (chunk) => (stderr += chunk));
	const exited = new Promise<never>((_, reject) =>
		child.once('exit', (code, signal) =>
			reject(new Error(`worker exited (${signal ?? code}) ${stderr}`)),
		),
	);
	exited.catch(() => undefined);
	const message = <T>(type: string) =>
		Promise.race([
			new Promise<T>((resolve) => child.on('message', (m: any) => m?.type === type && resolve(m))),
			exited,
		]);
	return {
		child,
		ready: message<unknown>('ready'),
		done: message<{ results: AttemptResult[] }>('done'),
	};
}

function describeStateRace(
	label: string,
	describeFn: jest.Describe,
	createSetup: () => Promise<StoreSetup>,
) {
	describeFn(`${label}: a state is accepted once across processes`, () => {
		let setup: StoreSetup;
		let store: TokenStore;
		beforeAll(async () => {
			setup = await createSetup();
			store = setup.open();
		});
		afterAll(async () => {
			await store?.close();
			await setup?.cleanup();
		});

		test(`${PROCESSES} processes record the same states at once: each is accepted by exactly one`, async () => {
			const until = new Date(Date.now() + 3_600_000);
			const fresh = Array.from({ length: 10 }, (_, i) => `race:fresh:${i}`);
			const recorded = Array.from({ length: 10 }, (_, i) => `race:recorded:${i}`);
			for (const connectionId of recorded)
				expect(await store.consumeState(connectionId, stateOrder(1, 'old'), until)).toBe(true);
			// Per connection: one state that every process tries, three times each; "mixed": six states in issue order.
			const attempts: Attempt[] = [...fresh, ...recorded].flatMap((connectionId) =>
				Array.from({ length: 3 }, () => ({
					connectionId,
					stateOrder: stateOrder(1_700_000_000_000, `n-${connectionId}`),
				})),
			);
			const mixed = Array.from({ length: 6 }, (_, i) => ({
				connectionId: 'race:mixed',
				stateOrder: stateOrder(1_700_000_000_000 + i, 'n'),
			}));
			const workers = Array.from({ length: PROCESSES }, (_, p) =>
				runWorker(setup, [...attempts, ...mixed.filter((_, i) => i % PROCESSES === p || i === 5)]),
			);
			try {
				await Promise.all(workers.map((w) => w.ready));
				for (const worker of workers) worker.child.send({ type: 'go' });
				const results = (await Promise.all(workers.map((w) => w.done))).flatMap(
					(done) => done.results,
				);
				expect(results.filter((r) => r.error)).toEqual([]);
				for (const connectionId of [...fresh, ...recorded]) {
					const mine = results.filter((r) => r.connectionId === connectionId);
					expect(mine).toHaveLength(3 * PROCESSES);
					expect(mine.filter((r) => r.accepted)).toHaveLength(1);
				}
				const newest = results.filter(
					(r) => r.connectionId === 'race:mixed' && r.stateOrder === mixed[5].stateOrder,
				);
				expect(newest.filter((r) => r.accepted)).toHaveLength(1);
				expect(await store.consumeState('race:mixed', mixed[5].stateOrder, until)).toBe(false);
			} finally {
				for (const worker of workers)
					if (worker.child.exitCode === null) worker.child.kill('SIGKILL');
			}
		});
	});
}

describeStateRace('PostgreSQL', describePostgres(), async () => {
	const db = await createTemporaryPostgresDatabase('oauth2tm_state_race');
	const options = { pool: { connectionString: db.url }, createTableIfMissing: true };
	return {
		kind: 'postgres',
		options,
		open: () => new PostgresTokenStore(options),
		cleanup: () => db.drop(),
	};
});

describeStateRace('MySQL/MariaDB', describeMySql(), async () => {
	const db = await createTemporaryMySqlDatabase('oauth2tm_state_race');
	const options = { uri: db.url, createTableIfMissing: true };
	return {
		kind: 'mysql',
		options,
		open: () => new MySqlTokenStore(options),
		cleanup: () => db.drop(),
	};
});

describeStateRace('SQLite', describe, async () => {
	const dir = mkdtempSync(join(tmpdir(), 'oauth2tm-state-race-'));
	const options = { filePath: join(dir, 'tokens.sqlite') };
	return {
		kind: 'sqlite',
		options,
		open: () => new SqliteTokenStore(options),
		cleanup: async () => rmSync(dir, { recursive: true, force: true }),
	};
});
