/**
 * The one TokenStore over SQL: the statements and the store contract, once. Each database brings a small dialect
 * (sql-dialect.ts; postgres.ts, mysql.ts, sqlite.ts); the tables are prepared by sql-tables.ts from the shipped
 * sql/<dialect>.sql (sql-schema.ts); rows map to connections in sql-rows.ts.
 */
import {
	ConnectionExistsError,
	ConnectionNotFoundError,
	StoreError,
	TokenManagerError,
	VersionConflictError,
} from '../errors';
import { RESERVED_PREFIX } from '../authorization';
import type { TokenStore } from '../store';
import {
	NO_FAILURES,
	type ConnectionFields,
	type ConnectionQuery,
	type NewConnection,
	type StoredConnection,
} from '../types';
import type { SqlDialect, SqlDriver, SqlResult, SqlRow } from './sql-dialect';
import { chunksOf, IDS_PER_STATEMENT } from './chunks';
import { dueCondition, reportedStatusCondition } from './row-filters';
import { sqlCondition } from './sql-conditions';
import { fieldEntries, rowToConnection, toDate, versionedUpdateSet } from './sql-rows';
import { schemaError, type QuotedTables, type SchemaReport } from './sql-schema';
import { SqlTables } from './sql-tables';

export interface SqlStoreOptions {
	tableParts: string[];
	createTableIfMissing: boolean;
	/** Short name for messages, e.g. "PostgreSQL table public.oauth2_tokens on host:5432/db". */
	description: string;
}

export abstract class SqlTokenStore implements TokenStore {
	readonly description: string;
	protected readonly tableParts: string[];
	/** The tables, quoted, and their preparation. */
	private readonly schema: SqlTables;
	private readonly tables: QuotedTables;
	/** The primary-key read every call begins with, built once. */
	private readonly readSql: string;

	protected constructor(
		protected readonly dialect: SqlDialect,
		protected readonly driver: SqlDriver,
		options: SqlStoreOptions,
	) {
		this.tableParts = options.tableParts;
		this.description = options.description;
		this.schema = new SqlTables(dialect, driver, options.tableParts, options.createTableIfMissing);
		this.tables = this.schema.quoted;
		this.readSql = `select * from ${this.tables.tokens} where connection_id = ${dialect.placeholder(0)}`;
	}

	abstract identity(): Promise<string>;

	/** Reports whether the tokens table exists and which required columns it lacks (for credential tests). */
	async inspectSchema(): Promise<SchemaReport> {
		return this.guard('inspect the table', () => this.schema.inspect());
	}

	/** Throws a StoreError naming the missing columns, or telling how to create the table. */
	async verifySchema(): Promise<void> {
		const problem = schemaError(await this.inspectSchema(), this.dialect.name, this.tables.tokens);
		if (problem) throw problem;
	}

	async get(connectionId: string): Promise<StoredConnection | null> {
		return this.guard('read', async () => {
			await this.prepare();
			const row = await this.readRow(connectionId);
			return row ? rowToConnection(row) : null;
		});
	}

	async getMany(connectionIds: readonly string[]): Promise<StoredConnection[]> {
		const found: StoredConnection[] = [];
		for (const ids of chunksOf(connectionIds, IDS_PER_STATEMENT)) {
			const list = ids.map((_, index) => this.dialect.placeholder(index)).join(', ');
			const sql = `select * from ${this.tables.tokens} where connection_id in (${list})`;
			for (const row of (await this.run('read connections', sql, ids)).rows)
				found.push(rowToConnection(row));
		}
		return found;
	}

	async list(query: ConnectionQuery): Promise<StoredConnection[]> {
		const params: unknown[] = [];
		const param = (value: unknown) => {
			params.push(value);
			return this.dialect.placeholder(params.length - 1);
		};
		const id = 'connection_id';
		const where = [
			`not (${this.dialect.startsWith(id, param(this.dialect.prefixPattern(RESERVED_PREFIX)))})`,
		];
		if (query.status !== undefined)
			where.push(sqlCondition(this.dialect, reportedStatusCondition(query.status), param));
		if (query.provider !== undefined)
			where.push(this.dialect.equalsExactly('provider', param(query.provider)));
		if (query.idPrefix !== undefined)
			where.push(this.dialect.startsWith(id, param(this.dialect.prefixPattern(query.idPrefix))));
		if (query.idContains !== undefined)
			where.push(
				this.dialect.startsWith(id, param(this.dialect.containsPattern(query.idContains))),
			);
		if (query.due !== undefined)
			where.push(sqlCondition(this.dialect, dueCondition(query.due), param));
		if (query.after !== undefined)
			where.push(`${this.dialect.byteOrder(id)} > ${param(query.after)}`);
		const sql = `select * from ${this.tables.tokens} where ${where.join(' and ')} order by ${this.dialect.byteOrder(id)} limit ${Math.max(1, batchSize(query.limit))}`;
		const { rows } = await this.run('list connections', sql, params);
		return rows.map(rowToConnection);
	}

	async insert(connection: NewConnection): Promise<StoredConnection> {
		const entries: Array<[string, unknown]> = [
			['connection_id', connection.connectionId],
			...fieldEntries({
				grantType: 'authorization_code',
				...NO_FAILURES,
				...connection,
				metadata: connection.metadata ?? {},
			}),
		];
		const { now } = this.dialect;
		return this.guard('insert', async () => {
			await this.prepare();
			try {
				const row = await this.writeReturning(
					`insert into ${this.tables.tokens} (${entries.map(([column]) => column).join(', ')}, version, created_at, updated_at)
					 values (${entries.map((_, i) => this.dialect.placeholder(i)).join(', ')}, 1, ${now}, ${now})`,
					entries.map(([, value]) => value),
					connection.connectionId,
				);
				return rowToConnection(row!);
			} catch (error) {
				if (this.dialect.isDuplicateKey(error))
					throw new ConnectionExistsError(connection.connectionId);
				throw error;
			}
		});
	}

	async update(
		connectionId: string,
		expectedVersion: number,
		fields: Partial<ConnectionFields>,
	): Promise<StoredConnection> {
		const entries = fieldEntries(fields);
		const p = (i: number) => this.dialect.placeholder(i);
		const set = versionedUpdateSet(
			entries.map(([column]) => column),
			p,
			this.dialect.now,
		);
		return this.guard('update', async () => {
			await this.prepare();
			const row = await this.writeReturning(
				`update ${this.tables.tokens} set ${set} where connection_id = ${p(entries.length)} and version = ${p(entries.length + 1)}`,
				[...entries.map(([, value]) => value), connectionId, expectedVersion],
				connectionId,
			);
			if (row) return rowToConnection(row);
			if (await this.readRow(connectionId))
				throw new VersionConflictError(connectionId, expectedVersion);
			throw new ConnectionNotFoundError(connectionId, this.description);
		});
	}

	async databaseTime(): Promise<Date> {
		const { rows } = await this.run(
			'read the database clock',
			`select ${this.dialect.now} as now`,
			[],
		);
		const now = toDate(rows[0]?.now);
		if (!now)
			throw new StoreError(
				`${this.description} answered no usable time for its clock`,
				'Check the database server.',
			);
		return now;
	}

	async acquireLease(connectionId: string, holder: string, ttlMs: number): Promise<boolean> {
		const p = (i: number) => this.dialect.placeholder(i);
		const { now } = this.dialect;
		const { changes } = await this.run(
			'take the refresh lease',
			`update ${this.tables.tokens} set lease_holder = ${p(0)}, lease_until = ${this.dialect.later(p(1))}
			  where connection_id = ${p(2)} and (lease_holder is null or lease_until is null or lease_until <= ${now} or lease_holder = ${p(3)})`,
			[holder, Math.max(1, Math.ceil(ttlMs)), connectionId, holder],
		);
		return changes === 1;
	}

	async releaseLease(connectionId: string, holder: string): Promise<void> {
		const p = (i: number) => this.dialect.placeholder(i);
		await this.run(
			'release the refresh lease',
			`update ${this.tables.tokens} set lease_holder = null, lease_until = null where connection_id = ${p(0)} and lease_holder = ${p(1)}`,
			[connectionId, holder],
		);
	}

	async delete(connectionId: string): Promise<boolean> {
		const { changes } = await this.run(
			'delete',
			`delete from ${this.tables.tokens} where connection_id = ${this.dialect.placeholder(0)}`,
			[connectionId],
		);
		return changes === 1;
	}

	async deleteExpired(provider: string, before: Date, limit: number): Promise<number> {
		const p = (i: number) => this.dialect.placeholder(i);
		const sql = this.dialect.deleteAtMost(
			this.tables.tokens,
			`provider = ${p(0)} and expires_at < ${p(1)}`,
			batchSize(limit),
		);
		return (await this.run('delete expired rows', sql, [provider, before])).changes;
	}

	/**
	 * Records the state when it is newer than the one recorded: a conditional update, else an insert, else (another
	 * process inserted first) the update once more. Each statement is atomic, so of two callers with one state
	 * exactly one gets true, on every database, without a transaction.
	 */
	async consumeState(connectionId: string, stateOrder: string, expiresAt: Date): Promise<boolean> {
		const p = (i: number) => this.dialect.placeholder(i);
		const advance = async () => {
			const { changes } = await this.driver.run(
				`update ${this.tables.states} set consumed_state = ${p(0)}, expires_at = ${p(1)}
				  where connection_id = ${p(2)} and consumed_state < ${p(3)}`,
				this.encode([stateOrder, expiresAt, connectionId, stateOrder]),
			);
			return changes === 1;
		};
		return this.guard('record the used state', async () => {
			await this.schema.prepareStates();
			if (await advance()) return true;
			try {
				await this.driver.run(
					`insert into ${this.tables.states} (connection_id, consumed_state, expires_at) values (${p(0)}, ${p(1)}, ${p(2)})`,
					this.encode([connectionId, stateOrder, expiresAt]),
				);
				return true;
			} catch (error) {
				if (!this.dialect.isDuplicateKey(error)) throw error;
			}
			return advance();
		});
	}

	async deleteStates(connectionId: string): Promise<void> {
		await this.run(
			'delete the used states',
			`delete from ${this.tables.states} where connection_id = ${this.dialect.placeholder(0)}`,
			[connectionId],
			true,
		);
	}

	async deleteExpiredStates(before: Date, limit: number): Promise<number> {
		const sql = this.dialect.deleteAtMost(
			this.tables.states,
			`expires_at < ${this.dialect.placeholder(0)}`,
			batchSize(limit),
		);
		return (await this.run('delete expired used states', sql, [before], true)).changes;
	}

	async close(): Promise<void> {
		await this.driver.close();
	}

	private async readRow(connectionId: string): Promise<SqlRow | undefined> {
		const { rows } = await this.driver.run(this.readSql, [connectionId]);
		return rows[0];
	}

	private writeReturning(
		write: string,
		params: unknown[],
		connectionId: string,
	): Promise<SqlRow | undefined> {
		return this.driver.writeReturning(write, this.encode(params), this.readSql, [connectionId]);
	}

	private encode(params: unknown[]): unknown[] {
		return params.map((value) => this.dialect.encode(value));
	}

	/** One statement on a prepared table (the states table when `states`), failures named by `action`. */
	private run(action: string, sql: string, params: unknown[], states = false): Promise<SqlResult> {
		return this.guard(action, async () => {
			await (states ? this.schema.prepareStates() : this.schema.prepare());
			return this.driver.run(sql, this.encode(params));
		});
	}

	/** The tables, created, upgraded or checked once (sql-tables.ts). */
	protected prepare(): Promise<void> {
		return this.schema.prepare();
	}

	/** Turns driver failures into a StoreError naming the store and the action (the driver's error as its cause); engine errors pass through. */
	protected async guard<T>(action: string, work: () => Promise<T>): Promise<T> {
		try {
			return await work();
		} catch (error) {
			if (error instanceof TokenManagerError) throw error;
			throw new StoreError(
				`${this.description}: could not ${action}: ${this.dialect.message(error)}`,
				this.dialect.hint,
			);
		}
	}
}

/** LIKE's pattern for text that starts with `prefix`, `!` escaping the wildcards and itself (used with escape '!'). */
export function likePrefixPattern(prefix: string): string {
	return `${prefix.replace(/[!%_]/g, '!$&')}%`;
}

/** A batch size as a whole number of rows, safe to write into the statement. */
function batchSize(limit: number): number {
	return Math.max(0, Math.floor(limit) || 0);
}
