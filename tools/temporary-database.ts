/**
 * Temporary databases on a real PostgreSQL or MySQL/MariaDB server, for the tests, the measurements and n8n's own
 * database: created under a fresh name, dropped by `drop()`. An unreachable server fails the caller (the test suites
 * decide in test/stores/servers.ts when they may skip instead). A name carries its creation time, so the databases
 * of a run that died can be told apart from those of a run under way (dropStalePostgresDatabases).
 */
import { randomBytes } from 'node:crypto';
import { createConnection, type Connection } from 'mysql2/promise';
import { Client, type PoolConfig } from 'pg';

export const TEST_POSTGRES_URL =
	process.env.TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
export const TEST_MYSQL_URL = process.env.TEST_MYSQL_URL || 'mysql://root@127.0.0.1:3306/test';

const CONNECT_TIMEOUT_MS = 5000;

export interface TemporaryDatabase {
	name: string;
	/** postgres://… or mysql://… URL of the temporary database. */
	url: string;
	/** Runs SQL on the temporary database with a short-lived connection (UTC on MySQL). */
	sql<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
	drop(): Promise<void>;
}

export interface TemporaryPostgresDatabase extends TemporaryDatabase {
	pool: PoolConfig;
}

export type TemporaryMySqlDatabase = TemporaryDatabase;

export interface TemporaryDatabaseOptions {
	/** URL of the server, with a database the user may connect to (default: TEST_POSTGRES_URL / TEST_MYSQL_URL). */
	server?: string;
}

/**
 * A database whose default collation is ICU's English one, under which "a" < "B" < "b": a table without collation
 * "C" sorts in that order, not byte by byte (the test server's own default, C.UTF-8, sorts like bytes).
 */
export const ICU_COLLATION = { icuLocale: 'en-US' };

/** `<prefix>_<creation time in base 36>_<random>`. */
function freshName(prefix: string): string {
	return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

function databaseUrl(server: string, name: string): string {
	const url = new URL(server);
	url.pathname = `/${name}`;
	return url.toString();
}

async function withPostgres<T>(url: string, run: (client: Client) => Promise<T>): Promise<T> {
	const client = new Client({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
	await client.connect();
	try {
		return await run(client);
	} finally {
		await client.end();
	}
}

async function withMySql<T>(url: string, run: (connection: Connection) => Promise<T>): Promise<T> {
	const connection = await createConnection({
		uri: url,
		timezone: 'Z',
		connectTimeout: CONNECT_TIMEOUT_MS,
		multipleStatements: true,
	});
	try {
		return await run(connection);
	} finally {
		await connection.end();
	}
}

/** `icuLocale`: the database's default collation (ICU), instead of the server's. */
export async function createTemporaryPostgresDatabase(
	prefix = 'oauth2tm',
	options: TemporaryDatabaseOptions & { icuLocale?: string } = {},
): Promise<TemporaryPostgresDatabase> {
	const server = options.server ?? TEST_POSTGRES_URL;
	const name = freshName(prefix);
	const collation = options.icuLocale
		? ` template template0 locale_provider icu icu_locale '${options.icuLocale.replace(/'/g, '')}'`
		: '';
	await withPostgres(server, (admin) => admin.query(`create database "${name}"${collation}`));
	const url = databaseUrl(server, name);
	return {
		name,
		url,
		pool: { connectionString: url },
		sql: (text, params) =>
			withPostgres(url, async (client) => (await client.query(text, params)).rows),
		drop: () => dropPostgresDatabase(server, name),
	};
}

export async function dropPostgresDatabase(server: string, name: string): Promise<void> {
	await withPostgres(server, (admin) =>
		admin.query(`drop database if exists "${name}" with (force)`),
	);
}

/** Drops the databases created with `prefix` longer than `maxAgeMs` ago: those of runs that died without cleaning up. */
export async function dropStalePostgresDatabases(
	server: string,
	prefix: string,
	maxAgeMs: number,
): Promise<void> {
	await withPostgres(server, async (admin) => {
		const { rows } = await admin.query<{ datname: string }>(
			'select datname from pg_database where starts_with(datname, $1)',
			[`${prefix}_`],
		);
		for (const { datname } of rows) {
			const created = parseInt(datname.slice(prefix.length + 1).split('_')[0], 36);
			if (Number.isFinite(created) && Date.now() - created > maxAgeMs)
				await admin.query(`drop database if exists "${datname}" with (force)`);
		}
	});
}

export async function createTemporaryMySqlDatabase(
	prefix = 'oauth2tm',
	options: TemporaryDatabaseOptions = {},
): Promise<TemporaryMySqlDatabase> {
	const server = options.server ?? TEST_MYSQL_URL;
	const name = freshName(prefix);
	await withMySql(server, (admin) =>
		admin.query(`create database \`${name}\` character set utf8mb4 collate utf8mb4_unicode_ci`),
	);
	const url = databaseUrl(server, name);
	return {
		name,
		url,
		sql: (text, params) =>
			withMySql(url, async (connection) => (await connection.query(text, params))[0] as never),
		drop: () =>
			withMySql(
				server,
				async (admin) => void (await admin.query(`drop database if exists \`${name}\``)),
			),
	};
}
