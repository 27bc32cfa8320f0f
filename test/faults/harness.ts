/**
 * Shared set-up of the fault suite: a real PostgreSQL temp database, the node's engine on it, a Pipedrive-like
 * token endpoint under nock, and the secret-hygiene recorder.
 *
 * Secret hygiene: every error message and description, console line, node output and raw row a scenario produces is recorded;
 * `hygiene.assertClean()` then finds none of the sentinel secrets (tokens, client secret raw or encoded, encryption key) nor any
 * PKCE verifier the provider received. Get Valid Token's and Refresh Token's access_token output is the only
 * place a token may appear, and is left out by the callers.
 */
import nock from 'nock';
import { TokenCipher } from '../../engine/crypto';
import { PostgresTokenStore } from '../../engine/stores/postgres';
import type { TokenStore } from '../../engine/store';
import { TokenManager, type TokenManagerOptions } from '../../engine/token-manager';
import {
	createTemporaryPostgresDatabase,
	type TemporaryPostgresDatabase,
} from '../../tools/temporary-database';
import {
	CLIENT_SECRET,
	CLIENT_SECRET_FORMS,
	PROVIDER_ORIGIN,
	rotatingTokenEndpoint,
	testClient,
} from '../helpers/provider';

export const ENCRYPTION_KEY = 'SENTINEL-encryption-key-4d2a9e';
export const OLD_ENCRYPTION_KEY = 'SENTINEL-old-encryption-key-81b3';
export { CLIENT_SECRET, CLIENT_SECRET_FORMS, PROVIDER_ORIGIN };

const SENTINEL = /SENTINEL-(access|refresh|client-secret|encryption-key|old-encryption-key)/;

export class Hygiene {
	private readonly texts: Array<{ where: string; text: string }> = [];
	/** Secrets that are not sentinels (e.g. PKCE verifiers the provider received). */
	readonly extraSecrets = new Set<string>();

	record(where: string, value: unknown): void {
		if (value instanceof Error) {
			const e = value as Error & { description?: unknown; reauthorizationUrl?: unknown };
			this.texts.push({
				where,
				text: [e.message, e.description, e.reauthorizationUrl, e.stack].filter(Boolean).join('\n'),
			});
			return;
		}
		this.texts.push({ where, text: typeof value === 'string' ? value : JSON.stringify(value) });
	}

	/** Everything recorded that contains a secret, as "where: excerpt". */
	leaks(): string[] {
		const hits: string[] = [];
		for (const { where, text } of this.texts) {
			const m = SENTINEL.exec(text);
			if (m) hits.push(`${where}: …${text.slice(Math.max(0, m.index - 40), m.index + 40)}…`);
			for (const secret of this.extraSecrets)
				if (text.includes(secret)) hits.push(`${where}: contains a PKCE verifier`);
			for (const form of CLIENT_SECRET_FORMS)
				if (text.includes(form))
					hits.push(`${where}: contains the client secret, encoded (${form.slice(0, 12)}…)`);
		}
		return hits;
	}

	get count(): number {
		return this.texts.length;
	}
}

export interface FaultEnv {
	db: TemporaryPostgresDatabase;
	store: PostgresTokenStore;
	cipher: TokenCipher;
	hygiene: Hygiene;
	manager(options?: Partial<TokenManagerOptions>): TokenManager;
	/** Authorizes `id` through a code exchange (SENTINEL-access-1 / SENTINEL-refresh-1), then clears nock. */
	authorize(id: string): Promise<void>;
	expire(id: string): Promise<void>;
	/** The stored tokens, decrypted, and the status. */
	stored(id: string): Promise<{
		accessToken: string | null;
		refreshToken: string | null;
		status: string;
		lastError: string | null;
		version: number;
	}>;
	/** Every raw row, recorded for the hygiene scan, and checked for plaintext tokens. */
	scanRawRows(): Promise<void>;
	teardown(): Promise<void>;
}

export async function faultEnv(): Promise<FaultEnv> {
	nock.disableNetConnect();
	nock.enableNetConnect(/127\.0\.0\.1|localhost/);
	const db = await createTemporaryPostgresDatabase('oauth2tm_faults');
	const store = new PostgresTokenStore({ pool: db.pool, createTableIfMissing: true });
	const cipher = new TokenCipher(ENCRYPTION_KEY);
	const hygiene = new Hygiene();
	// Log lines: anything the engine, the stores or the node print while the suite runs is scanned too.
	const restoreConsole = (['log', 'info', 'warn', 'error', 'debug'] as const).map((level) => {
		const original = console[level];
		console[level] = (...args: unknown[]) => {
			hygiene.record(
				`console.${level}`,
				args
					.map((a) =>
						a instanceof Error
							? `${a.message}\n${a.stack}`
							: typeof a === 'string'
								? a
								: JSON.stringify(a),
					)
					.join(' '),
			);
			original.apply(console, args);
		};
		return () => (console[level] = original);
	});
	const stores: TokenStore[] = [store];
	const env: FaultEnv = {
		db,
		store,
		cipher,
		hygiene,
		manager: (options = {}) =>
			new TokenManager({
				store,
				cipher,
				client: testClient({
					authorizationUrl: `${PROVIDER_ORIGIN}/oauth/authorize`,
					revocationUrl: `${PROVIDER_ORIGIN}/oauth/revoke`,
				}),
				endpoint: { retryBaseDelayMs: 1, timeoutMs: 2000 },
				pollIntervalMs: 10,
				...options,
			}),
		async authorize(id) {
			nock.cleanAll();
			rotatingTokenEndpoint();
			await env
				.manager()
				.exchangeAuthorizationCode(id, { code: `code-for-${id}`, allowMissingState: true });
			nock.cleanAll();
		},
		async expire(id) {
			await db.sql(
				`update oauth2_tokens set expires_at = now() - interval '1 second' where connection_id = $1`,
				[id],
			);
		},
		async stored(id) {
			const row = await store.get(id);
			if (!row) throw new Error(`no row ${id}`);
			const open = (v: string | null, f: 'access_token' | 'refresh_token') =>
				v === null ? null : cipher.decrypt(v, id, f);
			return {
				accessToken: open(row.accessToken, 'access_token'),
				refreshToken: open(row.refreshToken, 'refresh_token'),
				status: row.status,
				lastError: row.lastError,
				version: row.version,
			};
		},
		async scanRawRows() {
			const rows = await db.sql(`select * from oauth2_tokens`);
			for (const row of rows)
				hygiene.record(`raw row ${String(row.connection_id).slice(0, 60)}`, row);
			for (const row of rows) {
				for (const column of ['access_token', 'refresh_token']) {
					const value = row[column];
					if (value !== null && !/^enc:v1:/.test(String(value)))
						throw new Error(`plaintext ${column} in row ${String(row.connection_id)}`);
				}
			}
		},
		async teardown() {
			restoreConsole.forEach((restore) => restore());
			nock.cleanAll();
			nock.enableNetConnect();
			await Promise.all(stores.map((s) => s.close().catch(() => undefined)));
			await db.drop();
		},
	};
	return env;
}

/** Runs `fn`, expecting it to throw; records the error for the hygiene scan and returns it. */
export async function expectFailure(
	hygiene: Hygiene,
	where: string,
	fn: () => Promise<unknown>,
): Promise<Error & Record<string, any>> {
	let result: unknown;
	try {
		result = await fn();
	} catch (error) {
		hygiene.record(where, error);
		return error as Error & Record<string, any>;
	}
	throw new Error(`${where}: expected a failure, got ${JSON.stringify(result)?.slice(0, 200)}`);
}

/**
 * The hooks every fault file shares: one env for the file (handed to `ready`), nock and spies reset after each
 * scenario, and at the end the hygiene scan over everything recorded plus the raw rows, which must find nothing.
 */
export function useFaultEnv(ready: (env: FaultEnv) => void): void {
	let env: FaultEnv | undefined;
	beforeAll(async () => {
		env = await faultEnv();
		ready(env);
	});
	afterEach(() => {
		nock.cleanAll();
		jest.restoreAllMocks();
	});
	afterAll(async () => {
		try {
			await env!.scanRawRows();
			expect(env!.hygiene.leaks()).toEqual([]);
		} finally {
			await env?.teardown();
		}
	});
}
