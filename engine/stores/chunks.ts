/**
 * How a store splits a read of many connection ids: a bounded number of ids per statement (SQLite binds at most
 * 32,766 parameters, MySQL 65,535, and a very long IN list plans no better), and for PostgREST, whose filters travel
 * in the URL, a bounded length too (proxies in front of Supabase refuse long URLs).
 */

/** Ids one SQL statement reads at most. */
export const IDS_PER_STATEMENT = 500;

/** Characters of connection ids in one PostgREST URL: well under the 8 KB many proxies take, as ids grow when encoded. */
export const IDS_LENGTH_PER_URL = 2000;

/** `ids` without repeats, in groups of at most `maxCount` ids whose lengths add up to at most `maxLength` (a longer single id gets a group of its own). */
export function chunksOf(
	ids: readonly string[],
	maxCount: number,
	maxLength = Number.POSITIVE_INFINITY,
): string[][] {
	const chunks: string[][] = [];
	let current: string[] = [];
	let length = 0;
	for (const id of new Set(ids)) {
		if (current.length > 0 && (current.length >= maxCount || length + id.length > maxLength)) {
			chunks.push(current);
			current = [];
			length = 0;
		}
		current.push(id);
		length += id.length;
	}
	if (current.length > 0) chunks.push(current);
	return chunks;
}
