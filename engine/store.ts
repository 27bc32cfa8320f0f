import type { ConnectionFields, ConnectionQuery, NewConnection, StoredConnection } from './types';

/**
 * Persistence for connections. Every store passes the same contract suite (test/stores/contract.ts).
 *
 * The lease is the cross-process refresh lock: it lives in the row, is taken atomically with the
 * database's own clock, and expires by itself when its holder dies. Writes are versioned: `update`
 * succeeds only when the row still has the version the caller read, so a writer that lost its lease
 * cannot overwrite a newer token.
 */
export interface TokenStore {
	/** Short name for messages, e.g. "PostgreSQL table public.oauth2_tokens". Never contains a secret. */
	readonly description: string;

	/**
	 * What makes the table this store reads and writes unique (see storeIdentity), resolved once: the engine keys
	 * its process memory (the refresh in flight, tokens waiting to be saved) by it, so two credentials share those
	 * only when they reach the same table. Never shown; contains no secret.
	 */
	identity(): Promise<string>;

	get(connectionId: string): Promise<StoredConnection | null>;

	/**
	 * The stored rows among `connectionIds`, in any order; an id without a row (or given twice) simply has no (second)
	 * entry. One query per chunk of ids (stores/chunks.ts), however many: an execution over many items reads its
	 * connections at once instead of one round trip per item.
	 */
	getMany(connectionIds: readonly string[]): Promise<StoredConnection[]>;

	/**
	 * The rows matching `query`, ordered by connection id in byte order (so pages taken with `after` never skip or
	 * repeat a row), at most `query.limit`. One query, whatever the filters; the engine strips the tokens.
	 */
	list(query: ConnectionQuery): Promise<StoredConnection[]>;

	/** Inserts a new row at version 1; throws ConnectionExistsError when the id is taken. */
	insert(connection: NewConnection): Promise<StoredConnection>;

	/**
	 * Writes `fields` when the row is at `expectedVersion`, bumps the version and clears any lease
	 * (the write is the lease's release). Throws VersionConflictError otherwise, ConnectionNotFoundError when absent.
	 */
	update(
		connectionId: string,
		expectedVersion: number,
		fields: Partial<ConnectionFields>,
	): Promise<StoredConnection>;

	/** The database's clock now: cooldowns are written and compared in it, as the lease is. */
	databaseTime(): Promise<Date>;

	/** Takes the lease when it is free or expired (database time). True when `holder` now holds it. */
	acquireLease(connectionId: string, holder: string, ttlMs: number): Promise<boolean>;

	/** Releases the lease if `holder` still holds it. */
	releaseLease(connectionId: string, holder: string): Promise<void>;

	/** Deletes the row of `connectionId`; true when there was one. */
	delete(connectionId: string): Promise<boolean>;

	/**
	 * Deletes at most `limit` rows of `provider` whose expires_at lies before `before` (rows without one stay);
	 * returns how many. The engine purges its own expired records with it, a bounded batch at a time.
	 */
	deleteExpired(provider: string, before: Date, limit: number): Promise<number>;

	/**
	 * Records that an authorization state of `connectionId` was used, atomically across processes. `stateOrder`
	 * sorts (byte by byte) as the connection's states were issued; the store keeps the greatest one per connection
	 * and returns true only when `stateOrder` is greater than it: a state works once, and an older state is refused
	 * once a newer one was used. `expiresAt`: when the record may go (every state it can refuse has expired by then).
	 * Of two callers with one state, exactly one gets true.
	 */
	consumeState(connectionId: string, stateOrder: string, expiresAt: Date): Promise<boolean>;

	/** Forgets which states of `connectionId` were used (on revoke). */
	deleteStates(connectionId: string): Promise<void>;

	/** Deletes at most `limit` used-state records whose expires_at lies before `before`; returns how many. */
	deleteExpiredStates(before: Date, limit: number): Promise<number>;

	/**
	 * Checks the tokens table (and whatever the lease needs) exists with every column; throws a StoreError naming what
	 * is missing. The used-states table is checked when a state is first recorded, so a table created before it
	 * existed keeps serving tokens.
	 */
	verifySchema(): Promise<void>;

	close(): Promise<void>;
}

/**
 * A store identity from its kind and the values that locate its table (server, database, user, resolved schema
 * and table; a file's real path), in a form no two different locations share.
 */
export function storeIdentity(
	kind: string,
	location: Record<string, string | number | null | undefined>,
): string {
	return JSON.stringify([
		kind,
		...Object.keys(location)
			.sort()
			.map((name) => [name, location[name] ?? null]),
	]);
}
