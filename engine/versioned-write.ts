import { ConnectionExistsError, StoreError, VersionConflictError } from './errors';
import type { TokenStore } from './store';
import type { StoredConnection } from './types';

/** How many times a write is decided again after another writer changed the row first. */
export const WRITE_ATTEMPTS = 5;

/**
 * Writes a connection decided from its row as it is now. `write` receives the row (null when there is none) and
 * writes with that row's version, or returns without writing. When another writer got there first (a version
 * conflict, or an insert that found the id taken) the row is read again and `write` decides again, at most
 * WRITE_ATTEMPTS times. `row` is the caller's own fresh read, if it has one, to spare the first read.
 */
export async function writeFromLatest<T>(
	store: TokenStore,
	connectionId: string,
	write: (row: StoredConnection | null) => Promise<T>,
	row?: StoredConnection | null,
): Promise<T> {
	let latest = row === undefined ? await store.get(connectionId) : row;
	for (let attempt = 1; ; attempt++) {
		try {
			return await write(latest);
		} catch (error) {
			if (!(error instanceof VersionConflictError || error instanceof ConnectionExistsError))
				throw error;
			if (attempt >= WRITE_ATTEMPTS) {
				throw new StoreError(
					`Connection "${connectionId}" kept changing while it was being written (${attempt} attempts)`,
					'Other executions write this connection at the same moment. Run this one again.',
				);
			}
		}
		latest = await store.get(connectionId);
	}
}
