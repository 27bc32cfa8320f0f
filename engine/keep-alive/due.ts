/*
 * Which connections a Keep Alive run hands out: the due ones of one provider (TokenStore.list's due filter, which
 * leaves out those in their cooldown), without another app's rows, a page at a time, in connection id order.
 *
 * A run limited to `max` connections carries on after the last connection the previous limited run handed out, and
 * wraps round to the first: connections that fail run after run (asked again whenever their cooldown is over, which
 * a scheduled run usually finds) take their turn like the others instead of taking every run's places. Not the most
 * urgent first: those failing connections have the oldest expiry and would head every run, and idle connections
 * (the refresh tokens Keep Alive exists to save) would wait behind expiring ones for as long as there are any.
 * Where a run stopped is kept in the store, in a record of the engine's own, so that every process and every later
 * run sees it.
 */
import { createHash } from 'node:crypto';
import { RESERVED_PREFIX } from '../authorization';
import { sameApp } from '../presets';
import type { TokenStore } from '../store';
import { byteOrder, type NewConnection, type StoredConnection } from '../types';

/** Connections Keep Alive reads per store query. */
export const KEEP_ALIVE_PAGE_SIZE = 200;
/** The provider column of the records that keep where a limited Keep Alive run stopped. */
export const KEEP_ALIVE_CURSOR_PROVIDER = 'oauth2-token-manager:keep-alive-cursor';

export interface DueSelection {
	store: TokenStore;
	provider: string;
	/** This app's fingerprint: rows another app issued are skipped, not counted. */
	app: string;
	due: { expiresBefore: Date; idleBefore: Date };
	/** At most this many connections; every due one when absent. */
	max?: number;
}

/** The record that keeps where the last limited run of `provider`'s connections through `app` stopped. */
export function keepAliveCursorId(provider: string, app: string): string {
	return `${RESERVED_PREFIX}keep-alive:${createHash('sha256').update(`${provider}\n${app}`, 'utf8').digest('base64url')}`;
}

/** The run's connections, one per next() however many workers ask; saves where it stopped when it reaches `max`. */
export async function* dueConnections(selection: DueSelection): AsyncGenerator<StoredConnection> {
	const { store, max } = selection;
	const cursorId = keepAliveCursorId(selection.provider, selection.app);
	// An unlimited run hands out every due connection: where it starts makes no difference.
	const cursor = max === undefined ? null : await store.get(cursorId);
	const resumeAfter = cursor?.metadata.after;
	// After the cursor to the end, then from the start up to the cursor: each due connection once.
	const ranges: Array<{ after?: string; upTo?: string }> =
		resumeAfter === undefined ? [{}] : [{ after: resumeAfter }, { upTo: resumeAfter }];
	let handedOut = 0;
	let last = '';
	for (const range of ranges) {
		for await (const row of candidates(selection, range)) {
			if (handedOut === max) {
				await saveCursor(store, cursorId, cursor, last, selection.app);
				return;
			}
			handedOut += 1;
			last = row.connectionId;
			yield row;
		}
	}
}

/** This app's due connections after `after` and up to `upTo` (both optional), a page per query. */
async function* candidates(
	selection: DueSelection,
	range: { after?: string; upTo?: string },
): AsyncGenerator<StoredConnection> {
	let { after } = range;
	for (;;) {
		const page = await selection.store.list({
			provider: selection.provider,
			due: selection.due,
			after,
			limit: KEEP_ALIVE_PAGE_SIZE,
		});
		for (const row of page) {
			if (range.upTo !== undefined && byteOrder(row.connectionId, range.upTo) > 0) return;
			if (row.appFingerprint && !sameApp(row.appFingerprint, selection.app)) continue;
			yield row;
		}
		if (page.length < KEEP_ALIVE_PAGE_SIZE) return;
		after = page[page.length - 1].connectionId;
	}
}

/**
 * Records that the next limited run starts after `after`. Best effort: if another run saved its own meanwhile (a
 * version conflict, an id taken) or the store fails, the next run starts where this one did, which the sweep survives.
 */
async function saveCursor(
	store: TokenStore,
	cursorId: string,
	read: StoredConnection | null,
	after: string,
	app: string,
): Promise<void> {
	const metadata = { after };
	const record: NewConnection = {
		connectionId: cursorId,
		provider: KEEP_ALIVE_CURSOR_PROVIDER,
		accessToken: null,
		refreshToken: null,
		tokenType: null,
		scope: null,
		expiresAt: null,
		metadata,
		// Not a connection: nothing may ever refresh or serve it.
		status: 'revoked',
		lastRefreshedAt: null,
		refreshCount: 0,
		lastError: null,
		appFingerprint: app,
		tokenIssuedAt: null,
	};
	await (read ? store.update(cursorId, read.version, { metadata }) : store.insert(record)).catch(
		() => undefined,
	);
}
