import { randomBytes } from 'node:crypto';
import { Client, type PoolConfig } from 'pg';

export const TEST_POSTGRES_URL = process.env.TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TemporaryDatabase {
	name: string;
	url: string;
	pool: PoolConfig;
	/** Runs SQL on the temporary database with a short-lived client. */
	sql<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
	drop(): Promise<void>;
}

/**
 * A database whose default collation is ICU's English one, under which "a" < "B" < "b": a table without collation
 * "C" sorts in that order, not byte by byte (the test server's own default, C.UTF-8, sorts like bytes).
 */
export const ICU_COLLATION = { icuLocale: 'en-US' };

/**
 * A fresh database on the real PostgreSQL server, dropped by `drop()`. An unreachable server fails the
 * test: the suites never skip silently. `icuLocale`: the database's default collation (ICU), instead of the server's.
 */
export async function createTemporaryPostgresDatabase(prefix = 'oauth2tm', options: { icuLocale?: string } = {}): Promise<TemporaryDatabase> {
	const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
	const admin = new Client({ connectionString: TEST_POSTGRES_URL });
	await admin.connect();
	try {
		const collation = options.icuLocale ? ` template template0 locale_provider icu icu_locale '${options.icuLocale.replace(/'/g, '')}'` : '';
		await admin.query(`create database "${name}"${collation}`);
	} finally {
		await admin.end();
	}
	const url = new URL(TEST_POSTGRES_URL);
	url.pathname = `/${name}`;
	const pool: PoolConfig = { connectionString: url.toString() };
	return {
		name,
		url: url.toString(),
		pool,
		async sql(text, params) {
			const client = new Client(pool);
			await client.connect();
			try {
				return (await client.query(text, params)).rows;
			} finally {
				await client.end();
			}
		},
		async drop() {
			const client = new Client({ connectionString: TEST_POSTGRES_URL });
			await client.connect();
			try {
				await client.query(`drop database if exists "${name}" with (force)`);
			} finally {
				await client.end();
			}
		},
	};
}
