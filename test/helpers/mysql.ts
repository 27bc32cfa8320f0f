import { randomBytes } from 'node:crypto';
import { createConnection, type Connection } from 'mysql2/promise';

export const TEST_MYSQL_URL = process.env.TEST_MYSQL_URL || 'mysql://root@127.0.0.1:3306/test';

export interface TemporaryMySqlDatabase {
	name: string;
	/** mysql://… URL of the temporary database. */
	url: string;
	/** Runs SQL on the temporary database with a short-lived UTC connection. */
	sql<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
	drop(): Promise<void>;
}

async function connect(url: string): Promise<Connection> {
	return createConnection({ uri: url, timezone: 'Z', connectTimeout: 5000, multipleStatements: true });
}

/**
 * A fresh database on the real MySQL/MariaDB server, dropped by `drop()`. An unreachable server fails the
 * test (see servers.ts for when a suite may skip instead).
 */
export async function createTemporaryMySqlDatabase(prefix = 'oauth2tm'): Promise<TemporaryMySqlDatabase> {
	const name = `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
	const admin = await connect(TEST_MYSQL_URL);
	try {
		await admin.query(`create database \`${name}\` character set utf8mb4 collate utf8mb4_unicode_ci`);
	} finally {
		await admin.end();
	}
	const url = new URL(TEST_MYSQL_URL);
	url.pathname = `/${name}`;
	return {
		name,
		url: url.toString(),
		async sql(text, params) {
			const db = await connect(url.toString());
			try {
				const [rows] = await db.query(text, params);
				return rows as never;
			} finally {
				await db.end();
			}
		},
		async drop() {
			const db = await connect(TEST_MYSQL_URL);
			try {
				await db.query(`drop database if exists \`${name}\``);
			} finally {
				await db.end();
			}
		},
	};
}
