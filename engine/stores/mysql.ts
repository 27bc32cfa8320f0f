/**
 * TokenStore on MySQL 8 / MariaDB 10.5+ through mysql2's promise pool. Schema: sql/mysql.sql. The statements are
 * SqlTokenStore's; this file holds what is MySQL's own: ? placeholders, backquotes, the clock, error numbers, and
 * reading a written row back in the same transaction (MySQL has no "returning").
 *
 * Times are stored as UTC DATETIME(3): the SQL uses UTC_TIMESTAMP(3) and the driver runs with timezone "Z", so
 * neither the server's nor the session's time zone matters. Leases are computed by the server's clock.
 */
import { createPool } from 'mysql2/promise';
import type { Pool, PoolOptions, ResultSetHeader, RowDataPacket } from 'mysql2/promise';

import { storeIdentity } from '../store';
import { parseTableName } from './sql-schema';
import type { SqlDialect, SqlDriver, SqlResult } from './sql-dialect';
import { likePrefixPattern, SqlTokenStore } from './sql-store';

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
	/** How long a connection may stay unused before the pool closes it (default 60 s). */
	idleTimeoutMs?: number;
}

/** MySQL error numbers: duplicate key; duplicate column name. */
const ER_DUP_ENTRY = 1062;
const ER_DUP_FIELDNAME = 1060;
const NOW = 'utc_timestamp(3)';

type SqlValue = string | number | boolean | Date | null;

function mysqlDialect(pool: Pool): SqlDialect {
	return {
		name: 'mysql',
		hint: 'Check the MySQL connection settings (host, port, database, user, password, SSL) and that the server is reachable.',
		quote: (identifier) => `\`${identifier}\``,
		// Index names are unique per table, so the shipped ones fit every table.
		indexPrefix: () => 'oauth2_tokens',
		placeholder: () => '?',
		now: NOW,
		later: (ttlMs) => `${NOW} + interval (${ttlMs} * 1000) microsecond`,
		encode: (value) => value ?? null,
		// connection_id is varbinary: it compares and sorts byte by byte already.
		byteOrder: (column) => column,
		// The optimizer weighs the status index by the table's statistics.
		listedStatus: 'status',
		// Text columns compare in utf8mb4_unicode_ci, which ignores case and trailing spaces; bytes do not.
		equalsExactly: (column, value) => `${column} = cast(${value} as binary)`,
		startsWith: (column, pattern) => `${column} like ${pattern} escape '!'`,
		prefixPattern: likePrefixPattern,
		containsPattern: (text) => `%${likePrefixPattern(text)}`,
		deleteAtMost: (table, where, limit) => `delete from ${table} where ${where} limit ${limit}`,
		isDuplicateKey: (error) => (error as { errno?: number }).errno === ER_DUP_ENTRY,
		isDuplicateColumn: (error) => (error as { errno?: number }).errno === ER_DUP_FIELDNAME,
		async columnsOf(tableParts) {
			const [rows] = await pool.query<RowDataPacket[]>(
				'select column_name as name from information_schema.columns where table_schema = database() and table_name = ?',
				[tableParts[0]],
			);
			return rows.length ? rows.map((row) => String(row.name)) : null;
		},
		message(error) {
			// Driver text without credentials a URL might carry.
			const message = (error instanceof Error ? error.message : String(error))
				.replace(/\/\/[^@\s/]*@/g, '//***@')
				.slice(0, 300);
			const code = (error as { code?: string }).code;
			return `${message}${code ? ` (${code})` : ''}`;
		},
	};
}

function result(rows: unknown): SqlResult {
	return Array.isArray(rows)
		? { rows: rows as RowDataPacket[], changes: 0 }
		: { rows: [], changes: (rows as ResultSetHeader).affectedRows };
}

function mysqlDriver(pool: Pool): SqlDriver {
	return {
		async run(sql, params) {
			const [rows] = await pool.execute(sql, params as SqlValue[]);
			return result(rows);
		},
		async writeReturning(write, params, read, readParams) {
			const db = await pool.getConnection();
			try {
				await db.query('start transaction');
				const [written] = await db.execute<ResultSetHeader>(write, params as SqlValue[]);
				const [rows] = written.affectedRows
					? await db.execute<RowDataPacket[]>(read, readParams as SqlValue[])
					: [[]];
				await db.query('commit');
				return rows[0];
			} catch (error) {
				await db.query('rollback').catch(() => undefined);
				throw error;
			} finally {
				db.release();
			}
		},
		close: () => pool.end(),
	};
}

export class MySqlTokenStore extends SqlTokenStore {
	private readonly location: Record<string, string | number | undefined>;

	constructor(options: MySqlStoreOptions) {
		const tableParts = parseTableName(options.tableName, false);
		const poolSize = options.poolSize ?? 5;
		const config: PoolOptions = {
			connectionLimit: poolSize,
			// mysql2 runs its idle check only when maxIdle is below the pool size; it then closes every connection left
			// unused for idleTimeout, so a pool nobody calls holds no session.
			maxIdle: poolSize - 1,
			idleTimeout: options.idleTimeoutMs ?? 60_000,
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
		const pool = createPool(config);
		// An idle connection the server dropped must not crash n8n; the next query gets a fresh one.
		pool.on('connection', (connection) => connection.on('error', () => undefined));
		super(mysqlDialect(pool), mysqlDriver(pool), {
			tableParts,
			createTableIfMissing: options.createTableIfMissing ?? false,
			description: `MySQL table ${tableParts[0]} on ${config.host}:${config.port}/${config.database ?? ''}`,
		});
		this.location = {
			host: config.host,
			port: config.port,
			database: config.database,
			user: config.user,
			table: tableParts[0],
		};
	}

	/** Server, database, user and table: in MySQL a table name is unique within its database. */
	async identity(): Promise<string> {
		return storeIdentity('mysql', this.location);
	}
}
