/**
 * The one TokenStore over SQL. Each database brings a small dialect (its driver, placeholders, clock, quoting,
 * duplicate-key detection, error hints and schema inspection: postgres.ts, mysql.ts, sqlite.ts); the statements
 * and the store contract live here once. The tables are created by the shipped sql/<dialect>.sql.
 */
import { ConnectionExistsError, ConnectionNotFoundError, StoreError, TokenManagerError, VersionConflictError } from '../errors';
import { RESERVED_PREFIX } from '../authorization';
import type { TokenStore } from '../store';
import { NO_FAILURES, type ConnectionFields, type ConnectionQuery, type NewConnection, type ReportedStatus, type StoredConnection } from '../types';
import {
	addColumnsSql,
	fieldEntries,
	KNOWN_GRANT_SQL,
	rowToConnection,
	schemaError,
	schemaReport,
	schemaSql,
	toDate,
	STATE_COLUMNS,
	statesError,
	statesSql,
	statesTableParts,
	upgradable,
	upgradeError,
	versionedUpdateSet,
	type Dialect,
	type QuotedTables,
	type SchemaReport,
} from './sql-schema';

export type SqlRow = Record<string, unknown>;

export interface SqlResult {
	rows: SqlRow[];
	/** Rows the statement inserted, changed or deleted (MySQL: rows it matched). */
	changes: number;
}

/** One database's connection pool (or file), as the store uses it. */
export interface SqlDriver {
	run(sql: string, params: unknown[]): Promise<SqlResult>;
	/**
	 * Runs `write` (an insert or update of one row) and returns the row as written, or undefined when it wrote none:
	 * with `returning *` where the database has it, else by a read in the same transaction.
	 */
	writeReturning(write: string, params: unknown[], read: string, readParams: unknown[]): Promise<SqlRow | undefined>;
	close(): Promise<void>;
}

/** What differs between PostgreSQL, MySQL/MariaDB and SQLite. */
export interface SqlDialect {
	/** The shipped sql/<name>.sql. */
	readonly name: Dialect;
	/** What to check when the database cannot be reached or refuses a statement. */
	readonly hint: string;
	quote(identifier: string): string;
	/** What the shipped index names (oauth2_tokens_…_idx) start with for the table `table`: index names are unique per schema or per table. */
	indexPrefix(table: string): string;
	/** The placeholder of the statement's parameter number `index` (0-based); statements never reuse one. */
	placeholder(index: number): string;
	/** The database clock's current time, as the time columns hold it. */
	readonly now: string;
	/** The database clock's time `ttlMs` (the expression of a parameter) milliseconds from now. */
	later(ttlMs: string): string;
	/** A value as the driver takes it (dates and metadata in the columns' formats). */
	encode(value: unknown): unknown;
	/** `column` as an expression that compares and sorts byte by byte (UTF-8 byte order = code point order). */
	byteOrder(column: string): string;
	/**
	 * The status column as the list filters compare it. Listing reads in connection id order, a page at a time; an
	 * index on status only helps when few rows have the status asked for, which a database without statistics
	 * cannot tell.
	 */
	readonly listedStatus: string;
	/** A condition true when the text column `column` holds exactly the parameter `value`: case and every space count. */
	equalsExactly(column: string, value: string): string;
	/** A condition true when `column` starts with the text of `pattern`, the placeholder of prefixPattern's value. */
	startsWith(column: string, pattern: string): string;
	/** The parameter startsWith compares with, for ids that start with exactly `prefix` (no character is a wildcard). */
	prefixPattern(prefix: string): string;
	/** A "delete … where" bounded to `limit` rows (a whole number, written into the statement). */
	deleteAtMost(table: string, where: string, limit: number): string;
	/** The insert failed because the key is taken. */
	isDuplicateKey(error: unknown): boolean;
	/** Adding a column failed because another process added it first (dialects whose ALTER has no "if not exists"). */
	isDuplicateColumn(error: unknown): boolean;
	/** The column names of a table, or null when it does not exist. */
	columnsOf(tableParts: string[]): Promise<string[] | null>;
	/** The driver's message for an error, shortened and without credentials. */
	message(error: unknown): string;
}

export interface SqlStoreOptions {
	tableParts: string[];
	createTableIfMissing: boolean;
	/** Short name for messages, e.g. "PostgreSQL table public.oauth2_tokens on host:5432/db". */
	description: string;
}

export abstract class SqlTokenStore implements TokenStore {
	readonly description: string;
	protected readonly tableParts: string[];
	private readonly statesParts: string[];
	private readonly tables: QuotedTables;
	/** The primary-key read every call begins with, built once. */
	private readonly readSql: string;
	private readonly createTableIfMissing: boolean;
	private ready: Promise<void> | undefined;
	private statesReady: Promise<void> | undefined;

	protected constructor(
		protected readonly dialect: SqlDialect,
		protected readonly driver: SqlDriver,
		options: SqlStoreOptions,
	) {
		this.tableParts = options.tableParts;
		this.statesParts = statesTableParts(options.tableParts);
		this.createTableIfMissing = options.createTableIfMissing;
		this.description = options.description;
		const quoteAll = (parts: string[]) => parts.map((part) => dialect.quote(part)).join('.');
		const indexPrefix = dialect.indexPrefix(this.tableParts[this.tableParts.length - 1]);
		this.tables = { tokens: quoteAll(this.tableParts), states: quoteAll(this.statesParts), indexPrefix };
		this.readSql = `select * from ${this.tables.tokens} where connection_id = ${dialect.placeholder(0)}`;
	}

	abstract identity(): Promise<string>;

	/** Reports whether the tokens table exists and which required columns it lacks (for credential tests). */
	async inspectSchema(): Promise<SchemaReport> {
		return this.guard('inspect the table', () => this.inspect());
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

	async list(query: ConnectionQuery): Promise<StoredConnection[]> {
		const params: unknown[] = [];
		const param = (value: unknown) => {
			params.push(value);
			return this.dialect.placeholder(params.length - 1);
		};
		const id = 'connection_id';
		const where = [`not (${this.dialect.startsWith(id, param(this.dialect.prefixPattern(RESERVED_PREFIX)))})`];
		if (query.status !== undefined) where.push(statusCondition(query.status, this.dialect.listedStatus));
		if (query.provider !== undefined) where.push(this.dialect.equalsExactly('provider', param(query.provider)));
		if (query.idPrefix !== undefined) where.push(this.dialect.startsWith(id, param(this.dialect.prefixPattern(query.idPrefix))));
		if (query.due !== undefined) {
			where.push(
				`${this.dialect.listedStatus} = 'active' and ${KNOWN_GRANT_SQL}`,
				`(expires_at < ${param(query.due.expiresBefore)} or coalesce(last_refreshed_at, created_at) < ${param(query.due.idleBefore)})`,
				// The cooldown ends on the database's clock, as the lease does.
				`(next_attempt_at is null or next_attempt_at <= ${this.dialect.now})`,
			);
		}
		if (query.after !== undefined) where.push(`${this.dialect.byteOrder(id)} > ${param(query.after)}`);
		const sql = `select * from ${this.tables.tokens} where ${where.join(' and ')} order by ${this.dialect.byteOrder(id)} limit ${Math.max(1, batchSize(query.limit))}`;
		const { rows } = await this.run('list connections', sql, params);
		return rows.map(rowToConnection);
	}

	async insert(connection: NewConnection): Promise<StoredConnection> {
		const entries: Array<[string, unknown]> = [
			['connection_id', connection.connectionId],
			...fieldEntries({ grantType: 'authorization_code', ...NO_FAILURES, ...connection, metadata: connection.metadata ?? {} }),
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
				if (this.dialect.isDuplicateKey(error)) throw new ConnectionExistsError(connection.connectionId);
				throw error;
			}
		});
	}

	async update(connectionId: string, expectedVersion: number, fields: Partial<ConnectionFields>): Promise<StoredConnection> {
		const entries = fieldEntries(fields);
		const p = (i: number) => this.dialect.placeholder(i);
		const set = versionedUpdateSet(entries.map(([column]) => column), p, this.dialect.now);
		return this.guard('update', async () => {
			await this.prepare();
			const row = await this.writeReturning(
				`update ${this.tables.tokens} set ${set} where connection_id = ${p(entries.length)} and version = ${p(entries.length + 1)}`,
				[...entries.map(([, value]) => value), connectionId, expectedVersion],
				connectionId,
			);
			if (row) return rowToConnection(row);
			if (await this.readRow(connectionId)) throw new VersionConflictError(connectionId, expectedVersion);
			throw new ConnectionNotFoundError(connectionId, this.description);
		});
	}

	async databaseTime(): Promise<Date> {
		const { rows } = await this.run('read the database clock', `select ${this.dialect.now} as now`, []);
		const now = toDate(rows[0]?.now);
		if (!now) throw new StoreError(`${this.description} answered no usable time for its clock`, 'Check the database server.');
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
		const { changes } = await this.run('delete', `delete from ${this.tables.tokens} where connection_id = ${this.dialect.placeholder(0)}`, [connectionId]);
		return changes === 1;
	}

	async deleteExpired(provider: string, before: Date, limit: number): Promise<number> {
		const p = (i: number) => this.dialect.placeholder(i);
		const sql = this.dialect.deleteAtMost(this.tables.tokens, `provider = ${p(0)} and expires_at < ${p(1)}`, batchSize(limit));
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
			await this.prepareStates();
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
		await this.run('delete the used states', `delete from ${this.tables.states} where connection_id = ${this.dialect.placeholder(0)}`, [connectionId], true);
	}

	async deleteExpiredStates(before: Date, limit: number): Promise<number> {
		const sql = this.dialect.deleteAtMost(this.tables.states, `expires_at < ${this.dialect.placeholder(0)}`, batchSize(limit));
		return (await this.run('delete expired used states', sql, [before], true)).changes;
	}

	async close(): Promise<void> {
		await this.driver.close();
	}

	private async inspect(): Promise<SchemaReport> {
		return schemaReport(this.tableParts, await this.dialect.columnsOf(this.tableParts));
	}

	private async readRow(connectionId: string): Promise<SqlRow | undefined> {
		const { rows } = await this.driver.run(this.readSql, [connectionId]);
		return rows[0];
	}

	private writeReturning(write: string, params: unknown[], connectionId: string): Promise<SqlRow | undefined> {
		return this.driver.writeReturning(write, this.encode(params), this.readSql, [connectionId]);
	}

	private encode(params: unknown[]): unknown[] {
		return params.map((value) => this.dialect.encode(value));
	}

	/** One statement on a prepared table (the states table when `states`), failures named by `action`. */
	private run(action: string, sql: string, params: unknown[], states = false): Promise<SqlResult> {
		return this.guard(action, async () => {
			await (states ? this.prepareStates() : this.prepare());
			return this.driver.run(sql, this.encode(params));
		});
	}

	/**
	 * Creates the tables when allowed and the tokens table is missing, or adds the columns added since an existing
	 * table was created; otherwise checks its columns. Runs once per store.
	 */
	protected prepare(): Promise<void> {
		this.ready ??= (async () => {
			let report = await this.inspect();
			// Only a missing table is created: a table of the wrong shape is reported by its missing columns.
			if (!report.exists && this.createTableIfMissing) {
				report = await this.createTables(schemaSql(this.dialect.name, this.tables), () => this.inspect());
			} else if (upgradable(report) && this.createTableIfMissing) {
				for (const statement of addColumnsSql(this.dialect.name, this.tables.tokens, report.missingColumns)) {
					try {
						await this.driver.run(statement, []);
					} catch (error) {
						// Another process added it first.
						if (!this.dialect.isDuplicateColumn(error)) throw upgradeError(report, this.dialect.name, this.tables.tokens, this.dialect.message(error));
					}
				}
				report = await this.inspect();
			}
			const problem = schemaError(report, this.dialect.name, this.tables.tokens);
			if (problem) throw problem;
		})().catch((error) => {
			this.ready = undefined;
			throw error;
		});
		return this.ready;
	}

	/**
	 * The states table, checked (and created when allowed) on first use: a tokens table created before it existed
	 * keeps serving tokens; only the authorization callback and revoke need it.
	 */
	private prepareStates(): Promise<void> {
		this.statesReady ??= (async () => {
			await this.prepare();
			const inspect = async () => schemaReport(this.statesParts, await this.dialect.columnsOf(this.statesParts), STATE_COLUMNS);
			let report = await inspect();
			if (!report.exists && this.createTableIfMissing) {
				report = await this.createTables(statesSql(this.dialect.name, this.tables).join(';\n'), inspect);
			}
			const problem = statesError(report, this.dialect.name, this.tables);
			if (problem) throw problem;
		})().catch((error) => {
			this.statesReady = undefined;
			throw error;
		});
		return this.statesReady;
	}

	/**
	 * Runs a script of "create … if not exists" statements one at a time (drivers differ in running several at once).
	 * Another process creating the same tables at that moment can make PostgreSQL refuse one (a duplicate catalog
	 * entry, reported as a duplicate key, table or type): so the tables are inspected afterwards, and the failure
	 * counts only when the table is still missing.
	 */
	private async createTables(script: string, inspect: () => Promise<SchemaReport>): Promise<SchemaReport> {
		try {
			for (const statement of script.replace(/^\s*--.*$/gm, '').split(';')) {
				if (statement.trim()) await this.driver.run(statement, []);
			}
		} catch (error) {
			const report = await inspect();
			if (!report.exists) throw error;
			return report;
		}
		return inspect();
	}

	/** Turns driver failures into a StoreError naming the store and the action (the driver's error as its cause); engine errors pass through. */
	protected async guard<T>(action: string, work: () => Promise<T>): Promise<T> {
		try {
			return await work();
		} catch (error) {
			if (error instanceof TokenManagerError) throw error;
			throw new StoreError(`${this.description}: could not ${action}: ${this.dialect.message(error)}`, this.dialect.hint);
		}
	}
}

/**
 * The rows that report `status` (see reportedStatus and rowToConnection): failing ones are active rows with
 * failing_since set; an active row of a grant type this version does not know reports needs_reauth.
 */
function statusCondition(status: ReportedStatus, column: string): string {
	switch (status) {
		case 'active':
			return `${column} = 'active' and failing_since is null and ${KNOWN_GRANT_SQL}`;
		case 'failing':
			return `${column} = 'active' and failing_since is not null and ${KNOWN_GRANT_SQL}`;
		case 'needs_reauth':
			return `(${column} = 'needs_reauth' or (${column} = 'active' and not ${KNOWN_GRANT_SQL}))`;
		case 'revoked':
			return `${column} = 'revoked'`;
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
