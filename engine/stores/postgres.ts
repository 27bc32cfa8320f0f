import { Pool, type PoolConfig } from 'pg';
import { ConnectionExistsError, ConnectionNotFoundError, StoreError, VersionConflictError } from '../errors';
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

export interface PostgresStoreOptions {
	pool?: PoolConfig;
	/** "table" or "schema.table"; default oauth2_tokens. */
	tableName?: string;
	createTableIfMissing?: boolean;
}

const quote = (identifier: string) => `"${identifier}"`;

export class PostgresStore implements TokenStore {
	readonly description: string;
	private readonly pool: Pool;
	private readonly table: string;
	private readonly tableParts: string[];
	private ready: Promise<void> | undefined;
	private resolvedIdentity: Promise<string> | undefined;

	constructor(private readonly options: PostgresStoreOptions) {
		this.tableParts = parseTableName(options.tableName, true);
		this.table = this.tableParts.map(quote).join('.');
		this.pool = new Pool({ max: 5, ...options.pool });
		// A dropped connection must not crash n8n; the next query reports it.
		this.pool.on('error', () => undefined);
		const p = options.pool ?? {};
		this.description = `PostgreSQL table ${this.tableParts.join('.')} on ${p.host ?? 'localhost'}:${p.port ?? 5432}/${p.database ?? ''}`;
	}

	/**
	 * Creates the table when allowed and missing, or adds the columns added since an existing table was created;
	 * otherwise checks its columns. Runs once per store.
	 */
	private prepare(): Promise<void> {
		this.ready ??= (async () => {
			let report = await this.inspectSchema();
			// Only a missing table is created: a table of the wrong shape is reported by its missing columns.
			if (!report.exists && this.options.createTableIfMissing) {
				const indexPrefix = this.tableParts[this.tableParts.length - 1];
				await this.pool.query(schemaSql('postgres', this.table, indexPrefix));
				report = await this.inspectSchema();
			} else if (upgradable(report) && this.options.createTableIfMissing) {
				// "add column if not exists": idempotent, so processes upgrading at once do not trip over each other.
				try {
					for (const statement of addColumnsSql('postgres', this.table, report.missingColumns)) await this.pool.query(statement);
				} catch (error) {
					const e = error as { message?: string; code?: string };
					throw upgradeError(report, 'postgres', this.table, `${e.message ?? 'query failed'}${e.code ? ` (${e.code})` : ''}`);
				}
				report = await this.inspectSchema();
			}
			const problem = schemaError(report, 'postgres', this.table);
			if (problem) throw problem;
		})().catch((error) => {
			this.ready = undefined;
			throw this.wrap(error);
		});
		return this.ready;
	}

	/**
	 * Server, database and user as the connection sees them, and the schema the table name resolves to through the
	 * user's search_path: two users of one database whose unqualified table name lands in different schemas
	 * have different identities.
	 */
	identity(): Promise<string> {
		this.resolvedIdentity ??= (async () => {
			await this.prepare();
			const client = await this.pool.connect();
			try {
				const { rows } = await client.query<{ database: string; user: string; schema: string; table: string }>(
					`select current_database() as database, current_user as user, n.nspname as schema, c.relname as table
					   from pg_class c join pg_namespace n on n.oid = c.relnamespace
					  where c.oid = to_regclass($1)`,
					[this.table],
				);
				if (!rows[0]) throw new StoreError(`${this.description} does not exist`);
				// A pooled client is a pg Client: host and port as connected (from the options or the connection string).
				const { host, port } = client as unknown as { host?: string; port?: number };
				return storeIdentity('postgres', { host, port, ...rows[0] });
			} finally {
				client.release();
			}
		})().catch((error) => {
			this.resolvedIdentity = undefined;
			throw this.wrap(error);
		});
		return this.resolvedIdentity;
	}

	/** Reports whether the table exists and which required columns it lacks (for credential tests). */
	async inspectSchema(): Promise<SchemaReport> {
		const [schema, table] = this.tableParts.length === 2 ? this.tableParts : [null, this.tableParts[0]];
		try {
			const { rows } = await this.pool.query<{ column_name: string }>(
				`select column_name from information_schema.columns
				  where table_name = $1 and table_schema = coalesce($2, current_schema())`,
				[table, schema],
			);
			return schemaReport(this.tableParts, rows.length ? rows.map((r) => r.column_name) : null);
		} catch (error) {
			throw this.wrap(error);
		}
	}

	/** Throws a StoreError naming the missing columns, or telling how to create the table. */
	async verifySchema(): Promise<void> {
		const problem = schemaError(await this.inspectSchema(), 'postgres', this.table);
		if (problem) throw problem;
	}

	async get(connectionId: string): Promise<StoredConnection | null> {
		const { rows } = await this.query(`select * from ${this.table} where connection_id = $1`, [connectionId]);
		return rows[0] ? rowToConnection(rows[0]) : null;
	}

	async insert(connection: NewConnection): Promise<StoredConnection> {
		const entries: Array<[string, unknown]> = [['connection_id', connection.connectionId], ...fieldEntries(connection)];
		try {
			const { rows } = await this.query(
				`insert into ${this.table} (${entries.map(([c]) => c).join(', ')})
				 values (${entries.map((_, i) => `$${i + 1}`).join(', ')}) returning *`,
				entries.map(([, v]) => v),
			);
			return rowToConnection(rows[0]);
		} catch (error) {
			if ((error as { code?: string }).code === '23505') throw new ConnectionExistsError(connection.connectionId);
			throw error;
		}
	}

	async update(connectionId: string, expectedVersion: number, fields: Partial<ConnectionFields>): Promise<StoredConnection> {
		const entries = fieldEntries(fields);
		const set = versionedUpdateSet(entries.map(([column]) => column), (i) => `$${i + 3}`, 'now()');
		const { rows } = await this.query(
			`update ${this.table} set ${set}
			  where connection_id = $1 and version = $2 returning *`,
			[connectionId, expectedVersion, ...entries.map(([, v]) => v)],
		);
		if (rows[0]) return rowToConnection(rows[0]);
		if (await this.get(connectionId)) throw new VersionConflictError(connectionId, expectedVersion);
		throw new ConnectionNotFoundError(connectionId, this.description);
	}

	async acquireLease(connectionId: string, holder: string, ttlMs: number): Promise<boolean> {
		const { rowCount } = await this.query(
			`update ${this.table}
			    set lease_holder = $2, lease_until = clock_timestamp() + $3 * interval '1 millisecond'
			  where connection_id = $1 and (lease_holder is null or lease_until <= clock_timestamp() or lease_holder = $2)`,
			[connectionId, holder, Math.ceil(ttlMs)],
		);
		return rowCount === 1;
	}

	async releaseLease(connectionId: string, holder: string): Promise<void> {
		await this.query(
			`update ${this.table} set lease_holder = null, lease_until = null where connection_id = $1 and lease_holder = $2`,
			[connectionId, holder],
		);
	}

	async delete(connectionId: string): Promise<boolean> {
		const { rowCount } = await this.query(`delete from ${this.table} where connection_id = $1`, [connectionId]);
		return rowCount === 1;
	}

	async deleteExpired(provider: string, before: Date, limit: number): Promise<number> {
		// The outer condition is checked again on a row a concurrent writer just changed; the subquery only bounds the batch.
		const { rowCount } = await this.query(
			`delete from ${this.table}
			  where provider = $1 and expires_at < $2
			    and connection_id in (select connection_id from ${this.table} where provider = $1 and expires_at < $2 limit $3)`,
			[provider, before, Math.max(0, Math.floor(limit))],
		);
		return rowCount ?? 0;
	}

	async close(): Promise<void> {
		await this.pool.end();
	}

	private async query(sql: string, params: unknown[]) {
		await this.prepare();
		try {
			return await this.pool.query(sql, params);
		} catch (error) {
			throw this.wrap(error);
		}
	}

	private wrap(error: unknown): Error {
		if (error instanceof StoreError || error instanceof ConnectionExistsError) return error;
		const e = error as { message?: string; code?: string };
		if (e.code === '23505') return error as Error;
		return new StoreError(`${this.description}: ${e.message ?? 'query failed'}${e.code ? ` (${e.code})` : ''}`);
	}
}
