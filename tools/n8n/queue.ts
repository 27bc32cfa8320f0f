/*
 * n8n in queue mode on this machine: one main (editor, API, webhooks; it enqueues executions) and `n8n worker`
 * processes that run them, over the local Redis, all on one PostgreSQL database with one encryption key. Each
 * process has its own user folder with this package installed (copied from the main's), its own task-runner broker
 * port, and a worker answers its health check on its own port. Every Redis key and pub/sub channel of a cluster
 * carries a prefix unique to it, so clusters started in parallel never share a queue, and stop() deletes its keys.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { n8nHome } from './install';
import { freePort, type N8nInstance, startN8n } from './instance';
import { installPackage } from './package';

/** The few ioredis calls used here: ioredis ships with n8n, not with this project, so it has no types here. */
interface RedisClient {
	scan(
		cursor: string,
		match: 'MATCH',
		pattern: string,
		count: 'COUNT',
		n: number,
	): Promise<[string, string[]]>;
	del(...keys: string[]): Promise<number>;
	quit(): Promise<unknown>;
	disconnect(): void;
}

export const REDIS = {
	host: process.env.OAUTH2TM_REDIS_HOST || '127.0.0.1',
	port: Number(process.env.OAUTH2TM_REDIS_PORT || 6379),
};
const PREFIX_ROOT = 'oauth2tm-q-';

function redisClient(): RedisClient {
	// resolved from n8n's install folder, the copy n8n itself talks to Redis with
	const Redis = createRequire(path.join(n8nHome, 'package.json'))('ioredis') as new (
		options: object,
	) => RedisClient;
	return new Redis({ ...REDIS, lazyConnect: false, maxRetriesPerRequest: 2, connectTimeout: 5000 });
}

/** Every key whose name matches the glob `pattern`. */
async function scanKeys(redis: RedisClient, pattern: string): Promise<string[]> {
	const found: string[] = [];
	let cursor = '0';
	do {
		const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
		found.push(...keys);
		cursor = next;
	} while (cursor !== '0');
	return found;
}

async function withRedis<T>(fn: (redis: RedisClient) => Promise<T>): Promise<T> {
	const redis = redisClient();
	try {
		return await fn(redis);
	} finally {
		await redis.quit().catch(() => redis.disconnect());
	}
}

/** How many keys start with `prefix`. */
export function countRedisKeys(prefix: string): Promise<number> {
	return withRedis(async (redis) => (await scanKeys(redis, `${prefix}*`)).length);
}

/** Deletes every key whose name starts with `prefix`; resolves how many. */
export function deleteRedisKeys(prefix: string): Promise<number> {
	return withRedis(async (redis) => {
		const keys = await scanKeys(redis, `${prefix}*`);
		return keys.length ? redis.del(...keys) : 0;
	});
}

/** Keys left by clusters that died without stop() (the prefix carries the start time): deleted after a day. */
async function deleteStaleKeys(maxAgeMs = 24 * 3600 * 1000): Promise<void> {
	await withRedis(async (redis) => {
		const stale = (await scanKeys(redis, `*${PREFIX_ROOT}*`)).filter((key) => {
			const created = parseInt(
				key.slice(key.indexOf(PREFIX_ROOT) + PREFIX_ROOT.length).split('-')[0],
				36,
			);
			return Number.isFinite(created) && Date.now() - created > maxAgeMs;
		});
		if (stale.length) await redis.del(...stale);
	});
}

/** The environment every process of one cluster shares: queue mode on Redis under the cluster's own prefix. */
export function queueEnv(prefix: string): Record<string, string> {
	return {
		EXECUTIONS_MODE: 'queue',
		QUEUE_BULL_REDIS_HOST: REDIS.host,
		QUEUE_BULL_REDIS_PORT: String(REDIS.port),
		QUEUE_BULL_PREFIX: `${prefix}bull`, // the job queue
		N8N_REDIS_KEY_PREFIX: `${prefix}n8n`, // pub/sub between main and workers
		N8N_CACHE_REDIS_KEY_PREFIX: `${prefix}cache`, // n8n's shared cache
	};
}

export interface QueueCluster {
	main: N8nInstance;
	workers: N8nInstance[];
	/** Starts with this string: every Redis key of the cluster. */
	redisPrefix: string;
	/** Which worker ran each execution, from the workers' logs: { [executionId]: worker index }. */
	executionsByWorker(): Map<string, number>;
	stop(): Promise<void>;
}

export interface QueueClusterOptions {
	/** Folder for the processes' user folders (main/, worker-1/, …); created. */
	baseFolder: string;
	workers?: number;
	/** Executions one worker runs at once (n8n's --concurrency). */
	concurrency?: number;
	/** A packed community package (npm pack) installed for every process. */
	tarball?: string;
	env?: Record<string, string>;
	log?: (line: string) => void;
}

/**
 * Installs the package for the main, starts it, then the workers (in parallel) on its database and encryption key,
 * each with a copy of the main's installed community packages. stop() stops the workers, then the main (dropping its database), then
 * deletes the cluster's Redis keys.
 */
export async function startQueueCluster(options: QueueClusterOptions): Promise<QueueCluster> {
	const log = options.log || (() => {});
	const redisPrefix = `${PREFIX_ROOT}${Date.now().toString(36)}-${crypto.randomBytes(3).toString('hex')}-`;
	await deleteStaleKeys().catch(() => {});
	const env = { ...queueEnv(redisPrefix), ...options.env };
	const started: N8nInstance[] = [];
	const stopAll = async () => {
		for (const instance of started.slice(1).reverse()) await instance.stop().catch(() => {});
		await started[0]?.stop().catch(() => {});
		await deleteRedisKeys(redisPrefix).catch(() => {});
	};
	try {
		const mainFolder = path.join(options.baseFolder, 'main');
		if (options.tarball) await installPackage(mainFolder, options.tarball);
		const main = await startN8n({ userFolder: mainFolder, env, log });
		started.push(main);
		const mainNodes = path.join(main.userFolder, '.n8n', 'nodes');
		const starting = await Promise.allSettled(
			Array.from({ length: options.workers ?? 2 }, async (_, i) => {
				const userFolder = path.join(options.baseFolder, `worker-${i + 1}`);
				if (fs.existsSync(mainNodes))
					fs.cpSync(mainNodes, path.join(userFolder, '.n8n', 'nodes'), { recursive: true });
				const port = await freePort();
				const worker = await startN8n({
					userFolder,
					port,
					database: main.database,
					encryptionKey: main.encryptionKey,
					args: ['worker', `--concurrency=${options.concurrency ?? 25}`],
					env: { ...env, QUEUE_HEALTH_CHECK_ACTIVE: 'true', QUEUE_HEALTH_CHECK_PORT: String(port) },
					log: (line) => log(`[worker ${i + 1}] ${line}`),
				});
				started.push(worker);
				return worker;
			}),
		);
		const failed = starting.find((s) => s.status === 'rejected');
		if (failed) throw failed.reason;
		const workers = starting.map((s) => (s as PromiseFulfilledResult<N8nInstance>).value);
		return {
			main,
			workers,
			redisPrefix,
			executionsByWorker() {
				const ran = new Map<string, number>();
				workers.forEach((worker, index) => {
					const text = fs.readFileSync(worker.logFile, 'utf8');
					for (const match of text.matchAll(/Worker started execution (\S+) \(job/g))
						ran.set(match[1], index);
				});
				return ran;
			},
			stop: stopAll,
		};
	} catch (error) {
		await stopAll();
		throw error;
	}
}
