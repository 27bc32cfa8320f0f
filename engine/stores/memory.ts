/**
 * TokenStore in process memory: the engine's and the node's unit tests run on it without a database, and it shows
 * the store contract in its plainest form. Data lives as long as the process; stores opened with `share()` see the
 * same data, as several store instances on one table do.
 *
 * Its clock plays the database's: leases and timestamps follow `now()` (by default a monotonic clock, so a test
 * that fakes Date does not move it), never the caller's Date.
 */
import {
	ConnectionExistsError,
	ConnectionNotFoundError,
	StoreError,
	VersionConflictError,
} from '../errors';
import { RESERVED_PREFIX } from '../authorization';
import { storeIdentity, type TokenStore } from '../store';
import {
	byteOrder,
	type ConnectionFields,
	type ConnectionQuery,
	type NewConnection,
	type StoredConnection,
} from '../types';
import {
	dueCondition,
	reportedStatusCondition,
	type RowCondition,
	type TimeColumn,
} from './row-filters';

export interface MemoryStoreOptions {
	/** The store's clock in epoch milliseconds (default: wall time that fake Date timers do not move). */
	now?: () => number;
}

/** The longest connection id the SQL tables hold (varchar(255)); longer ids are refused, never truncated. */
const MAX_ID_LENGTH = 255;

const monotonicNow = () => performance.timeOrigin + performance.now();

/** The rows of one in-memory "table", shared by every store opened on it. */
class MemoryTable {
	private static count = 0;
	readonly name = `memory-${++MemoryTable.count}`;
	readonly rows = new Map<string, StoredConnection>();
	/** Per connection, the newest used state and when its record may go. */
	readonly states = new Map<string, { stateOrder: string; expiresAt: Date }>();
	constructor(readonly now: () => number) {}
}

/** A copy, so a caller that changes what it got never changes the stored row. */
function copy(row: StoredConnection): StoredConnection {
	const date = (value: Date | null) => (value ? new Date(value.getTime()) : null);
	return {
		...row,
		metadata: { ...row.metadata },
		expiresAt: date(row.expiresAt),
		leaseUntil: date(row.leaseUntil),
		lastRefreshedAt: date(row.lastRefreshedAt),
		tokenIssuedAt: date(row.tokenIssuedAt),
		firstFailureAt: date(row.firstFailureAt),
		nextAttemptAt: date(row.nextAttemptAt),
		failingSince: date(row.failingSince),
		createdAt: new Date(row.createdAt.getTime()),
		updatedAt: new Date(row.updatedAt.getTime()),
	};
}

const TIME_FIELDS = {
	expires_at: 'expiresAt',
	last_refreshed_at: 'lastRefreshedAt',
	created_at: 'createdAt',
	next_attempt_at: 'nextAttemptAt',
	failing_since: 'failingSince',
} as const satisfies Record<TimeColumn, keyof StoredConnection>;

/** Whether `row` meets `condition` at `now` (the store's clock). Rows here only ever hold grant types this version knows. */
function meets(row: StoredConnection, condition: RowCondition, now: number): boolean {
	switch (condition.kind) {
		case 'status':
			return row.status === condition.is;
		case 'unset':
			return row[TIME_FIELDS[condition.column]] === null;
		case 'knownGrant':
			return true;
		case 'before': {
			const value = row[TIME_FIELDS[condition.column]];
			const time = condition.time === 'databaseNow' ? now : condition.time.getTime();
			return value !== null && (condition.orAt ? value.getTime() <= time : value.getTime() < time);
		}
		case 'not':
			return !meets(row, condition.condition, now);
		case 'all':
			return condition.of.every((c) => meets(row, c, now));
		case 'any':
			return condition.of.some((c) => meets(row, c, now));
	}
}

/** Only the engine-written fields that are present, so an update keeps the rest. */
function definedFields(fields: Partial<ConnectionFields>): Partial<ConnectionFields> {
	return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
}

export class MemoryTokenStore implements TokenStore {
	readonly description: string;
	private readonly table: MemoryTable;

	constructor(options: MemoryStoreOptions | MemoryTable = {}) {
		this.table =
			options instanceof MemoryTable ? options : new MemoryTable(options.now ?? monotonicNow);
		this.description = `in-memory table ${this.table.name}`;
	}

	/** Another store on the same data, as a second n8n process opens the same table. */
	share(): MemoryTokenStore {
		return new MemoryTokenStore(this.table);
	}

	async identity(): Promise<string> {
		return storeIdentity('memory', { table: this.table.name });
	}

	async verifySchema(): Promise<void> {}

	async get(connectionId: string): Promise<StoredConnection | null> {
		const row = this.table.rows.get(connectionId);
		return row ? copy(row) : null;
	}

	async getMany(connectionIds: readonly string[]): Promise<StoredConnection[]> {
		return [...new Set(connectionIds)].flatMap((id) => {
			const row = this.table.rows.get(id);
			return row ? [copy(row)] : [];
		});
	}

	async list(query: ConnectionQuery): Promise<StoredConnection[]> {
		const now = this.table.now();
		const matches = (row: StoredConnection): boolean =>
			!row.connectionId.startsWith(RESERVED_PREFIX) &&
			(query.status === undefined || meets(row, reportedStatusCondition(query.status), now)) &&
			(query.provider === undefined || row.provider === query.provider) &&
			(query.idPrefix === undefined || row.connectionId.startsWith(query.idPrefix)) &&
			(query.idContains === undefined || row.connectionId.includes(query.idContains)) &&
			(query.after === undefined || byteOrder(row.connectionId, query.after) > 0) &&
			(query.due === undefined || meets(row, dueCondition(query.due), now));
		return [...this.table.rows.values()]
			.filter(matches)
			.sort((a, b) => byteOrder(a.connectionId, b.connectionId))
			.slice(0, Math.max(1, Math.floor(query.limit)))
			.map(copy);
	}

	async insert(connection: NewConnection): Promise<StoredConnection> {
		const id = connection.connectionId;
		if ([...id].length > MAX_ID_LENGTH)
			throw new StoreError(
				`${this.description}: the connection id is longer than ${MAX_ID_LENGTH} characters`,
			);
		if (this.table.rows.has(id)) throw new ConnectionExistsError(id);
		const now = new Date(this.table.now());
		const row: StoredConnection = {
			...newRowDefaults,
			...definedFields(connection),
			connectionId: id,
			version: 1,
			leaseHolder: null,
			leaseUntil: null,
			createdAt: now,
			updatedAt: now,
		};
		this.table.rows.set(id, copy(row));
		return copy(row);
	}

	async update(
		connectionId: string,
		expectedVersion: number,
		fields: Partial<ConnectionFields>,
	): Promise<StoredConnection> {
		const row = this.table.rows.get(connectionId);
		if (!row) throw new ConnectionNotFoundError(connectionId, this.description);
		if (row.version !== expectedVersion)
			throw new VersionConflictError(connectionId, expectedVersion);
		const updated: StoredConnection = {
			...row,
			...definedFields(fields),
			version: row.version + 1,
			leaseHolder: null,
			leaseUntil: null,
			updatedAt: new Date(this.table.now()),
		};
		this.table.rows.set(connectionId, copy(updated));
		return copy(updated);
	}

	async databaseTime(): Promise<Date> {
		return new Date(this.table.now());
	}

	async acquireLease(connectionId: string, holder: string, ttlMs: number): Promise<boolean> {
		const row = this.table.rows.get(connectionId);
		if (!row) return false;
		const now = this.table.now();
		const free =
			row.leaseHolder === null || row.leaseUntil === null || row.leaseUntil.getTime() <= now;
		if (!free && row.leaseHolder !== holder) return false;
		row.leaseHolder = holder;
		row.leaseUntil = new Date(now + Math.max(1, Math.ceil(ttlMs)));
		return true;
	}

	async releaseLease(connectionId: string, holder: string): Promise<void> {
		const row = this.table.rows.get(connectionId);
		if (row?.leaseHolder !== holder) return;
		row.leaseHolder = null;
		row.leaseUntil = null;
	}

	async delete(connectionId: string): Promise<boolean> {
		return this.table.rows.delete(connectionId);
	}

	async deleteExpired(provider: string, before: Date, limit: number): Promise<number> {
		let deleted = 0;
		for (const [id, row] of this.table.rows) {
			if (deleted >= Math.floor(limit)) break;
			if (row.provider === provider && row.expiresAt !== null && row.expiresAt < before) {
				this.table.rows.delete(id);
				deleted += 1;
			}
		}
		return deleted;
	}

	async consumeState(connectionId: string, stateOrder: string, expiresAt: Date): Promise<boolean> {
		const recorded = this.table.states.get(connectionId);
		if (recorded && recorded.stateOrder >= stateOrder) return false;
		this.table.states.set(connectionId, { stateOrder, expiresAt: new Date(expiresAt.getTime()) });
		return true;
	}

	async deleteStates(connectionId: string): Promise<void> {
		this.table.states.delete(connectionId);
	}

	async deleteExpiredStates(before: Date, limit: number): Promise<number> {
		let deleted = 0;
		for (const [id, state] of this.table.states) {
			if (deleted >= Math.floor(limit)) break;
			if (state.expiresAt < before) {
				this.table.states.delete(id);
				deleted += 1;
			}
		}
		return deleted;
	}

	async close(): Promise<void> {}
}

/** Column defaults of the SQL schema, for fields an insert leaves out. */
const newRowDefaults: ConnectionFields = {
	provider: '',
	accessToken: null,
	refreshToken: null,
	tokenType: null,
	scope: null,
	expiresAt: null,
	metadata: {},
	status: 'active',
	lastRefreshedAt: null,
	refreshCount: 0,
	lastError: null,
	appFingerprint: null,
	tokenIssuedAt: null,
	grantType: 'authorization_code',
	failureCount: 0,
	firstFailureAt: null,
	nextAttemptAt: null,
	failingSince: null,
};
