import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { LeaseTimeoutError } from '../errors';
import type { TokenStore } from '../store';

/*
 * The cross-process lock of one connection: a lease in its row (see TokenStore), taken with the database's
 * clock, that expires by itself when its holder dies. Waits and deadlines here are measured on this process's
 * own clock, as durations.
 */

export const DEFAULT_LEASE_TTL_MS = 30_000;

export interface LeaseSettings {
	/** How long a lease lasts if its holder dies. */
	ttlMs: number;
	/** Limit of a whole refresh, counted from the lease's start: shorter than the lease, so the write happens under it. */
	refreshDeadlineMs: number;
	/** How long a caller waits for another holder before giving up. */
	waitMs: number;
	/** First pause between two attempts to take the lease; pauses grow from there. */
	pollIntervalMs: number;
}

/** The settings with their defaults: a 30 s lease, a refresh deadline at two thirds of it, a wait that outlasts both. */
export function leaseSettings(options: Partial<LeaseSettings> = {}): LeaseSettings {
	const ttlMs = options.ttlMs ?? DEFAULT_LEASE_TTL_MS;
	const refreshDeadlineMs = options.refreshDeadlineMs ?? Math.floor((ttlMs * 2) / 3);
	if (!(refreshDeadlineMs > 0 && refreshDeadlineMs < ttlMs)) {
		throw new RangeError(
			`The refresh deadline (${refreshDeadlineMs} ms) must be positive and shorter than the lease (${ttlMs} ms)`,
		);
	}
	return {
		ttlMs,
		refreshDeadlineMs,
		waitMs: options.waitMs ?? ttlMs + refreshDeadlineMs + 5_000,
		pollIntervalMs: options.pollIntervalMs ?? 100,
	};
}

/** A lease holder id that names the host and process, for whoever inspects a stuck lease. */
export const leaseHolder = () => `${hostname()}:${process.pid}:${randomUUID()}`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `work` while holding the connection's lease, and releases it afterwards. The lease is polled for with
 * growing, jittered pauses for at most `waitMs`; between attempts `meanwhile` re-reads, and a value from it
 * ends the wait without the lease (e.g. another process finished the refresh). `work` receives when the lease
 * was asked for: the lease cannot have started earlier, so its deadlines count from there.
 */
export async function underLease<T>(
	store: TokenStore,
	connectionId: string,
	settings: LeaseSettings,
	meanwhile: () => Promise<T | undefined>,
	work: (since: number) => Promise<T>,
): Promise<T> {
	const holder = leaseHolder();
	const deadline = Date.now() + settings.waitMs;
	let delay = settings.pollIntervalMs;
	for (;;) {
		const since = Date.now();
		if (await store.acquireLease(connectionId, holder, settings.ttlMs)) {
			try {
				return await work(since);
			} finally {
				await store.releaseLease(connectionId, holder).catch(() => undefined);
			}
		}
		if (Date.now() >= deadline) throw new LeaseTimeoutError(connectionId, settings.waitMs);
		await sleep(delay * (0.5 + Math.random()));
		delay = Math.min(delay * 1.5, 1000);
		const done = await meanwhile();
		if (done !== undefined) return done;
	}
}
