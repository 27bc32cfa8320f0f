import {
	LEGACY_MARKER_PROVIDER,
	legacyStateMarkerId,
	MAX_STATE_TTL_SECONDS,
	restartHint,
	STATE_PURGE_BATCH,
	type VerifiedState,
} from './authorization';
import { InvalidStateError } from './errors';
import type { TokenStore } from './store';

/*
 * Which authorization states were used, per connection, in the store that handled the callback: a state works once,
 * and an older one is refused once a newer one was used.
 */

/**
 * Marks the state used, atomically across processes. Throws InvalidStateError('replayed') when this state, or a
 * newer one, was already used (also as recorded by an earlier version's marker row).
 */
export async function consumeState(store: TokenStore, verified: VerifiedState): Promise<void> {
	// Every state this record refuses was issued no later than the watermark, so it has expired by then.
	const expiresAt = new Date(verified.issuedAt + MAX_STATE_TTL_SECONDS * 1000);
	const legacy = await store.get(legacyStateMarkerId(verified.connectionId));
	const usedAsLegacy = (legacy?.metadata?.consumed ?? '') >= verified.watermark;
	if (
		usedAsLegacy ||
		!(await store.consumeState(verified.connectionId, verified.watermark, expiresAt))
	) {
		throw new InvalidStateError(
			'replayed',
			`The state was already used for connection "${verified.connectionId}" (or a newer authorization of it completed)`,
			restartHint,
		);
	}
	// Housekeeping: the state is already marked, so a failure here must not fail the authorization.
	const now = new Date();
	await store.deleteExpiredStates(now, STATE_PURGE_BATCH).catch(() => undefined);
	await store.deleteExpired(LEGACY_MARKER_PROVIDER, now, STATE_PURGE_BATCH).catch(() => undefined);
}

/** Forgets which states of the connection were used (on revoke), legacy marker row included. */
export async function deleteConsumedStates(store: TokenStore, connectionId: string): Promise<void> {
	await store.delete(legacyStateMarkerId(connectionId));
	await store.deleteStates(connectionId);
}
