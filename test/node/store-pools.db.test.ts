/**
 * The database sessions the node keeps while its storage credential is edited in n8n (same credential id, new
 * settings), counted on the real servers: the pool of settings no credential uses any more closes once the items
 * using it end, and a pool left unused closes its sessions after the credential's Idle Connection Timeout. Each
 * server gets a user of its own, so its sessions are the node's alone.
 */
import { randomBytes } from 'node:crypto';
import nock from 'nock';
import { Client } from 'pg';
import type { ICredentialDataDecryptedObject, IDataObject } from 'n8n-workflow';
import { STORAGE_CREDENTIALS } from '../../nodes/OAuth2TokenManager/transport/credentials';
import { retireCachedStores } from '../../nodes/OAuth2TokenManager/transport/storeCache';
import { OAuth2TokenManager } from '../../nodes/OAuth2TokenManager/OAuth2TokenManager.node';
import {
	createTemporaryMySqlDatabase,
	createTemporaryPostgresDatabase,
	TEST_POSTGRES_URL,
} from '../../tools/temporary-database';
import { executeContext, locator, NOCK_APP_CREDENTIAL } from '../helpers/node-context';
import { PROVIDER_ORIGIN } from '../helpers/provider';
import { describeMySql, describePostgres } from '../stores/servers';

const node = new OAuth2TokenManager();
const ENCRYPTION_KEY = 'store-pools-test-encryption-key';

/** A login user of its own on a database server, allowed to create the token table in a temporary database. */
interface ServerUser {
	storage: 'postgres' | 'mysql';
	setPassword(password: string): Promise<void>;
	/** Sessions the server has open for the user. */
	sessions(): Promise<number>;
	/** The storage credential of the user with `password` (and `changes`), as n8n hands it to the node. */
	credential(
		password: string,
		changes?: ICredentialDataDecryptedObject,
	): ICredentialDataDecryptedObject;
	drop(): Promise<void>;
}

const newPassword = () => randomBytes(12).toString('hex');
const userName = () => `oauth2tm_pools_${randomBytes(4).toString('hex')}`;

async function mysqlUser(password: string): Promise<ServerUser> {
	const db = await createTemporaryMySqlDatabase('oauth2tm_pools');
	const user = userName();
	await db.sql(`create user ?@'%' identified by ?`, [user, password]);
	await db.sql(`grant all on \`${db.name}\`.* to ?@'%'`, [user]);
	const url = new URL(db.url);
	return {
		storage: 'mysql',
		setPassword: async (next) =>
			void (await db.sql(`alter user ?@'%' identified by ?`, [user, next])),
		sessions: async () =>
			Number(
				(
					await db.sql<{ n: number }>(
						'select count(*) as n from information_schema.processlist where user = ?',
						[user],
					)
				)[0].n,
			),
		credential: (secret, changes) => ({
			host: url.hostname,
			port: Number(url.port) || 3306,
			database: db.name,
			user,
			password: secret,
			encryptionKey: ENCRYPTION_KEY,
			...changes,
		}),
		async drop() {
			await db.sql(`drop user if exists ?@'%'`, [user]);
			await db.drop();
		},
	};
}

async function postgresUser(password: string): Promise<ServerUser> {
	const db = await createTemporaryPostgresDatabase('oauth2tm_pools');
	const user = userName();
	// The passwords are hex: safe as literals, which these statements need.
	await db.sql(
		`create role "${user}" login password '${password}'; grant create on schema public to "${user}"`,
	);
	const url = new URL(db.url);
	return {
		storage: 'postgres',
		setPassword: async (next) => void (await db.sql(`alter role "${user}" password '${next}'`)),
		sessions: async () =>
			(
				await db.sql<{ n: number }>(
					'select count(*)::int as n from pg_stat_activity where usename = $1',
					[user],
				)
			)[0].n,
		credential: (secret, changes) => ({
			host: url.hostname,
			port: Number(url.port) || 5432,
			database: db.name,
			user,
			password: secret,
			encryptionKey: ENCRYPTION_KEY,
			...changes,
		}),
		async drop() {
			await db.drop();
			const admin = new Client({ connectionString: TEST_POSTGRES_URL });
			await admin.connect();
			try {
				await admin.query(`drop role if exists "${user}"`);
			} finally {
				await admin.end();
			}
		},
	};
}

/** Runs the node with the storage credential `credentialId`, holding `credential`, and the nock provider's App: its items. */
async function run(
	server: ServerUser,
	credentialId: string,
	credential: ICredentialDataDecryptedObject,
	parameters: Record<string, unknown>,
): Promise<IDataObject[]> {
	const type = STORAGE_CREDENTIALS[server.storage];
	const context = executeContext({
		parameters: { storage: server.storage, ...parameters },
		credentials: {
			[type]: { tableName: 'oauth2_tokens', createTableIfMissing: true, ...credential },
			oAuth2TokenManagerAppApi: NOCK_APP_CREDENTIAL,
		},
		credentialIds: { [type]: credentialId },
		typeVersion: 1.2,
		continueOnFail: true,
	});
	return (await node.execute.call(context))[0].map((item) => item.json);
}

const listConnections = { operation: 'listConnections', returnAll: true, filters: {} };
/** Goes through the token manager: the connection does not exist, so it answers connection_not_found after one read. */
const getMissingToken = {
	operation: 'getValidToken',
	connectionId: locator('pools:missing'),
	minValiditySeconds: 60,
};

/** `read()` once it equals `expected`, or its last value after `withinMs`. */
async function settled(
	read: () => Promise<number>,
	expected: number,
	withinMs = 5000,
): Promise<number> {
	const deadline = Date.now() + withinMs;
	for (;;) {
		const value = await read();
		if (value === expected || Date.now() > deadline) return value;
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
}

const servers: [string, () => jest.Describe, (password: string) => Promise<ServerUser>][] = [
	['MariaDB', describeMySql, mysqlUser],
	['PostgreSQL', describePostgres, postgresUser],
];

describe.each(servers)('%s', (_name, describeServer, createUser) => {
	describeServer()('storage credential edits', () => {
		let server: ServerUser | undefined;
		beforeAll(() => {
			nock.disableNetConnect();
			nock.enableNetConnect(/127\.0\.0\.1|localhost/);
		});
		afterEach(async () => {
			retireCachedStores();
			nock.cleanAll();
			await server?.drop();
			server = undefined;
		});
		afterAll(() => nock.enableNetConnect());

		it('keeps one pool with sessions per credential in use after seven password edits, back to the first password included', async () => {
			const first = newPassword();
			const user = (server = await createUser(first));
			// Another credential of the same user, on another table: its pool is in use and stays.
			expect(
				await run(
					user,
					'other',
					user.credential(first, { tableName: 'other_tokens' }),
					listConnections,
				),
			).toEqual([]);
			const passwords = [first, ...Array.from({ length: 7 }, newPassword), first];
			for (const [edit, password] of passwords.entries()) {
				await user.setPassword(password);
				// Every other edit goes through a token manager: one built on a closed pool must not come back with the first password.
				const items = await run(
					user,
					'edited',
					user.credential(password),
					edit % 2 ? listConnections : getMissingToken,
				);
				expect(items).toEqual(
					edit % 2
						? []
						: [
								expect.objectContaining({
									details: expect.objectContaining({ code: 'connection_not_found' }),
								}),
							],
				);
			}
			// Each pool ran one query at a time: one session each, for the two credentials.
			expect(await settled(() => user.sessions(), 2)).toBe(2);
		});

		it('lets an execution in flight finish on the pool of the settings it began with, then closes that pool', async () => {
			const before = newPassword();
			const user = (server = await createUser(before));
			const tokens = (n: number) => ({
				access_token: `SENTINEL-access-${n}`,
				refresh_token: `SENTINEL-refresh-${n}`,
				token_type: 'Bearer',
				expires_in: 3600,
			});
			nock(PROVIDER_ORIGIN).post('/oauth/token').reply(200, tokens(1));
			const exchange = {
				operation: 'exchangeAuthorizationCode',
				connectionId: locator('pools:held'),
				code: 'code-1',
				state: '',
				providerError: '',
				exchangeOptions: { allowMissingState: true },
			};
			expect(await run(user, 'edited', user.credential(before), exchange)).toEqual([
				expect.objectContaining({ connectionId: 'pools:held' }),
			]);

			// The refresh waits at the provider while the credential is saved with a new password and used.
			let answer!: () => void;
			const answered = new Promise<void>((resolve) => (answer = resolve));
			let asked!: () => void;
			const providerAsked = new Promise<void>((resolve) => (asked = resolve));
			nock(PROVIDER_ORIGIN)
				.post('/oauth/token')
				.reply(async () => {
					asked();
					await answered;
					return [200, tokens(2)];
				});
			const refresh = run(user, 'edited', user.credential(before), {
				operation: 'refreshToken',
				connectionId: locator('pools:held'),
				force: true,
			});
			await providerAsked;
			const after = newPassword();
			await user.setPassword(after);
			expect(await run(user, 'edited', user.credential(after), listConnections)).toMatchObject([
				{ connectionId: 'pools:held', refreshCount: 0 },
			]);
			answer();

			expect(await refresh).toEqual([
				expect.objectContaining({ connectionId: 'pools:held', refreshed: true }),
			]);
			expect(await run(user, 'edited', user.credential(after), listConnections)).toMatchObject([
				{ connectionId: 'pools:held', refreshCount: 1 },
			]);
			expect(await settled(() => user.sessions(), 1)).toBe(1);
		});

		it('closes the sessions of a pool left unused for the Idle Connection Timeout', async () => {
			const password = newPassword();
			const user = (server = await createUser(password));
			expect(
				await run(
					user,
					'idle',
					user.credential(password, { idleTimeoutSeconds: 1 }),
					listConnections,
				),
			).toEqual([]);
			expect(await user.sessions()).toBe(1);
			// mysql2 checks for idle connections every second.
			expect(await settled(() => user.sessions(), 0, 4000)).toBe(0);
		});
	});
});
