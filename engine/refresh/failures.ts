import type { ConnectionFields, ProviderCooldown, StoredConnection } from '../types';
import { COOLDOWN_BASE_MS, cooldownMs } from './policy';

/*
 * The failure bookkeeping of a connection: every failed refresh is counted and dated, whatever its cause, so that a
 * connection whose refreshes keep failing reports `failing` once that has lasted the failing period. Times are the
 * database's clock (see DatabaseClock), as every host compares them.
 */

export type FailureFields = Pick<
	ConnectionFields,
	'failureCount' | 'firstFailureAt' | 'nextAttemptAt' | 'failingSince'
>;

/**
 * The bookkeeping after one more failed refresh. A transient failure (unreachable, 5xx, 429) backs off, doubling per
 * failure in a row; any other (invalid_client, an unusable answer, an undecryptable refresh token) waits the base
 * cooldown only, which spares the provider a request per call without delaying a fixed credential long.
 */
export function failureRecord(
	previous: Pick<StoredConnection, 'failureCount' | 'firstFailureAt' | 'failingSince'>,
	failure: { transient: boolean; databaseNow: number; failingAfterMs: number },
): FailureFields {
	const { databaseNow, failingAfterMs } = failure;
	const failureCount = previous.failureCount + 1;
	const firstFailureAt = previous.firstFailureAt ?? new Date(databaseNow);
	const failing = databaseNow - firstFailureAt.getTime() >= failingAfterMs;
	return {
		failureCount,
		firstFailureAt,
		nextAttemptAt: new Date(
			databaseNow + (failure.transient ? cooldownMs(failureCount) : COOLDOWN_BASE_MS),
		),
		failingSince: previous.failingSince ?? (failing ? new Date(databaseNow) : null),
	};
}

export function cooldownOf(
	row: Pick<StoredConnection, 'nextAttemptAt' | 'failureCount' | 'lastError'>,
	databaseNow: number,
): ProviderCooldown | null {
	if (row.nextAttemptAt === null || row.nextAttemptAt.getTime() <= databaseNow) return null;
	return {
		nextAttemptAt: row.nextAttemptAt,
		failureCount: row.failureCount,
		lastError: row.lastError,
	};
}
