import { mapWithConcurrency } from './concurrency';
import { validateConnectionId } from './connection-id';
import type { TokenStore } from './store';
import type { StoredConnection, ValidTokenResult } from './types';

/** One item of Get Valid Token over many items. */
export interface ValidTokenRequest {
	connectionId: string;
	minValiditySeconds?: number;
}

/** One item's result, or its error: one item's failure leaves the others' results alone. */
export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/**
 * How many connections of one execution are made valid at once: at a provider answering in 300 ms, 1,000 expired
 * connections take about 20 s, while the provider and the store's pool see a bounded load.
 */
export const MANY_ITEMS_CONCURRENCY = 16;

/** Get Valid Token for one connection, its first decision taken on `listed` (null: known to have no row). */
export type ValidTokenOfRow = (
	connectionId: string,
	minValiditySeconds: number | undefined,
	listed: StoredConnection | null,
) => Promise<ValidTokenResult>;

/**
 * Get Valid Token over the items of one execution: every connection is read at once (TokenStore.getMany: one query
 * per chunk of ids, not one round trip per item), each is decided on its row, and those that need a refresh refresh
 * under the usual coordinator and lease, at most `concurrency` at once. Items asking the same connection with the
 * same Minimum Validity share one result. Results come in the requests' order.
 */
export async function getValidTokens(
	store: TokenStore,
	validTokenOf: ValidTokenOfRow,
	requests: readonly ValidTokenRequest[],
	concurrency = MANY_ITEMS_CONCURRENCY,
): Promise<Array<Settled<ValidTokenResult>>> {
	const keyOf = ({ connectionId, minValiditySeconds }: ValidTokenRequest) =>
		JSON.stringify([connectionId, minValiditySeconds ?? null]);
	const distinct = [...new Map(requests.map((request) => [keyOf(request), request])).values()];
	// An id validateConnectionId refuses is not read (the engine's own records stay unread): its item gets the refusal.
	const ids = distinct.flatMap(({ connectionId }) => {
		try {
			return [validateConnectionId(connectionId)];
		} catch {
			return [];
		}
	});
	const rows = new Map((await store.getMany(ids)).map((row) => [row.connectionId, row]));
	const settled = await mapWithConcurrency(
		distinct,
		concurrency,
		async ({ connectionId, minValiditySeconds }): Promise<Settled<ValidTokenResult>> => {
			try {
				const row = rows.get(connectionId) ?? null;
				return { ok: true, value: await validTokenOf(connectionId, minValiditySeconds, row) };
			} catch (error) {
				return { ok: false, error };
			}
		},
	);
	const byKey = new Map(distinct.map((request, index) => [keyOf(request), settled[index]]));
	return requests.map((request) => byKey.get(keyOf(request))!);
}
