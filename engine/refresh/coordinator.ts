import { ConnectionNotFoundError, StoreError, TokenManagerError } from '../errors';
import type { TokenStore } from '../store';
import type { Connection, ConnectionFields, StoredConnection, TokenResult } from '../types';
import { writeFromLatest } from '../versioned-write';
import { underLease, type LeaseSettings } from './lease';

/*
 * Exactly one refresh per connection: in this process, concurrent callers join the refresh in flight; across
 * processes, the store's lease admits one holder at a time and the others wait, re-reading the connection until
 * the holder's new token is there. New tokens the store refused to write are kept and written first thing later.
 */

/** New tokens the provider issued that the store did not accept, and the refresh token they replace. */
interface RefusedWrite {
	usedRefreshToken: string | null;
	fields: Partial<ConnectionFields>;
}

/**
 * What one process shares between every TokenManager that reaches one table through one app (n8n builds a
 * manager per execution): the refresh in flight per connection, and writes the store refused.
 */
class SharedRefreshState {
	readonly flights = new Map<string, Promise<TokenResult>>();
	readonly refusedWrites = new Map<string, RefusedWrite>();
}

/** Owner of the shared state: one entry per store identity and app fingerprint, so two tables or two apps never share. */
export class RefreshRegistry {
	private readonly states = new Map<string, SharedRefreshState>();

	stateFor(storeIdentity: string, appFingerprint: string): SharedRefreshState {
		const key = JSON.stringify([storeIdentity, appFingerprint]);
		let state = this.states.get(key);
		if (!state) {
			state = new SharedRefreshState();
			this.states.set(key, state);
		}
		return state;
	}
}

/** The registry of this process, used by every TokenManager not given its own. */
export const processRefreshRegistry = new RefreshRegistry();

export interface RefreshCoordinatorOptions {
	store: TokenStore;
	appFingerprint: string;
	registry: RefreshRegistry;
	lease: LeaseSettings;
	/** Retries of the store write after the provider issued new tokens. */
	saveRetries: number;
	/** The row's refresh token in plaintext (null when it has none): a write meant for one is never applied over another. */
	refreshTokenOf(row: StoredConnection): string | null;
}

/** What a refresh needs from its caller. */
export interface RefreshSteps {
	/** Reads the connection as the caller may use it. */
	read(): Promise<Connection>;
	/** The refresh policy for the caller's request: asked again of every later read. */
	stillNeeded(connection: Connection): Promise<boolean>;
	/** Obtains new tokens and saves them (saveRefreshed); `deadline` (epoch ms) falls inside the lease. */
	refresh(leased: Connection, deadline: number): Promise<Connection>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class RefreshCoordinator {
	/** This store's and app's entry in the registry, looked up once: every call begins by asking it for writes the store refused. */
	private sharedState: Promise<SharedRefreshState> | undefined;

	constructor(private readonly options: RefreshCoordinatorOptions) {}

	/**
	 * Refreshes the connection read as `started`, or joins the refresh of it already in flight in this process.
	 * Only the caller that started the flight learns that it recovered the connection: it is said once.
	 */
	async refresh(started: Connection, steps: RefreshSteps): Promise<TokenResult> {
		const { flights } = await this.shared();
		const { connectionId } = started;
		const inFlight = flights.get(connectionId);
		if (inFlight) return inFlight.then((joined) => ({ ...joined, recovered: false }));
		const flight = this.refreshUnderLease(started, steps).finally(() =>
			flights.delete(connectionId),
		);
		flights.set(connectionId, flight);
		return flight;
	}

	/** Runs `work` holding the connection's lease, so that no refresh runs meanwhile (for Revoke). */
	underLease<T>(
		connectionId: string,
		meanwhile: () => Promise<T | undefined>,
		work: (since: number) => Promise<T>,
	): Promise<T> {
		return underLease(this.options.store, connectionId, this.options.lease, meanwhile, work);
	}

	/**
	 * The provider has issued new tokens (and may have retired the old refresh token): they must reach the
	 * store. Retries the write, never the refresh; if the store stays down they wait in memory and are written
	 * before anything else on the next call for this connection. A newer grant or refresh stored meanwhile wins.
	 */
	async saveRefreshed(
		leased: Connection,
		fields: Partial<ConnectionFields>,
	): Promise<StoredConnection> {
		const { store, saveRetries } = this.options;
		const { connectionId } = leased;
		const shared = await this.shared();
		let lastError: unknown;
		for (let attempt = 0; attempt <= saveRetries; attempt++) {
			if (attempt > 0) await sleep(200 * 2 ** (attempt - 1));
			try {
				return await writeFromLatest(store, connectionId, async (row) => {
					if (!row) throw new ConnectionNotFoundError(connectionId, store.description);
					if (this.options.refreshTokenOf(row) !== leased.refreshToken) return row;
					return store.update(connectionId, row.version, fields);
				});
			} catch (error) {
				if (error instanceof TokenManagerError && !(error instanceof StoreError)) throw error;
				lastError = error;
			}
		}
		shared.refusedWrites.set(connectionId, { usedRefreshToken: leased.refreshToken, fields });
		throw new StoreError(
			`The provider issued new tokens for connection "${connectionId}" but ${store.description} did not accept the write (${describeStoreError(lastError)}).`,
			'The new tokens are kept in memory by this process and written before anything else on the next call for this connection. Check the database is reachable.',
		);
	}

	/**
	 * Writes what the store refused earlier, unless the connection has moved on to another refresh token since. True
	 * when something was kept (the connection may have changed: read it again).
	 */
	async writeRefused(connectionId: string): Promise<boolean> {
		const { store } = this.options;
		const { refusedWrites } = await this.shared();
		const pending = refusedWrites.get(connectionId);
		if (!pending) return false;
		try {
			await writeFromLatest(store, connectionId, async (row) => {
				if (row && this.options.refreshTokenOf(row) === pending.usedRefreshToken)
					await store.update(connectionId, row.version, pending.fields);
			});
		} catch (error) {
			throw new StoreError(
				`Tokens that the provider issued for connection "${connectionId}" are still waiting to be saved: ${store.description} did not accept the write (${describeStoreError(error)}).`,
				'They stay in memory and are written on the next call. Check the database is reachable.',
			);
		}
		refusedWrites.delete(connectionId);
		return true;
	}

	/** Drops what the store refused earlier: a new grant or a revocation has replaced those tokens. */
	async forgetRefused(connectionId: string): Promise<void> {
		(await this.shared()).refusedWrites.delete(connectionId);
	}

	private shared(): Promise<SharedRefreshState> {
		const { store, registry, appFingerprint } = this.options;
		this.sharedState ??= store.identity().then(
			(identity) => registry.stateFor(identity, appFingerprint),
			(error) => {
				this.sharedState = undefined;
				throw error;
			},
		);
		return this.sharedState;
	}

	/** `started` is the caller's own read, which needed a refresh: the lease is asked for at once. */
	private refreshUnderLease(started: Connection, steps: RefreshSteps): Promise<TokenResult> {
		const result = (connection: Connection): TokenResult => ({
			connection,
			refreshed: connection.refreshCount !== started.refreshCount,
			recovered: false,
		});
		const doneMeanwhile = async () => {
			const current = await steps.read();
			return (await steps.stillNeeded(current)) ? undefined : result(current);
		};
		return this.underLease(started.connectionId, doneMeanwhile, async (since) => {
			// Re-read under the lease: another process may have refreshed since our last read.
			const leased = await steps.read();
			if (!(await steps.stillNeeded(leased))) return result(leased);
			const refreshed = await steps.refresh(leased, since + this.options.lease.refreshDeadlineMs);
			// A success writes the failure bookkeeping back to none: the first after failures is a recovery.
			return {
				connection: refreshed,
				refreshed: true,
				recovered: leased.failureCount > 0 && refreshed.failureCount === 0,
			};
		});
	}
}

function describeStoreError(error: unknown): string {
	if (error instanceof Error) return error.message.slice(0, 200);
	return 'unknown error';
}
