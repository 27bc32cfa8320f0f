/**
 * TokenStore on PostgreSQL through pg's pool. Schema: sql/postgres.sql. The statements are SqlTokenStore's; this
 * file holds what is PostgreSQL's own: $n placeholders, the clock (clock_timestamp(), so a lease follows the server's
 * time even inside a long transaction), error codes, schema inspection through the search_path.
 */
import { Pool, type PoolConfig } from 'pg';
import { StoreError } from '../errors';
import { storeIdentity } from '../store';
import { parseTableName } from './sql-schema';
import type { SqlDialect, SqlDriver } from './sql-dialect';
import { likePrefixPattern, SqlTokenStore } from './sql-store';

export interface PostgresStoreOptions {
	pool?: PoolConfig;
	/** "table" or "schema.table"; default oauth2_tokens. */
	tableName?: string;
	createTableIfMissing?: boolean;
}

/** SQLSTATE: unique_violation. */
const UNIQUE_VIOLATION = '23505';

function postgresDialect(pool: Pool): SqlDialect {
	return {
		name: 'postgres',
		hint: 'Check the PostgreSQL connection settings (host, port, database, user, password, SSL) and that the server is reachable.',
		quote: (identifier) => `"${identifier}"`,
		// Index names are unique per schema: they follow the table's.
		indexPrefix: (table) => table,
		placeholder: (index) => `$${index + 1}`,
		now: 'clock_timestamp()',
		later: (ttlMs) => `clock_timestamp() + ${ttlMs} * interval '1 millisecond'`,
		encode: (value) => value ?? null,
		// Byte order whatever the column's or the database's collation ("C" compares UTF-8 bytes).
		byteOrder: (column) => `${column} collate "C"`,
		// The planner weighs the status index by the table's statistics.
		listedStatus: 'status',
		equalsExactly: (column, value) => `${column} = ${value}`,
		startsWith: (column, pattern) => `${column} like ${pattern} escape '!'`,
		prefixPattern: likePrefixPattern,
		containsPattern: (text) => `%${likePrefixPattern(text)}`,
		// The outer condition is checked again on a row a concurrent writer just changed; the subquery only bounds the batch.
		deleteAtMost: (table, where, limit) =>
			`delete from ${table} where ${where} and connection_id in (select connection_id from ${table} where ${where} limit ${limit})`,
		isDuplicateKey: (error) => (error as { code?: string }).code === UNIQUE_VIOLATION,
		// "add column if not exists" makes the statement idempotent by itself.
		isDuplicateColumn: () => false,
		async columnsOf(tableParts) {
			const [schema, table] = tableParts.length === 2 ? tableParts : [null, tableParts[0]];
			const { rows } = await pool.query<{ column_name: string }>(
				`select column_name from information_schema.columns
				  where table_name = $1 and table_schema = coalesce($2, current_schema())`,
				[table, schema],
			);
			return rows.length ? rows.map((row) => row.column_name) : null;
		},
		message(error) {
			const e = error as { message?: string; code?: string };
			return `${(e.message ?? 'query failed').slice(0, 300)}${e.code ? ` (${e.code})` : ''}`;
		},
	};
}

function postgresDriver(pool: Pool): SqlDriver {
	return {
		async run(sql, params) {
			const result = await pool.query(sql, params);
			return { rows: result.rows, changes: result.rowCount ?? 0 };
		},
		async writeReturning(write, params) {
			return (await pool.query(`${write} returning *`, params)).rows[0];
		},
		close: () => pool.end(),
	};
}

export class PostgresTokenStore extends SqlTokenStore {
	private readonly pool: Pool;
	private resolvedIdentity: Promise<string> | undefined;

	constructor(options: PostgresStoreOptions) {
		const tableParts = parseTableName(options.tableName, true);
		const pool = new Pool({ max: 5, ...options.pool });
		// A dropped connection must not crash n8n; the next query reports it.
		pool.on('error', () => undefined);
		const p = options.pool ?? {};
		super(postgresDialect(pool), postgresDriver(pool), {
			tableParts,
			createTableIfMissing: options.createTableIfMissing ?? false,
			description: `PostgreSQL table ${tableParts.join('.')} on ${p.host ?? 'localhost'}:${p.port ?? 5432}/${p.database ?? ''}`,
		});
		this.pool = pool;
	}

	/**
	 * Server, database and user as the connection sees them, and the schema the table name resolves to through the
	 * user's search_path: two users of one database whose unqualified table name lands in different schemas
	 * have different identities.
	 */
	identity(): Promise<string> {
		this.resolvedIdentity ??= this.guard('locate the table', async () => {
			await this.prepare();
			const client = await this.pool.connect();
			try {
				const { rows } = await client.query<{
					database: string;
					user: string;
					schema: string;
					table: string;
				}>(
					`select current_database() as database, current_user as user, n.nspname as schema, c.relname as table
					   from pg_class c join pg_namespace n on n.oid = c.relnamespace
					  where c.oid = to_regclass($1)`,
					[this.tableParts.map((part) => `"${part}"`).join('.')],
				);
				if (!rows[0]) throw new StoreError(`${this.description} does not exist`);
				// A pooled client is a pg Client: host and port as connected (from the options or the connection string).
				const { host, port } = client as unknown as { host?: string; port?: number };
				return storeIdentity('postgres', { host, port, ...rows[0] });
			} finally {
				client.release();
			}
		}).catch((error) => {
			this.resolvedIdentity = undefined;
			throw error;
		});
		return this.resolvedIdentity;
	}
}
