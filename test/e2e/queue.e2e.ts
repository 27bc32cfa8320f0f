/*
 * Queue mode end to end: n8n main + 2 workers (`n8n worker`) on the local Redis and one PostgreSQL database, this
 * package installed for every process, bundled workflows 1 and 2 on the PostgreSQL token store, and the sandbox
 * rotating refresh tokens with reuse detection on (a second refresh with the same token would revoke the grant).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { packProject } from '../../tools/n8n/package';
import {
	postgresStore,
	provisionTokenManager,
	type TokenManagerSetup,
} from '../../tools/n8n/provision';
import { countRedisKeys, startQueueCluster, type QueueCluster } from '../../tools/n8n/queue';
import { startSandbox, type Sandbox } from '../../tools/sandbox';
import { sleep } from '../../tools/sleep';

const EXPIRES_IN = 20;
const MIN_VALIDITY = 5;
const CONNECTION = 'pipedrive:queue';

let sandbox: Sandbox;
let cluster: QueueCluster | undefined;
let setup: TokenManagerSetup;
let baseFolder: string;
let packDir: string | undefined;

beforeAll(
	async () => {
		baseFolder = fs.mkdtempSync(path.join(os.tmpdir(), 'oauth2tm-queue-'));
		sandbox = await startSandbox({
			expiresIn: EXPIRES_IN,
			tokenDelayMs: 150,
			reuseDetection: true,
		});
		const { tarball } = await packProject();
		packDir = path.dirname(tarball);
		cluster = await startQueueCluster({ baseFolder, tarball, workers: 2 });
		setup = await provisionTokenManager({
			n8nUrl: cluster.main.url,
			sandbox,
			store: postgresStore(cluster.main.database),
			minValiditySeconds: MIN_VALIDITY,
		});
	},
	10 * 60 * 1000,
);

afterAll(
	async () => {
		await cluster?.stop();
		await sandbox?.close();
		if (packDir) fs.rmSync(packDir, { recursive: true, force: true });
		if (baseFolder && !process.env.E2E_KEEP)
			fs.rmSync(baseFolder, { recursive: true, force: true });
	},
	2 * 60 * 1000,
);

test(
	'queue mode, main + 2 workers: 20 concurrent executions of workflow 2 just after expiry make exactly 1 token request',
	async () => {
		expect(await setup.connect(CONNECTION, 'quinn')).toBe(200);
		const first = await setup.call(CONNECTION);
		expect(first.status).toBe(200);
		expect(first.body).toMatchObject({
			connectionId: CONNECTION,
			statusCode: 200,
			tokenExpiresAt: expect.any(String),
		});

		const expiresAt = Date.parse(first.body.tokenExpiresAt!);
		await sleep(Math.max(0, expiresAt - Date.now() + 700)); // expired at the sandbox too
		const ranBefore = cluster!.executionsByWorker();
		sandbox.reset();
		const results = await Promise.all(Array.from({ length: 20 }, () => setup.call(CONNECTION)));

		for (const r of results) {
			expect(r.status).toBe(200);
			expect(r.body).toMatchObject({
				connectionId: CONNECTION,
				statusCode: 200,
				retriedAfter401: false,
			});
			expect(r.body.user?.name).toBe('quinn');
		}
		const stats = sandbox.stats();
		expect(stats.tokenRequests).toMatchObject({ total: 1, refresh_token: 1, failed: 0 });
		expect(stats).toMatchObject({ apiCalls: 20, failedApiCalls: 0, reuseDetections: 0 });
		expect(sandbox.grants()).toEqual([
			expect.objectContaining({ userName: 'quinn', revoked: false }),
		]);

		// the burst's executions, from the workers' own logs: both workers ran some
		const burst = [...cluster!.executionsByWorker()].filter(([id]) => !ranBefore.has(id));
		expect(burst).toHaveLength(20);
		expect(new Set(burst.map(([, worker]) => worker))).toEqual(new Set([0, 1]));
	},
	3 * 60 * 1000,
);

test(
	'stop() stops every process and leaves no Redis key and no database of the cluster behind',
	async () => {
		const { redisPrefix, main, workers } = cluster!;
		expect(await countRedisKeys(redisPrefix)).toBeGreaterThan(0); // the queue and pub/sub used the cluster's prefix
		await cluster!.stop();
		cluster = undefined;
		expect(await countRedisKeys(redisPrefix)).toBe(0);
		for (const instance of [main, ...workers])
			expect(instance.child.exitCode ?? instance.child.signalCode).not.toBeNull();
		const pg = new Client({
			host: '127.0.0.1',
			port: 5432,
			user: 'postgres',
			database: 'postgres',
		});
		await pg.connect();
		try {
			const { rowCount } = await pg.query('SELECT 1 FROM pg_database WHERE datname = $1', [
				main.database,
			]);
			expect(rowCount).toBe(0);
		} finally {
			await pg.end();
		}
	},
	2 * 60 * 1000,
);
