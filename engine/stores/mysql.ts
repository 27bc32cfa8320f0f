/**
 * TokenStore on MySQL 8 / MariaDB 10.5+ through mysql2's promise pool. Schema: sql/mysql.sql.
 *
 * Times are stored as UTC DATETIME(3): the SQL uses UTC_TIMESTAMP(3) and the driver runs with timezone "Z", so
 * neither the server's nor the session's time zone matters. Leases are computed by the server's clock.
 */
import { createPool } from 'mysql2/promise';
import type { Pool, PoolConnection, PoolOptions, ResultSetHeader, RowDataPacket } from 'mysql2/promise';

import { ConnectionExistsError, ConnectionNotFoundError, StoreError, TokenManagerError, VersionConflictError } from '../errors';
import { storeIdentity, type TokenStore } from '../store';
import type { ConnectionFields, NewConnection, StoredConnection } from '../types';
import {
	addColumnsSql,
	fieldEntries,
	parseTableName,
	rowToConnection,
	schemaError,
	schemaReport,
	schemaSql,
	upgradable,
	upgradeError,
	versionedUpdateSet,
	type SchemaReport,
} from './sql-common';

export interface MySqlStoreOptions {
	host?: string;
	port?: number;
	database?: string;
	user?: string;
	password?: string;
	/** true for TLS with the system's CAs; an object to pass a CA, a client certificate or `rejectUnauthorized`. */
	ssl?: boolean | { ca?: string; cert?: string; key?: string; rejectUnauthorized?: boolean };
	/** mysql://user:password@host:port/database instead of the fields above. */
	uri?: string;
	/** Default oauth2_tokens. */
	tableName?: string;
	createTableIfMissing?: boolean;
	/** Connections in the pool (default 5). */
	poolSize?: number;
	connectTimeoutMs?: number;
}

type SqlValue = string | number | boolean | Date | null;
const NOW = 'utc_timestamp(3)';
/** MySQL error numbers: duplicate key; duplicate column name. */
const ER_DUP_ENTRY = 1062;
const ER_DUP_FIELDNAME = 1060;

/** Driver text without credentials a URL might carry. */
function driverMessage(error: unknown): string {
	const message = error instanceof Error ? error.message : String(error);
	return message.replace(/\/\/[^@\s/]*@/g, '//***@').slice(0, 300);
}

export class MySqlTokenStore implements TokenStore {
	readonly description: string;
	private readonly pool: Pool;
	private readonly tableParts: string[];
	private readonly table: string;
	private readonly createTableIfMissing: boolean;
	private ready: Promise<void> | undefined;
	private readonly location: Record<string, string | number | undefined>;

	constructor(options: MySqlStoreOptions) {
		this.tableParts = parseTableName(options.tableName, false);
		this.table = `\`${this.tableParts[0]}\``;
		this.createTableIfMissing = options.createTableIfMissing ?? false;
		const config: PoolOptions = {
			connectionLimit: options.poolSize ?? 5,
			connectTimeout: options.connectTimeoutMs ?? 10_000,
			timezone: 'Z',
			dateStrings: false,
			supportBigNumbers: true,
			enableKeepAlive: true,
			charset: 'UTF8MB4_UNICODE_CI',
		};
		if (options.uri) {
			const url = new URL(options.uri);
			Object.assign(config, {
				host: url.hostname,
				port: url.port ? Number(url.port) : 3306,
				user: decodeURIComponent(url.username),
				password: decodeURIComponent(url.password),
				database: decodeURIComponent(url.pathname.replace(/^\//, '')) || options.database,
			});
		} else {
			Object.assign(config, {
				host: options.host || 'localhost',
				port: options.port || 3306,
				user: options.user,
				password: options.password,
				database: options.database,
			});
		}
		if (options.ssl) config.ssl = options.ssl === true ? {} : options.ssl;
		this.pool = createPool(config);
		// An idle connection the server dropped must not crash n8n; the next query gets a fresh one.
		this.pool.on('connection', (connection) => connection.on('error', () => undefined));
		this.description = `MySQL table ${this.tableParts[0]} on ${config.host}:${config.port}/${config.database ?? ''}`;
		this.location = { host: config.host, port: config.port, database: config.database, user: config.user, table: this.tableParts[0] };
	}

	/** Server, database, user and table: in MySQL a table name is unique within its database. */
	async identity(): Promise<string> {
		return storeIdentity('mysql', this.location);
	}

	/** Reports whether the table exists and which required columns it lacks. */
	async inspectSchema(): Promise<SchemaReport> {
		return this.guard('inspect the table', async () => {
			const [rows] = await this.pool.query<RowDataPacket[]>(
				'select column_name as name from information_schema.columns where table_schema = database() and table_name = ?',
				[this.tableParts[0]],
			);
			return schemaReport(this.tableParts, rows.length ? rows.map((row) => String(row.name)) : null);
		});
	}

	/** Throws a StoreError naming the missing columns, or telling how to create the table. */
	async verifySchema(): Promise<void> {
		const problem = schemaError(await this.inspectSchema(), 'mysql', this.table);
		if (problem) throw problem;
	}

	async get(connectionId: string): Promise<StoredConnection | null> {
		await this.prepare();
		return this.guard('read', async () => {
			const [rows] = await this.pool.execute<RowDataPacket[]>(`select * from ${this.table} where connection_id = ?`, [connectionId]);
			return rows.length ? rowToConnection(rows[0]) : null;
		});
	}

	async insert(connection: NewConnection): Promise<StoredConnection> {
		await this.prepare();
		const entries: Array<[string, unknown]> = [['connection_id', connection.connectionId], ...fieldEntries(connection)];
		if (!connection.metadata) entries.push(['metadata', '{}']);
		return this.transaction('insert', async (db) => {
			try {
				await db.execute(
					`insert into ${this.table} (${entries.map(([column]) => column).join(', ')}, version, created_at, updated_at)
					 values (${entries.map(() => '?').join(', ')}, 1, ${NOW}, ${NOW})`,
					entries.map(([, value]) => (value ?? null) as SqlValue),
				);
			} catch (error) {
				if ((error as { errno?: number }).errno === ER_DUP_ENTRY) throw new ConnectionExistsError(connection.connectionId);
				throw error;
			}
			return this.readIn(db, connection.connectionId);
		});
	}

	async update(connectionId: string, expectedVersion: number, fields: Partial<ConnectionFields>): Promise<StoredConnection> {
		await this.prepare();
		const entries = fieldEntries(fields);
		const set = versionedUpdateSet(entries.map(([column]) => column), () => '?', NOW);
		return this.transaction('update', async (db) => {
			const [result] = await db.execute<ResultSetHeader>(
				`update ${this.table} set ${set} where connection_id = ? and version = ?`,
				[...entries.map(([, value]) => (value ?? null) as SqlValue), connectionId, expectedVersion],
			);
			if (result.affectedRows === 0) {
				const [rows] = await db.execute<RowDataPacket[]>(`select version from ${this.table} where connection_id = ?`, [connectionId]);
				if (!rows.length) throw new ConnectionNotFoundError(connectionId, this.description);
				throw new VersionConflictError(connectionId, expectedVersion);
			}
			return this.readIn(db, connectionId);
		});
	}

	async acquireLease(connectionId: string, holder: string, ttlMs: number): Promise<boolean> {
		await this.prepare();
		const micros = Math.max(1000, Math.ceil(ttlMs) * 1000);
		return this.guard('take the refresh lease', async () => {
			const [result] = await this.pool.execute<ResultSetHeader>(
				`update ${this.table}
				    set lease_holder = ?, lease_until = ${NOW} + interval ? microsecond
				  where connection_id = ?
				    and (lease_holder is null or lease_until is null or lease_until <= ${NOW} or lease_holder = ?)`,
				[holder, micros, connectionId, holder],
			);
			return result.affectedRows === 1;
		});
	}

	async releaseLease(connectionId: string, holder: string): Promise<void> {
		await this.prepare();
		await this.guard('release the refresh lease', () =>
			this.pool.execute(`update ${this.table} set lease_holder = null, lease_until = null where connection_id = ? and lease_holder = ?`, [
				connectionId,
				holder,
			]),
		);
	}

	async delete(connectionId: string): Promise<boolean> {
		await this.prepare();
		return this.guard('delete', async () => {
			const [result] = await this.pool.execute<ResultSetHeader>(`delete from ${this.table} where connection_id = ?`, [connectionId]);
			return result.affectedRows === 1;
		});
	}

	async deleteExpired(provider: string, before: Date, limit: number): Promise<number> {
		await this.prepare();
		return this.guard('delete expired rows', async () => {
			// query, not execute: a placeholder in LIMIT is not accepted by every server's prepared statements.
			const [result] = await this.pool.query<ResultSetHeader>(`delete from ${this.table} where provider = ? and expires_at < ? limit ?`, [
				provider,
				before,
				Math.max(0, Math.floor(limit)),
			]);
			return result.affectedRows;
		});
	}

	async close(): Promise<void> {
		await this.pool.end();
	}

	private async readIn(db: PoolConnection, connectionId: string): Promise<StoredConnection> {
		const [rows] = await db.execute<RowDataPacket[]>(`select * from ${this.table} where connection_id = ?`, [connectionId]);
		if (!rows.length) throw new ConnectionNotFoundError(connectionId, this.description);
		return rowToConnection(rows[0]);
	}

	/**
	 * Creates the table when allowed and missing, or adds the columns added since an existing table was created;
	 * otherwise checks its columns. Runs once per store.
	 */
	private prepare(): Promise<void> {
		this.ready ??= (async () => {
			let report = await this.inspectSchema();
			// Only a missing table is created: a table of the wrong shape is reported, never altered.
			if (!report.exists && this.createTableIfMissing) {
				// Index names are per table in MySQL, so the shipped name fits every table.
				await this.guard('create the table', () => this.pool.query(schemaSql('mysql', this.table, 'oauth2_tokens')));
				report = await this.inspectSchema();
			} else if (upgradable(report) && this.createTableIfMissing) {
				for (const statement of addColumnsSql('mysql', this.table, report.missingColumns)) {
					try {
						await this.pool.query(statement);
					} catch (error) {
						// Another process added it first.
						if ((error as { errno?: number }).errno === ER_DUP_FIELDNAME) continue;
						const code = (error as { code?: string }).code;
						throw upgradeError(report, 'mysql', this.table, `${driverMessage(error)}${code ? ` (${code})` : ''}`);
					}
				}
				report = await this.inspectSchema();
			}
			const problem = schemaError(report, 'mysql', this.table);
			if (problem) throw problem;
		})().catch((error) => {
			this.ready = undefined;
			throw error;
		});
		return this.ready;
	}

	private async transaction<T>(action: string, work: (db: PoolConnection) => Promise<T>): Promise<T> {
		return this.guard(action, async () => {
			const db = await this.pool.getConnection();
			try {
				await db.query('start transaction');
				const result = await work(db);
				await db.query('commit');
				return result;
			} catch (error) {
				await db.query('rollback').catch(() => undefined);
				throw error;
			} finally {
				db.release();
			}
		});
	}

	/** Turns driver failures into a StoreError naming the store and the action; engine errors pass through. */
	private async guard<T>(action: string, work: () => Promise<T>): Promise<T> {
		try {
			return await work();
		} catch (error) {
			if (error instanceof TokenManagerError) throw error;
			const code = (error as { code?: string }).code;
			throw new StoreError(
				`${this.description}: could not ${action}: ${driverMessage(error)}${code ? ` (${code})` : ''}`,
				'Check the MySQL credential (host, port, database, user, password, SSL) and that the server is reachable.',
			);
		}
	}
}
