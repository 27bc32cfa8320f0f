import type { TokenStore } from '../store';

/** How long a measured offset is trusted (real time): clocks drift slowly. */
const OFFSET_TTL_MS = 300_000;

/*
 * The store's clock, as seen from this process: cooldowns are written and compared in it, as the lease is, so that a
 * host whose clock runs an hour ahead neither locks the others out nor lets itself in early. The offset to the
 * process clock is measured with one query and kept for a few minutes; a connection without a cooldown never needs it.
 */
export class DatabaseClock {
	private offset: { ms: number; measuredAt: number } | undefined;
	private measuring: Promise<number> | undefined;

	constructor(
		private readonly store: Pick<TokenStore, 'databaseTime'>,
		private readonly clock: () => number,
	) {}

	async now(): Promise<number> {
		if (this.offset && performance.now() - this.offset.measuredAt < OFFSET_TTL_MS)
			return this.clock() + this.offset.ms;
		this.measuring ??= this.measure().finally(() => (this.measuring = undefined));
		return this.clock() + (await this.measuring);
	}

	private async measure(): Promise<number> {
		const before = this.clock();
		const database = (await this.store.databaseTime()).getTime();
		const ms = database - (before + this.clock()) / 2;
		this.offset = { ms, measuredAt: performance.now() };
		return ms;
	}
}
