/*
 * Keep Alive over many connections on PostgreSQL against the local Pipedrive-like sandbox: how long a sweep takes
 * and how many token requests it makes. N connections are authorized through the sandbox (consent, then Exchange
 * Authorization Code), then swept with a window longer than the tokens' lifetime, so every one is due:
 *
 *   - one sweep per concurrency asked for (each refreshes all N again);
 *   - a sweep with the usual window right after (nothing due: one list query per page);
 *   - with every token made to expire within the usual window, two sweeps at once through two managers with refresh
 *     registries of their own (two n8n processes on one table): still N token requests, not 2 N.
 *
 *   node scripts/run.js keep-alive-sweep [--connections 1000] [--concurrency 1,4,16] [--token-delay-ms 0] [--json]
 *
 * Settings: TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres); the database is temporary.
 */
import { performance } from 'node:perf_hooks';
import { TokenCipher } from '../engine/crypto';
import { resolveOAuthClient, type OAuthClient } from '../engine/presets';
import { RefreshRegistry } from '../engine/refresh/coordinator';
import type { TokenStore } from '../engine/store';
import { TokenManager } from '../engine/token-manager';
import { type KeepAliveOutcome } from '../engine/types';
import { PostgresTokenStore } from '../engine/stores';
import { startSandbox } from '../tools/sandbox';
import { authorizeAtSandbox } from '../tools/sandbox-grants';
import { createTemporaryPostgresDatabase } from '../tools/temporary-database';

const REDIRECT_URI = 'http://127.0.0.1:9/callback';
const TOKEN_LIFETIME_SECONDS = 3600;
/** Longer than the tokens live: every connection is due. */
const EVERYTHING_DUE = { expiresWithinSeconds: 2 * TOKEN_LIFETIME_SECONDS, idleAfterDays: 60 };
/** What a scheduled sweep would use: right after a full sweep, nothing is due. */
const USUAL = { expiresWithinSeconds: 600, idleAfterDays: 30 };

interface Sweep {
	label: string;
	concurrency: number;
	seconds: number;
	tokenRequests: number;
	outcomes: Record<string, number>;
}

function count(outcomes: KeepAliveOutcome[]): Record<string, number> {
	const counts: Record<string, number> = {};
	for (const { outcome } of outcomes) counts[outcome] = (counts[outcome] ?? 0) + 1;
	return counts;
}

const USAGE =
	'usage: node scripts/run.js keep-alive-sweep [--connections 1000] [--concurrency 1,4,16] [--token-delay-ms 0] [--json]\n' +
	'  environment: TEST_POSTGRES_URL (the server the temporary database goes on)';

export async function main(args: string[]): Promise<number> {
	if (args.includes('--help') || args.includes('-h')) {
		console.log(USAGE);
		return 0;
	}
	const option = (name: string, fallback: string) => {
		const index = args.indexOf(`--${name}`);
		return index >= 0 ? args[index + 1] : fallback;
	};
	const connections = Number(option('connections', '1000'));
	const concurrencies = option('concurrency', '1,4,16').split(',').map(Number);
	const tokenDelayMs = Number(option('token-delay-ms', '0'));
	if (
		!Number.isInteger(connections) ||
		connections < 1 ||
		concurrencies.some((c) => !Number.isInteger(c) || c < 1)
	) {
		throw new Error('--connections and --concurrency take whole numbers, 1 or more');
	}

	const sandbox = await startSandbox({
		host: '127.0.0.1',
		port: 0,
		expiresIn: TOKEN_LIFETIME_SECONDS,
		tokenDelayMs,
	});
	const database = await createTemporaryPostgresDatabase('oauth2tm_sweep');
	const stores: TokenStore[] = [];
	const openStore = () => {
		const store = new PostgresTokenStore({ pool: database.pool, createTableIfMissing: true });
		stores.push(store);
		return store;
	};
	try {
		const client: OAuthClient = resolveOAuthClient({
			preset: 'pipedrive',
			clientId: sandbox.clientId,
			clientSecret: sandbox.clientSecret,
			redirectUri: REDIRECT_URI,
			tokenUrl: `${sandbox.url}/oauth/token`,
		});
		const cipher = new TokenCipher('keep-alive-sweep-key-0123456789abcdef');
		const manager = (store: TokenStore, registry = new RefreshRegistry()) =>
			new TokenManager({ store, cipher, client, refreshRegistry: registry });

		const store = openStore();
		const authorizing = performance.now();
		const ids = Array.from(
			{ length: connections },
			(_, i) => `sweep:${String(i).padStart(5, '0')}`,
		);
		await authorizeAtSandbox(sandbox, manager(store), ids, { redirectUri: REDIRECT_URI });
		const authorizeSeconds = (performance.now() - authorizing) / 1000;

		const sweeps: Sweep[] = [];
		const sweep = async (
			label: string,
			concurrency: number,
			run: () => Promise<KeepAliveOutcome[][]>,
		) => {
			sandbox.reset();
			const started = performance.now();
			const outcomes = (await run()).flat();
			sweeps.push({
				label,
				concurrency,
				seconds: (performance.now() - started) / 1000,
				tokenRequests: sandbox.stats().tokenRequests.refresh_token,
				outcomes: count(outcomes),
			});
		};
		for (const concurrency of concurrencies) {
			await sweep('all due', concurrency, async () => [
				await manager(store).keepAlive({ ...EVERYTHING_DUE, concurrency }),
			]);
		}
		const usualConcurrency = concurrencies[concurrencies.length - 1];
		await sweep('nothing due (usual window)', usualConcurrency, async () => [
			await manager(store).keepAlive({ ...USUAL, concurrency: usualConcurrency }),
		]);
		// Two processes at once with the usual window, every token expiring within it: a token one process refreshed
		// lies outside the window for the other, so each connection is refreshed exactly once. (With the everything-due
		// window, longer than a token lives, a token refreshed a moment ago is due again, and rightly refreshed again.)
		const soon = new Date(Date.now() + 60_000);
		for (const row of await store.getMany(ids))
			await store.update(row.connectionId, row.version, { expiresAt: soon });
		const second = openStore();
		await sweep('due, two processes at once', usualConcurrency, () =>
			Promise.all([
				manager(store).keepAlive({ ...USUAL, concurrency: usualConcurrency }),
				manager(second).keepAlive({ ...USUAL, concurrency: usualConcurrency }),
			]),
		);

		const result = { node: process.version, connections, tokenDelayMs, authorizeSeconds, sweeps };
		if (args.includes('--json')) {
			process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
			return 0;
		}
		process.stdout.write(
			`Node ${process.version}, PostgreSQL, ${connections} connections, sandbox token delay ${tokenDelayMs} ms (authorized in ${authorizeSeconds.toFixed(1)} s)\n\n`,
		);
		process.stdout.write(
			'sweep                             concurrency   time       token requests   outcomes\n',
		);
		for (const s of sweeps) {
			const outcomes =
				Object.entries(s.outcomes)
					.map(([name, n]) => `${name} ${n}`)
					.join(', ') || 'none';
			process.stdout.write(
				`${s.label.padEnd(34)}${String(s.concurrency).padStart(11)}   ${`${s.seconds.toFixed(3)} s`.padStart(9)}   ${String(s.tokenRequests).padStart(14)}   ${outcomes}\n`,
			);
		}
		return 0;
	} finally {
		await Promise.all(stores.map((store) => store.close().catch(() => undefined)));
		await database.drop().catch(() => undefined);
		await sandbox.close();
	}
}
