import { createClient, type PostgrestError, type SupabaseClient } from '@supabase/supabase-js';
import {
	ConnectionExistsError,
	ConnectionNotFoundError,
	InvalidInputError,
	StoreError,
	VersionConflictError,
} from '../errors';
import { storeIdentity, type TokenStore } from '../store';
import { requireSecureUrl } from '../urls';
import { RESERVED_PREFIX } from '../authorization';
import {
	NO_FAILURES,
	type ConnectionFields,
	type ConnectionQuery,
	type NewConnection,
	type StoredConnection,
} from '../types';
import { chunksOf, IDS_PER_STATEMENT, IDS_LENGTH_PER_URL } from './chunks';
import { postgrestFilter, postgrestInList, regexLiteral, regexPrefix } from './postgrest-filters';
import { dueCondition, reportedStatusCondition } from './row-filters';
import { fieldEntries, rowToConnection } from './sql-rows';
import {
	ADDED_COLUMNS,
	addColumnsSql,
	parseTableName,
	STATES_SUFFIX,
	statesSql,
} from './sql-schema';

export interface SupabaseStoreOptions {
	/** https://<project>.supabase.co */
	url: string;
	serviceRoleKey: string;
	tableName?: string;
	schema?: string;
	/** For tests: the fetch supabase-js uses. */
	fetch?: typeof fetch;
}

/** Rows through PostgREST; the lease through the functions in sql/supabase.sql. */
export class SupabaseTokenStore implements TokenStore {
	readonly description: string;
	private readonly client: SupabaseClient<any, any, any>;
	private readonly table: string;
	private readonly schema: string;
	private readonly location: Record<string, string>;

	constructor(options: SupabaseStoreOptions) {
		[this.table] = parseTableName(options.tableName, false);
		[this.schema] = parseTableName(options.schema || 'public', false);
		const url = normaliseUrl(options.url);
		this.description = `Supabase table ${this.schema}.${this.table} at ${url}`;
		this.location = { url: new URL(url).href, schema: this.schema, table: this.table };
		this.client = createClient(url, options.serviceRoleKey, {
			auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
			db: { schema: this.schema },
			global: options.fetch ? { fetch: options.fetch } : undefined,
		});
	}

	/** The project URL, schema and table. */
	async identity(): Promise<string> {
		return storeIdentity('supabase', this.location);
	}

	async get(connectionId: string): Promise<StoredConnection | null> {
		const { data, error } = await this.rows()
			.select('*')
			.eq('connection_id', connectionId)
			.maybeSingle();
		if (error) throw this.wrap(error);
		return data ? rowToConnection(data) : null;
	}

	async getMany(connectionIds: readonly string[]): Promise<StoredConnection[]> {
		const found: StoredConnection[] = [];
		for (const ids of chunksOf(connectionIds, IDS_PER_STATEMENT, IDS_LENGTH_PER_URL)) {
			const { data, error } = await this.rows()
				.select('*')
				.filter('connection_id', 'in', postgrestInList(ids));
			if (error) throw this.wrap(error);
			for (const row of data) found.push(rowToConnection(row));
		}
		return found;
	}

	/**
	 * One PostgREST request: filters (eq, gt, is, not, match, or/and trees), order and limit. Rows come in the order of
	 * connection_id's collation, "C" (byte order) in tables made by sql/postgres.sql or upgraded by sql/supabase.sql;
	 * `after` compares with the same collation, so pages never skip or repeat a row either way.
	 */
	async list(query: ConnectionQuery): Promise<StoredConnection[]> {
		let request = this.rows()
			.select('*')
			.not('connection_id', 'match', regexPrefix(RESERVED_PREFIX));
		const conditions = [
			...(query.status !== undefined ? [reportedStatusCondition(query.status)] : []),
			...(query.due !== undefined ? [dueCondition(query.due)] : []),
		];
		// The cooldown ends on the database's clock, which a PostgREST filter cannot name: asked once for the list.
		const databaseNow = query.due !== undefined ? await this.databaseNow() : undefined;
		for (const condition of conditions)
			request = request.or(postgrestFilter(condition, databaseNow));
		if (query.provider !== undefined) request = request.eq('provider', query.provider);
		if (query.idPrefix !== undefined)
			request = request.filter('connection_id', 'match', regexPrefix(query.idPrefix));
		if (query.idContains !== undefined)
			request = request.filter('connection_id', 'match', regexLiteral(query.idContains));
		if (query.after !== undefined) request = request.gt('connection_id', query.after);
		const { data, error } = await request
			.order('connection_id', { ascending: true })
			.limit(Math.max(1, Math.floor(query.limit) || 1));
		if (error) throw this.wrap(error);
		return (data ?? []).map(rowToConnection);
	}

	async insert(connection: NewConnection): Promise<StoredConnection> {
		const row = {
			connection_id: connection.connectionId,
			...toRow({ grantType: 'authorization_code', ...NO_FAILURES, ...connection }),
		};
		const { data, error } = await this.rows().insert(row).select('*').single();
		if (error?.code === '23505') throw new ConnectionExistsError(connection.connectionId);
		if (error) throw this.wrap(error);
		return rowToConnection(data);
	}

	async update(
		connectionId: string,
		expectedVersion: number,
		fields: Partial<ConnectionFields>,
	): Promise<StoredConnection> {
		// "where version = expected" in the same UPDATE makes the write conditional; updated_at comes from the trigger.
		const patch = {
			...toRow(fields),
			version: expectedVersion + 1,
			lease_holder: null,
			lease_until: null,
		};
		const { data, error } = await this.rows()
			.update(patch)
			.eq('connection_id', connectionId)
			.eq('version', expectedVersion)
			.select('*');
		if (error) throw this.wrap(error);
		if (data && data[0]) return rowToConnection(data[0]);
		if (await this.get(connectionId)) throw new VersionConflictError(connectionId, expectedVersion);
		throw new ConnectionNotFoundError(connectionId, this.description);
	}

	async databaseTime(): Promise<Date> {
		return new Date(await this.databaseNow());
	}

	async acquireLease(connectionId: string, holder: string, ttlMs: number): Promise<boolean> {
		const { data, error } = await this.client.rpc('oauth2_token_manager_acquire_lease', {
			p_table: `${this.schema}.${this.table}`,
			p_connection_id: connectionId,
			p_holder: holder,
			p_ttl_ms: Math.ceil(ttlMs),
		});
		if (error) throw this.wrap(error);
		return data === true;
	}

	async releaseLease(connectionId: string, holder: string): Promise<void> {
		const { error } = await this.client.rpc('oauth2_token_manager_release_lease', {
			p_table: `${this.schema}.${this.table}`,
			p_connection_id: connectionId,
			p_holder: holder,
		});
		if (error) throw this.wrap(error);
	}

	async delete(connectionId: string): Promise<boolean> {
		const { data, error } = await this.rows()
			.delete()
			.eq('connection_id', connectionId)
			.select('connection_id');
		if (error) throw this.wrap(error);
		return (data ?? []).length === 1;
	}

	async deleteExpired(provider: string, before: Date, limit: number): Promise<number> {
		// PostgREST bounds a delete by `limit` with an order on a unique column.
		const { data, error } = await this.rows()
			.delete()
			.eq('provider', provider)
			.lt('expires_at', before.toISOString())
			.order('connection_id')
			.limit(Math.max(0, Math.floor(limit)))
			.select('connection_id');
		if (error) throw this.wrap(error);
		return (data ?? []).length;
	}

	/**
	 * Records the state when it is newer than the one recorded: a conditional update, else an insert, else (another
	 * process inserted first) the update once more. Each request is one atomic statement, so of two callers with one
	 * state exactly one gets true.
	 */
	async consumeState(connectionId: string, stateOrder: string, expiresAt: Date): Promise<boolean> {
		const advance = async () => {
			const { data, error } = await this.states()
				.update({ consumed_state: stateOrder, expires_at: expiresAt.toISOString() })
				.eq('connection_id', connectionId)
				.lt('consumed_state', stateOrder)
				.select('connection_id');
			if (error) throw this.wrap(error, 'states');
			return (data ?? []).length === 1;
		};
		if (await advance()) return true;
		const { error } = await this.states().insert({
			connection_id: connectionId,
			consumed_state: stateOrder,
			expires_at: expiresAt.toISOString(),
		});
		if (!error) return true;
		if (error.code !== '23505') throw this.wrap(error, 'states');
		return advance();
	}

	async deleteStates(connectionId: string): Promise<void> {
		const { error } = await this.states().delete().eq('connection_id', connectionId);
		if (error) throw this.wrap(error, 'states');
	}

	async deleteExpiredStates(before: Date, limit: number): Promise<number> {
		const { data, error } = await this.states()
			.delete()
			.lt('expires_at', before.toISOString())
			.order('connection_id')
			.limit(Math.max(0, Math.floor(limit) || 0))
			.select('connection_id');
		if (error) throw this.wrap(error, 'states');
		return (data ?? []).length;
	}

	/** Checks the table and the functions of sql/supabase.sql answer; errors point at that file. */
	async verifySchema(): Promise<void> {
		// The columns added after the first release are named, so a table created before them is reported.
		const { error } = await this.rows()
			.select(['connection_id', 'version', 'lease_until', ...ADDED_COLUMNS].join(','))
			.limit(1);
		if (error) throw this.wrap(error);
		const lease = await this.client.rpc('oauth2_token_manager_release_lease', {
			p_table: `${this.schema}.${this.table}`,
			p_connection_id: '',
			p_holder: '',
		});
		if (lease.error) throw this.wrap(lease.error);
		await this.databaseNow();
	}

	/**
	 * The database's clock, as it answers (to the microsecond), for the comparisons a PostgREST filter cannot make with
	 * now(): whether a cooldown is over is decided by the clock the lease follows.
	 */
	private async databaseNow(): Promise<string> {
		const { data, error } = await this.client.rpc('oauth2_token_manager_now');
		if (error) throw this.wrap(error);
		return String(data);
	}

	async close(): Promise<void> {
		await this.client.removeAllChannels();
	}

	private rows() {
		return this.client.from(this.table);
	}

	private states() {
		return this.client.from(`${this.table}${STATES_SUFFIX}`);
	}

	/** `table`: which of the two tables the failed request reached. */
	private wrap(error: PostgrestError, table: 'tokens' | 'states' = 'tokens'): StoreError {
		const setup =
			"Run sql/postgres.sql and then sql/supabase.sql (shipped with the package) in Supabase's SQL editor.";
		// PGRST205: table not in the schema cache; PGRST202: function missing; 42P01: relation does not exist.
		if ((error.code === 'PGRST205' || error.code === '42P01') && table === 'states') {
			const statesTable = `"${this.schema}"."${this.table}${STATES_SUFFIX}"`;
			const create = statesSql('postgres', {
				tokens: `"${this.schema}"."${this.table}"`,
				states: statesTable,
				indexPrefix: this.table,
			});
			return new StoreError(
				`The table ${this.schema}.${this.table}${STATES_SUFFIX}, where the node records which authorization states were used, does not exist at ${this.location.url}`,
				`Run sql/postgres.sql and sql/supabase.sql again in Supabase's SQL editor (they keep existing tables and rows), or run: ${create.join('; ')};`,
			);
		}
		if (error.code === 'PGRST205' || error.code === '42P01') {
			return new StoreError(`${this.description} does not exist`, setup);
		}
		if (error.code === 'PGRST202') {
			return new StoreError(`The functions of ${this.description} are missing`, setup);
		}
		if (error.code === 'PGRST106') {
			return new StoreError(
				`Supabase does not expose the schema "${this.schema}"`,
				"Use the public schema, or add yours to the exposed schemas in Supabase's API settings.",
			);
		}
		// 42703: undefined column (select); PGRST204: a written column is not in the schema cache.
		if (error.code === '42703' || error.code === 'PGRST204') {
			const upgrade = addColumnsSql('postgres', `"${this.schema}"."${this.table}"`, ADDED_COLUMNS);
			return new StoreError(
				`${this.description} lacks a column: ${error.message}`,
				`If the table was created by an earlier version, add the columns added since: run sql/postgres.sql again in Supabase's SQL editor, or run ${upgrade.join('; ')}; otherwise: ${setup}`,
			);
		}
		// supabase-js answers a failed fetch (refused, unknown host, TLS, timeout) with status 0 and no code.
		if (!error.code && /^(TypeError|FetchError|AbortError)\b/.test(error.message)) {
			const cause = /Caused by: (?:\w*Error: )?([^\n]+)/.exec(error.details ?? '')?.[1];
			return new StoreError(
				`${this.description} could not be reached${cause ? `: ${cause}` : ''}`,
				error.hint ||
					'Check the Host (your project URL, e.g. https://<project>.supabase.co) and that this host can reach it.',
			);
		}
		return new StoreError(
			`${this.description}: ${error.message}${error.code ? ` (${error.code})` : ''}`,
			error.hint || undefined,
		);
	}
}

function toRow(fields: Partial<ConnectionFields>): Record<string, unknown> {
	const row = Object.fromEntries(fieldEntries(fields, (metadata) => metadata));
	for (const [key, value] of Object.entries(row))
		if (value instanceof Date) row[key] = value.toISOString();
	return row;
}

function normaliseUrl(url: string): string {
	const trimmed = (url ?? '').trim().replace(/\/+$/, '');
	if (!/^https?:\/\/[^/]+/.test(trimmed)) {
		throw new InvalidInputError(
			'supabaseUrl',
			`"${trimmed.slice(0, 80)}" is not a URL: use the project URL, e.g. https://<project>.supabase.co`,
		);
	}
	requireSecureUrl('supabaseUrl', trimmed);
	return trimmed;
}
