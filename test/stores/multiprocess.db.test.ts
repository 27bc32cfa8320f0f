/**
 * Exactly one refresh across OS processes, on real PostgreSQL, MariaDB and SQLite, against a real
 * token endpoint on 127.0.0.1 (the Pipedrive-like sandbox: it counts requests and rotates refresh tokens, so a
 * second refresh with the same token would be refused with invalid_grant).
 *
 * - 4 processes × 25 concurrent Get Valid Token on one expired connection: 1 token request, 100 identical tokens,
 *   and the stored refresh token is the rotated one (a forced refresh with it succeeds while the sandbox refuses
 *   retired tokens).
 * - The lease holder is SIGKILLed between the token response and the store write: once its lease expires (database
 *   time) another process takes over; with a provider that accepts the previous refresh token once, the connection
 *   ends usable; without it, every caller gets a clear needs-re-authorization error. Nothing hangs.
 * - Tokens that live no longer than Minimum Validity (300 s and 60 s, Minimum Validity 300 s): sequential calls on
 *   a fresh token make no refresh; 4 processes × 25 callers after expiry make 1 refresh and get 1 token.
 * - A token endpoint that sends its headers and then trickles the body past the lease (a real node:http server
 *   with reuse detection): the holder's refresh ends at its deadline, before its lease, so no other process sends
 *   a refresh while it is open; the callers waiting for it are told the provider is failing, without a request of
 *   their own, until the cooldown ends; then the next one succeeds and the connection stays active.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TokenCipher } from '../../engine/crypto';
import { resolveOAuthClient } from '../../engine/presets';
import type { TokenStore } from '../../engine/store';
import { MySqlTokenStore, PostgresTokenStore, SqliteTokenStore } from '../../engine/stores';
import { TokenManager } from '../../engine/token-manager';
import {
	createTemporaryMySqlDatabase,
	createTemporaryPostgresDatabase,
} from '../../tools/temporary-database';
import { startSandbox, type Sandbox } from '../../tools/sandbox';
import { startTokenServer } from '../helpers/token-server';
import { describeMySql, describePostgres } from './servers';

type StoreKind = 'postgres' | 'mysql' | 'sqlite';
interface StoreSetup {
	kind: StoreKind;
	/** Plain options for the store factory, also sent to the workers as JSON. */
	options: Record<string, unknown>;
	cleanup(): Promise<void>;
}

interface WorkerResult {
	ok: boolean;
	accessToken?: string;
	refreshed?: boolean;
	recovered?: boolean;
	error?: string;
	code?: string;
}

const WORKER = join(__dirname, 'multiprocess-worker.js');
const ENCRYPTION_KEY = 'multiprocess-test-key-0123456789abcdef';
const REDIRECT_URI = 'http://127.0.0.1:9/callback';
const LEASE_TTL_MS = 1500;
const LEASE_WAIT_MS = 20_000;
const PROCESSES = 4;
const CALLS_PER_PROCESS = 25;
/** The trickling-provider case: its lease, its refresh deadline, and how long the first answer's body takes. */
const TRICKLE_LEASE_TTL_MS = 3000;
const TRICKLE_DEADLINE_MS = 1500;
const TRICKLE_BODY_MS = 6000;

function openStore(setup: StoreSetup): TokenStore {
	if (setup.kind === 'postgres') return new PostgresTokenStore(setup.options);
	if (setup.kind === 'mysql') return new MySqlTokenStore(setup.options);
	return new SqliteTokenStore(setup.options);
}

class Worker {
	readonly child: ChildProcess;
	readonly ready: Promise<void>;
	readonly done: Promise<{ elapsedMs: number; results: WorkerResult[] }>;
	readonly tokenReceived: Promise<void>;
	private stderr = '';

	constructor(config: Record<string, unknown>) {
		this.child = fork(WORKER, [JSON.stringify(config)], {
			stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
		});
		this.child.stderr!.on('data', (chunk) => (this.stderr += chunk));
		const exited = new Promise<never>((_, reject) =>
			this.child.once('exit', (code, signal) =>
				reject(new Error(`worker ${this.child.pid} exited (${signal ?? code}) ${this.stderr}`)),
			),
		);
		exited.catch(() => undefined);
		const message = (type: string) =>
			Promise.race([
				new Promise<any>((resolve) =>
					this.child.on('message', (m: any) => m?.type === type && resolve(m)),
				),
				exited,
			]);
		this.ready = message('ready').then(() => undefined);
		this.done = message('done');
		this.tokenReceived = message('token-received').then(() => undefined);
		this.done.catch(() => undefined);
		this.tokenReceived.catch(() => undefined);
	}

	go(): void {
		this.child.send({ type: 'go' });
	}

	kill(): void {
		if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
	}
}

function describeMultiprocess(
	label: string,
	describeFn: jest.Describe,
	createSetup: () => Promise<StoreSetup>,
) {
	describeFn(`${label}: exactly one refresh across processes`, () => {
		let sandbox: Sandbox;
		let setup: StoreSetup;
		let store: TokenStore;
		let manager: TokenManager;
		const workers: Worker[] = [];
		const cipher = new TokenCipher(ENCRYPTION_KEY);

		const workerConfig = (
			connectionId: string,
			mode: 'race' | 'die',
			calls = CALLS_PER_PROCESS,
			overrides: Record<string, unknown> = {},
		) => ({
			mode,
			calls,
			connectionId,
			encryptionKey: ENCRYPTION_KEY,
			leaseTtlMs: LEASE_TTL_MS,
			leaseWaitMs: LEASE_WAIT_MS,
			store: { kind: setup.kind, options: setup.options },
			client: {
				clientId: sandbox.clientId,
				clientSecret: sandbox.clientSecret,
				redirectUri: REDIRECT_URI,
				tokenUrl: `${sandbox.url}/oauth/token`,
			},
			...overrides,
		});

		const spawn = (config: Record<string, unknown>) => {
			const worker = new Worker(config);
			workers.push(worker);
			return worker;
		};

		/** A freshly authorized connection; the sandbox's counters start from zero after it. */
		async function authorizedConnection(connectionId: string) {
			const authorize = new URL(`${sandbox.url}/oauth/authorize`);
			authorize.search = new URLSearchParams({
				client_id: sandbox.clientId,
				redirect_uri: REDIRECT_URI,
				state: 'mp',
			}).toString();
			const response = await fetch(authorize, { redirect: 'manual' });
			const code = new URL(response.headers.get('location')!).searchParams.get('code')!;
			const { connection } = await manager.exchangeAuthorizationCode(connectionId, {
				code,
				redirectUri: REDIRECT_URI,
				allowMissingState: true,
			});
			sandbox.reset();
			return connection;
		}

		/** An authorized connection whose access token has expired; returns its tokens as stored. */
		async function expiredConnection(connectionId: string) {
			const connection = await authorizedConnection(connectionId);
			await store.update(connectionId, connection.version, {
				expiresAt: new Date(Date.now() - 60_000),
			});
			return connection;
		}

		async function storedTokens(connectionId: string) {
			const row = (await store.get(connectionId))!;
			return {
				row,
				accessToken:
					row.accessToken && cipher.decrypt(row.accessToken, connectionId, 'access_token'),
				refreshToken:
					row.refreshToken && cipher.decrypt(row.refreshToken, connectionId, 'refresh_token'),
			};
		}

		beforeAll(async () => {
			sandbox = await startSandbox({
				host: '127.0.0.1',
				port: 0,
				expiresIn: 3600,
				tokenDelayMs: 300,
			});
			setup = await createSetup();
			store = openStore(setup);
			manager = new TokenManager({
				store,
				cipher,
				client: resolveOAuthClient({
					preset: 'pipedrive',
					clientId: sandbox.clientId,
					clientSecret: sandbox.clientSecret,
					redirectUri: REDIRECT_URI,
					tokenUrl: `${sandbox.url}/oauth/token`,
				}),
				endpoint: { maxRetries: 0 },
			});
		});

		afterEach(() => {
			for (const worker of workers.splice(0)) worker.kill();
		});

		afterAll(async () => {
			await store?.close();
			await setup?.cleanup();
			await sandbox?.close();
		});

		test(`${PROCESSES} processes × ${CALLS_PER_PROCESS} concurrent Get Valid Token on an expired token: 1 token request, 1 new token for all`, async () => {
			const connectionId = `mp:race:${label}`;
			const initial = await expiredConnection(connectionId);
			const group = Array.from({ length: PROCESSES }, () =>
				spawn(workerConfig(connectionId, 'race')),
			);
			await Promise.all(group.map((w) => w.ready));
			group.forEach((w) => w.go());
			const reports = await Promise.all(group.map((w) => w.done));
			const results = reports.flatMap((r) => r.results);

			expect(results).toHaveLength(PROCESSES * CALLS_PER_PROCESS);
			expect(results.filter((r) => !r.ok)).toEqual([]);
			const tokens = new Set(results.map((r) => r.accessToken));
			expect(tokens.size).toBe(1);
			const [token] = [...tokens];
			expect(token).not.toBe(initial.accessToken);
			expect(sandbox.stats().tokenRequests).toMatchObject({
				total: 1,
				refresh_token: 1,
				failed: 0,
			});

			const stored = await storedTokens(connectionId);
			expect(stored.accessToken).toBe(token);
			expect(stored.row.status).toBe('active');
			expect(stored.row.refreshCount).toBe(1);
			expect(stored.row.leaseHolder).toBeNull();
			expect(stored.refreshToken).not.toBe(initial.refreshToken);
			// The stored refresh token is the rotated, current one: the sandbox refuses retired ones, and this works.
			const forced = await manager.refreshToken(connectionId, { force: true });
			expect(forced.refreshed).toBe(true);
			expect(sandbox.stats().tokenRequests).toMatchObject({
				total: 2,
				refresh_token: 2,
				failed: 0,
			});
		}, 60_000);

		/** Runs `body` with the sandbox issuing tokens that live `lifetime` seconds. */
		async function withLifetime(lifetime: number, body: () => Promise<void>) {
			sandbox.configure({ expiresIn: lifetime });
			try {
				await body();
			} finally {
				sandbox.configure({ expiresIn: 3600 });
			}
		}

		test.each([300, 60])(
			'tokens living %i s, Minimum Validity 300 s: 3 sequential Get Valid Token on a fresh token make no refresh',
			(lifetime) =>
				withLifetime(lifetime, async () => {
					const connectionId = `mp:fresh-${lifetime}:${label}`;
					const initial = await authorizedConnection(connectionId);
					const results = [];
					for (let call = 0; call < 3; call++)
						results.push(await manager.getValidToken(connectionId, { minValiditySeconds: 300 }));
					expect(sandbox.stats().tokenRequests.refresh_token).toBe(0);
					expect(results.map((r) => r.connection.accessToken)).toEqual([
						initial.accessToken,
						initial.accessToken,
						initial.accessToken,
					]);
					expect(results.every((r) => !r.refreshed && r.minValidity.capped)).toBe(true);
				}),
		);

		test.each([300, 60])(
			'tokens living %i s, Minimum Validity 300 s: 4 processes × 25 Get Valid Token after expiry make 1 refresh and get 1 token',
			(lifetime) =>
				withLifetime(lifetime, async () => {
					const connectionId = `mp:expired-${lifetime}:${label}`;
					await expiredConnection(connectionId);
					const group = Array.from({ length: PROCESSES }, () =>
						spawn(
							workerConfig(connectionId, 'race', CALLS_PER_PROCESS, { minValiditySeconds: 300 }),
						),
					);
					await Promise.all(group.map((w) => w.ready));
					group.forEach((w) => w.go());
					const results = (await Promise.all(group.map((w) => w.done))).flatMap((r) => r.results);
					const outcome = {
						refreshes: sandbox.stats().tokenRequests.refresh_token,
						tokens: new Set(results.map((r) => r.accessToken)).size,
					};
					expect(outcome).toEqual({ refreshes: 1, tokens: 1 });
					expect(results.filter((r) => !r.ok)).toEqual([]);
					expect((await storedTokens(connectionId)).accessToken).toBe(results[0].accessToken);
				}),
			60_000,
		);

		test('a token endpoint that trickles its body past the lease: the refresh ends at its deadline, no refresh overlaps it or follows it in the cooldown, the connection stays active', async () => {
			const provider = await startTokenServer({
				pace: (refresh) => (refresh === 1 ? { trickleMs: TRICKLE_BODY_MS } : {}),
			});
			try {
				const connectionId = `mp:trickle:${label}`;
				const client = {
					clientId: 'trickle-client',
					clientSecret: 'trickle-secret',
					redirectUri: REDIRECT_URI,
					tokenUrl: provider.tokenUrl,
				};
				const own = new TokenManager({
					store,
					cipher,
					client: resolveOAuthClient({ preset: 'pipedrive', ...client }),
					endpoint: { maxRetries: 0 },
				});
				const { connection } = await own.exchangeAuthorizationCode(connectionId, {
					code: 'trickle-code',
					allowMissingState: true,
				});
				await store.update(connectionId, connection.version, {
					expiresAt: new Date(Date.now() - 1000),
				});
				const config = (calls: number) =>
					workerConfig(connectionId, 'race', calls, {
						client,
						leaseTtlMs: TRICKLE_LEASE_TTL_MS,
						refreshDeadlineMs: TRICKLE_DEADLINE_MS,
					});
				const holder = spawn(config(1));
				const others = [spawn(config(CALLS_PER_PROCESS)), spawn(config(CALLS_PER_PROCESS))];
				await Promise.all([holder, ...others].map((w) => w.ready));

				holder.go();
				while (provider.stats().refreshRequests === 0)
					await new Promise((resolve) => setTimeout(resolve, 20));
				others.forEach((w) => w.go());
				const [held, ...waited] = await Promise.all([holder, ...others].map((w) => w.done));
				// The cut-off is a transient failure: the callers that waited for it do not send another request in its
				// cooldown (30 s); their token has expired, so each is told the provider is failing.
				expect(waited.flatMap((r) => r.results).map((r) => r.code)).toEqual(
					Array.from({ length: 2 * CALLS_PER_PROCESS }, () => 'provider_failing'),
				);
				expect((await store.get(connectionId))!).toMatchObject({
					status: 'active',
					failureCount: 1,
				});
				expect(provider.stats().refreshRequests).toBe(1);

				// After the cooldown, one refresh serves every caller, and says it recovered once. The cooldown is kept in the
				// database's time, which no process clock can skip: its end is brought forward in the row instead of waiting 30 s.
				const cooling = (await store.get(connectionId))!;
				await store.update(connectionId, cooling.version, {
					nextAttemptAt: new Date((await store.databaseTime()).getTime() - 1000),
				});
				const after = spawn(config(CALLS_PER_PROCESS));
				await after.ready;
				after.go();
				const results = (await after.done).results;

				// One refresh cut off before delivery, then one delivered; none sent while another was open, no reuse.
				const stored = await storedTokens(connectionId);
				expect({
					...provider.stats(),
					status: stored.row.status,
					failedCallers: results.filter((r) => !r.ok).length,
				}).toEqual({
					refreshRequests: 2,
					cutOff: 1,
					completedRefreshes: 1,
					overlapping: 0,
					reuses: 0,
					grantsRevoked: 0,
					status: 'active',
					failedCallers: 0,
				});
				expect(new Set(results.map((r) => r.accessToken)).size).toBe(1);
				expect(results.filter((r) => r.recovered)).toHaveLength(1);
				expect(stored.accessToken).toBe(results[0].accessToken);
				expect(stored.row.failureCount).toBe(0);
				// The holder gave up at its deadline, before its lease ended: nobody else could start a refresh meanwhile.
				expect(held.results[0]).toMatchObject({ ok: false, code: 'token_endpoint_error' });
				expect(held.results[0].error).toMatch(/did not finish before the refresh deadline/);
				const [cutOff] = provider.requests.filter((r) => r.grantType === 'refresh_token');
				expect(cutOff.closedAt! - cutOff.receivedAt).toBeLessThan(TRICKLE_LEASE_TTL_MS);
				expect(provider.accepts(stored.refreshToken)).toBe(true);
			} finally {
				await provider.close();
			}
		}, 60_000);

		const killCase = (acceptPrevious: boolean) => async () => {
			sandbox.configure({ acceptPreviousRefreshToken: acceptPrevious });
			const connectionId = `mp:kill:${acceptPrevious ? 'accept' : 'strict'}:${label}`;
			const initial = await expiredConnection(connectionId);
			const victim = spawn(workerConfig(connectionId, 'die', 1));
			const takers = [
				spawn(workerConfig(connectionId, 'race')),
				spawn(workerConfig(connectionId, 'race')),
			];
			await Promise.all([victim, ...takers].map((w) => w.ready));

			victim.go();
			await victim.tokenReceived;
			victim.kill();
			const killedAt = Date.now();
			// The provider has answered and rotated; the store still holds the old tokens under the dead holder's lease.
			expect(sandbox.stats().tokenRequests.refresh_token).toBe(1);
			const orphaned = await storedTokens(connectionId);
			expect(orphaned.refreshToken).toBe(initial.refreshToken);
			expect(orphaned.row.leaseHolder).toContain(`:${victim.child.pid}:`);

			takers.forEach((w) => w.go());
			const reports = await Promise.all(takers.map((w) => w.done));
			const results = reports.flatMap((r) => r.results);
			const waited = Date.now() - killedAt;
			expect(results).toHaveLength(2 * CALLS_PER_PROCESS);
			// Bounded: the takeover happens once the lease expires, well before anyone's wait limit.
			expect(waited).toBeLessThan(LEASE_WAIT_MS);
			expect(sandbox.stats().tokenRequests.refresh_token).toBe(2);
			const stored = await storedTokens(connectionId);
			expect(stored.row.leaseHolder).toBeNull();

			if (acceptPrevious) {
				expect(results.filter((r) => !r.ok)).toEqual([]);
				const tokens = new Set(results.map((r) => r.accessToken));
				expect(tokens.size).toBe(1);
				expect(stored.accessToken).toBe([...tokens][0]);
				expect(stored.row.status).toBe('active');
				// Usable from here on: the stored refresh token is the provider's current one.
				await manager.refreshToken(connectionId, { force: true });
				expect(sandbox.stats().tokenRequests).toMatchObject({ refresh_token: 3 });
				expect((await storedTokens(connectionId)).row.status).toBe('active');
			} else {
				// The retired refresh token is refused: every caller gets the clear re-authorization error, at once.
				expect(results.every((r) => !r.ok && r.code === 'needs_reauth')).toBe(true);
				expect(results[0].error).toMatch(/must be re-authorized/);
				expect(stored.row.status).toBe('needs_reauth');
				expect(sandbox.stats().tokenRequests.refresh_token).toBe(2);
			}
		};

		test(
			'the lease holder is SIGKILLed between token response and write: another process takes over after the lease expires; the connection ends usable',
			killCase(true),
			60_000,
		);

		test(
			'the same with a provider that never accepts a retired refresh token: a clear needs-re-authorization error for every caller, no hang',
			killCase(false),
			60_000,
		);
	});
}

describeMultiprocess('PostgreSQL', describePostgres(), async () => {
	const db = await createTemporaryPostgresDatabase('oauth2tm_multiprocess');
	return {
		kind: 'postgres',
		options: { pool: { connectionString: db.url }, createTableIfMissing: true },
		cleanup: () => db.drop(),
	};
});

describeMultiprocess('MySQL', describeMySql(), async () => {
	const db = await createTemporaryMySqlDatabase('oauth2tm_multiprocess');
	return {
		kind: 'mysql',
		options: { uri: db.url, createTableIfMissing: true },
		cleanup: () => db.drop(),
	};
});

describeMultiprocess('SQLite', describe, async () => {
	const dir = mkdtempSync(join(tmpdir(), 'oauth2tm-multiprocess-'));
	return {
		kind: 'sqlite',
		options: { filePath: join(dir, 'tokens.sqlite') },
		cleanup: async () => rmSync(dir, { recursive: true, force: true }),
	};
});
