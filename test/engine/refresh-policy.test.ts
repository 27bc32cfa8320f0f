/**
 * The refresh policy alone: a pure decision over the stored token, the caller's request and the time. No store,
 * no provider, no timers: every case gives its own `now`.
 */
import {
	effectiveMinValidityMs,
	shouldRefresh,
	type RefreshRequest,
	type TokenTimes,
} from '../../engine/refresh/policy';

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const s = (seconds: number) => seconds * 1000;
const at = (offsetSeconds: number) => new Date(NOW + s(offsetSeconds));

/** A token issued `ageSeconds` ago that expires in `leftSeconds`, refreshed `refreshCount` times. */
function token(
	ageSeconds: number,
	leftSeconds: number,
	overrides: Partial<TokenTimes> = {},
): TokenTimes {
	return {
		accessToken: 'access-1',
		tokenIssuedAt: at(-ageSeconds),
		lastRefreshedAt: null,
		expiresAt: at(leftSeconds),
		refreshCount: 3,
		createdAt: at(-ageSeconds),
		nextAttemptAt: null,
		...overrides,
	};
}

const minValidity = (seconds: number): RefreshRequest => ({
	kind: 'min-validity',
	minValidityMs: s(seconds),
});
const seen = (refreshCount = 3) => ({ now: NOW, databaseNow: NOW, seenRefreshCount: refreshCount });

describe('Get Valid Token: refresh when the token expires within the (capped) Minimum Validity', () => {
	test.each<[string, TokenTimes, number, number, boolean, string]>([
		// description, token, minimum validity (s), refresh count seen first, should, reason
		[
			'a token with 400 s left of 3600 s, Minimum Validity 300 s',
			token(3200, 400),
			300,
			3,
			false,
			'fresh',
		],
		[
			'a token with 200 s left of 3600 s, Minimum Validity 300 s',
			token(3400, 200),
			300,
			3,
			true,
			'expiring',
		],
		['exactly the Minimum Validity left', token(3300, 300), 300, 3, true, 'expiring'],
		['an expired token', token(3700, -100), 300, 3, true, 'expired'],
		['an expired token, Minimum Validity 0', token(3600, 0), 0, 3, true, 'expired'],
		['a token with 1 s left, Minimum Validity 0', token(3599, 1), 0, 3, false, 'fresh'],
		[
			'no access token stored',
			token(10, 3590, { accessToken: null }),
			300,
			3,
			true,
			'no-access-token',
		],
		[
			'no access token and no expiry',
			token(10, 0, { accessToken: null, expiresAt: null }),
			300,
			3,
			true,
			'no-access-token',
		],
		[
			'no expiry known, however long the Minimum Validity',
			token(10, 0, { expiresAt: null }),
			1e9,
			3,
			false,
			'no-expiry',
		],
		// Lifetime 300 s: Minimum Validity 300 s is capped to 150 s.
		[
			'a 300 s token with 200 s left, Minimum Validity 300 s (capped to 150 s)',
			token(100, 200),
			300,
			3,
			false,
			'fresh',
		],
		[
			'a 300 s token with 150 s left, Minimum Validity 300 s (capped to 150 s)',
			token(150, 150),
			300,
			3,
			true,
			'expiring',
		],
		[
			'a 60 s token with 40 s left, Minimum Validity 300 s (capped to 30 s)',
			token(20, 40),
			300,
			3,
			false,
			'fresh',
		],
		[
			'a 60 s token with 30 s left, Minimum Validity 300 s (capped to 30 s)',
			token(30, 30),
			300,
			3,
			true,
			'expiring',
		],
		// Rows from before token_issued_at: the lifetime counts from last_refreshed_at; without either, no cap.
		[
			'a 300 s token known by last_refreshed_at, 200 s left',
			token(0, 200, { tokenIssuedAt: null, lastRefreshedAt: at(-100) }),
			300,
			3,
			false,
			'fresh',
		],
		[
			'a token with no issue time, 200 s left, Minimum Validity 300 s',
			token(0, 200, { tokenIssuedAt: null }),
			300,
			3,
			true,
			'expiring',
		],
		// Another caller's refresh completed since this call's first read: its token is the newest there is.
		[
			'refreshed meanwhile, 200 s left of 3600 s',
			token(3400, 200),
			300,
			2,
			false,
			'refreshed-meanwhile',
		],
		['refreshed meanwhile, but already expired', token(3700, -1), 300, 2, true, 'expired'],
	])('%s', (_description, times, minValiditySeconds, seenRefreshCount, should, reason) => {
		expect(shouldRefresh(times, minValidity(minValiditySeconds), seen(seenRefreshCount))).toEqual({
			should,
			reason,
		});
	});
});

describe('Refresh Token with the access token an API refused: refresh only while it is the stored one', () => {
	const failed = (failedAccessToken: string): RefreshRequest => ({
		kind: 'failed-token',
		failedAccessToken,
	});
	test.each<[string, TokenTimes, string, boolean, string]>([
		['the refused token is still stored', token(10, 3590), 'access-1', true, 'failed-token-stored'],
		[
			'the refused token is still stored, and refreshed since the call began',
			token(10, 3590, { refreshCount: 4 }),
			'access-1',
			true,
			'failed-token-stored',
		],
		[
			'another caller stored a new token meanwhile',
			token(10, 3590, { accessToken: 'access-2' }),
			'access-1',
			false,
			'failed-token-replaced',
		],
		[
			'another caller stored a new token, and it has expired already',
			token(3700, -100, { accessToken: 'access-2' }),
			'access-1',
			false,
			'failed-token-replaced',
		],
		[
			'no access token stored',
			token(10, 3590, { accessToken: null }),
			'access-1',
			false,
			'failed-token-replaced',
		],
	])('%s', (_description, times, refused, should, reason) => {
		expect(shouldRefresh(times, failed(refused), seen())).toEqual({ should, reason });
	});
});

describe('Refresh Token forced (or without a refused token): refresh unless a refresh completed since the call began', () => {
	test.each<[string, TokenTimes, number, boolean, string]>([
		['a fresh token', token(10, 3590), 3, true, 'forced'],
		['a token without expiry', token(10, 0, { expiresAt: null }), 3, true, 'forced'],
		[
			'another caller refreshed since the first read',
			token(10, 3590, { refreshCount: 4 }),
			3,
			false,
			'refreshed-meanwhile',
		],
	])('%s', (_description, times, seenRefreshCount, should, reason) => {
		expect(shouldRefresh(times, { kind: 'forced' }, seen(seenRefreshCount))).toEqual({
			should,
			reason,
		});
	});
});

describe('Keep Alive: refresh when expiring within the window or idle for too long, unless refreshed since it was listed', () => {
	// Window: expiring before NOW + 300 s; idle: tokens last obtained before NOW - 30 days.
	const keepAlive: RefreshRequest = {
		kind: 'keep-alive',
		expiresBefore: NOW + s(300),
		idleBefore: NOW - s(30 * 86_400),
	};
	const daysAgo = (days: number) => at(-days * 86_400);
	test.each<[string, TokenTimes, number, boolean, string]>([
		['expires within the window', token(3400, 200), 3, true, 'expiring'],
		['expired already', token(3700, -100), 3, true, 'expiring'],
		[
			'fresh, refreshed yesterday',
			token(10, 3590, { lastRefreshedAt: daysAgo(1) }),
			3,
			false,
			'fresh',
		],
		[
			'fresh, but last refreshed 31 days ago',
			token(10, 3590, { lastRefreshedAt: daysAgo(31) }),
			3,
			true,
			'idle',
		],
		[
			'never refreshed, authorized 31 days ago',
			token(31 * 86_400, 3590, { createdAt: daysAgo(31) }),
			3,
			true,
			'idle',
		],
		[
			'never refreshed, authorized 29 days ago',
			token(29 * 86_400, 3590, { createdAt: daysAgo(29) }),
			3,
			false,
			'fresh',
		],
		['no expiry, recently obtained', token(10, 0, { expiresAt: null }), 3, false, 'fresh'],
		['no access token', token(10, 3590, { accessToken: null }), 3, true, 'no-access-token'],
		[
			'due, but refreshed by another process since it was listed',
			token(3400, 200),
			2,
			false,
			'refreshed-meanwhile',
		],
	])('%s', (_description, times, seenRefreshCount, should, reason) => {
		expect(shouldRefresh(times, keepAlive, seen(seenRefreshCount))).toEqual({ should, reason });
	});
});

describe('the cooldown after a transient failure: a refresh that would be made is not, until the next attempt time', () => {
	const cooling = (nextAttemptInSeconds: number) => ({ nextAttemptAt: at(nextAttemptInSeconds) });
	test.each<[string, TokenTimes, RefreshRequest, boolean, string]>([
		[
			'expired, next attempt in 10 s',
			token(3700, -100, cooling(10)),
			minValidity(300),
			false,
			'cooldown',
		],
		[
			'expired, next attempt time reached',
			token(3700, -100, cooling(0)),
			minValidity(300),
			true,
			'expired',
		],
		[
			'fresh, next attempt in 10 s: no refresh needed anyway',
			token(10, 3590, cooling(10)),
			minValidity(300),
			false,
			'fresh',
		],
		[
			'forced, next attempt in 10 s',
			token(10, 3590, cooling(10)),
			{ kind: 'forced' },
			false,
			'cooldown',
		],
		[
			'refused token still stored, next attempt in 10 s',
			token(10, 3590, cooling(10)),
			{ kind: 'failed-token', failedAccessToken: 'access-1' },
			false,
			'cooldown',
		],
		[
			'refused token already replaced, next attempt in 10 s',
			token(10, 3590, cooling(10)),
			{ kind: 'failed-token', failedAccessToken: 'access-0' },
			false,
			'failed-token-replaced',
		],
	])('%s', (_description, times, request, should, reason) => {
		expect(shouldRefresh(times, request, seen())).toEqual({ should, reason });
	});

	test("is judged on the database's clock, which wrote it: a process clock an hour off neither extends nor ends it", () => {
		const cooling10s = token(10, 3590, cooling(10));
		const forced: RefreshRequest = { kind: 'forced' };
		const hour = s(3600);
		expect(
			shouldRefresh(cooling10s, forced, { now: NOW - hour, databaseNow: NOW, seenRefreshCount: 3 }),
		).toEqual({ should: false, reason: 'cooldown' });
		expect(
			shouldRefresh(cooling10s, forced, { now: NOW + hour, databaseNow: NOW, seenRefreshCount: 3 }),
		).toEqual({ should: false, reason: 'cooldown' });
		expect(
			shouldRefresh(cooling10s, forced, {
				now: NOW,
				databaseNow: NOW + s(10),
				seenRefreshCount: 3,
			}),
		).toEqual({ should: true, reason: 'forced' });
	});
});

describe('the effective Minimum Validity', () => {
	test.each<
		[string, Pick<TokenTimes, 'expiresAt' | 'tokenIssuedAt' | 'lastRefreshedAt'>, number, number]
	>([
		[
			'half of a 300 s lifetime caps 300 s',
			{ tokenIssuedAt: at(0), lastRefreshedAt: null, expiresAt: at(300) },
			300,
			150,
		],
		[
			'a 3600 s lifetime leaves 300 s as asked',
			{ tokenIssuedAt: at(0), lastRefreshedAt: null, expiresAt: at(3600) },
			300,
			300,
		],
		[
			'token_issued_at is preferred over last_refreshed_at',
			{ tokenIssuedAt: at(-100), lastRefreshedAt: at(-3500), expiresAt: at(100) },
			300,
			100,
		],
		[
			'without token_issued_at, last_refreshed_at',
			{ tokenIssuedAt: null, lastRefreshedAt: at(-3500), expiresAt: at(100) },
			300,
			300,
		],
		[
			'without an issue time, as asked',
			{ tokenIssuedAt: null, lastRefreshedAt: null, expiresAt: at(100) },
			300,
			300,
		],
		[
			'without an expiry, as asked',
			{ tokenIssuedAt: at(0), lastRefreshedAt: null, expiresAt: null },
			300,
			300,
		],
		[
			'an expiry before the issue time gives 0, never less',
			{ tokenIssuedAt: at(0), lastRefreshedAt: null, expiresAt: at(-10) },
			300,
			0,
		],
	])('%s', (_description, times, requestedSeconds, effectiveSeconds) => {
		expect(effectiveMinValidityMs(times, s(requestedSeconds))).toBe(s(effectiveSeconds));
	});
});
