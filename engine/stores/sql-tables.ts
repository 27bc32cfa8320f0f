import type { SqlDialect, SqlDriver } from './sql-dialect';
import {
	addColumnsSql,
	schemaError,
	schemaReport,
	schemaSql,
	STATE_COLUMNS,
	statesError,
	statesSql,
	statesTableParts,
	upgradable,
	upgradeError,
	type QuotedTables,
	type SchemaReport,
} from './sql-schema';

/*
 * The preparation of a SQL store's tables, once per store: created when allowed and missing, upgraded with the
 * columns added since, otherwise checked, with an error that gives the SQL to run. The statements on them are
 * sql-store.ts's.
 */
export class SqlTables {
	readonly quoted: QuotedTables;
	private readonly statesParts: string[];
	private ready: Promise<void> | undefined;
	private statesReady: Promise<void> | undefined;

	constructor(
		private readonly dialect: SqlDialect,
		private readonly driver: SqlDriver,
		private readonly tokensParts: string[],
		private readonly createTableIfMissing: boolean,
	) {
		this.statesParts = statesTableParts(tokensParts);
		const quoteAll = (parts: string[]) => parts.map((part) => dialect.quote(part)).join('.');
		const indexPrefix = dialect.indexPrefix(tokensParts[tokensParts.length - 1]);
		this.quoted = {
			tokens: quoteAll(tokensParts),
			states: quoteAll(this.statesParts),
			indexPrefix,
		};
	}

	/** Whether the tokens table exists and which required columns it lacks. */
	async inspect(): Promise<SchemaReport> {
		return schemaReport(this.tokensParts, await this.dialect.columnsOf(this.tokensParts));
	}

	/**
	 * Creates the tables when allowed and the tokens table is missing, or adds the columns added since an existing
	 * table was created; otherwise checks its columns. Runs once per store.
	 */
	prepare(): Promise<void> {
		this.ready ??= (async () => {
			let report = await this.inspect();
			// Only a missing table is created: a table of the wrong shape is reported by its missing columns.
			if (!report.exists && this.createTableIfMissing) {
				report = await this.createTables(schemaSql(this.dialect.name, this.quoted), () =>
					this.inspect(),
				);
			} else if (upgradable(report) && this.createTableIfMissing) {
				for (const statement of addColumnsSql(
					this.dialect.name,
					this.quoted.tokens,
					report.missingColumns,
				)) {
					try {
						await this.driver.run(statement, []);
					} catch (error) {
						// Another process added it first.
						if (!this.dialect.isDuplicateColumn(error))
							throw upgradeError(
								report,
								this.dialect.name,
								this.quoted.tokens,
								this.dialect.message(error),
							);
					}
				}
				report = await this.inspect();
			}
			const problem = schemaError(report, this.dialect.name, this.quoted.tokens);
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
	prepareStates(): Promise<void> {
		this.statesReady ??= (async () => {
			await this.prepare();
			const inspect = async () =>
				schemaReport(
					this.statesParts,
					await this.dialect.columnsOf(this.statesParts),
					STATE_COLUMNS,
				);
			let report = await inspect();
			if (!report.exists && this.createTableIfMissing) {
				report = await this.createTables(
					statesSql(this.dialect.name, this.quoted).join(';\n'),
					inspect,
				);
			}
			const problem = statesError(report, this.dialect.name, this.quoted);
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
	private async createTables(
		script: string,
		inspect: () => Promise<SchemaReport>,
	): Promise<SchemaReport> {
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
}
