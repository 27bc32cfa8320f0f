import { GRANT_TYPES } from '../types';
import type { RowCondition } from './row-filters';

/* The list filters as PostgREST writes them (the Supabase store's). */

/**
 * A RowCondition in PostgREST's logic syntax, as one `or=(…)` term: `and(…)`/`or(…)` trees, `not.` before an
 * operator or a tree. `databaseNow` is the store's clock, for conditions that compare with it.
 */
export function postgrestFilter(condition: RowCondition, databaseNow: string | undefined): string {
	const negated = (term: string) =>
		/^(and|or)\(/.test(term) ? `not.${term}` : term.replace('.', '.not.');
	switch (condition.kind) {
		case 'status':
			return `status.eq.${condition.is}`;
		case 'unset':
			return `${condition.column}.is.null`;
		case 'knownGrant':
			return `or(grant_type.is.null,grant_type.in.(${GRANT_TYPES.join(',')}))`;
		case 'before': {
			const time = condition.time === 'databaseNow' ? databaseNow : condition.time.toISOString();
			if (time === undefined) throw new Error('a condition on the database clock needs its time');
			return `${condition.column}.${condition.orAt ? 'lte' : 'lt'}."${time}"`;
		}
		case 'not':
			return negated(postgrestFilter(condition.condition, databaseNow));
		case 'all':
			return `and(${condition.of.map((c) => postgrestFilter(c, databaseNow)).join(',')})`;
		case 'any':
			return `or(${condition.of.map((c) => postgrestFilter(c, databaseNow)).join(',')})`;
	}
}

/**
 * A POSIX regular expression (PostgREST's match, PostgreSQL's ~) for text that starts with exactly `prefix`: every
 * ASCII character other than a letter or digit is escaped, which makes it literal. PostgREST's like would turn a `*`
 * in the prefix into a wildcard.
 */
export function regexPrefix(prefix: string): string {
	return `^${regexLiteral(prefix)}`;
}

/** A POSIX regular expression matching exactly `text` anywhere, every ASCII punctuation character escaped (as regexPrefix). */
export function regexLiteral(text: string): string {
	return text.replace(/[\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]/g, '\\$&');
}

/**
 * PostgREST's `in` list of exactly `values`: each one in double quotes with `"` and `\` escaped by a backslash, so a
 * comma, bracket, quote or leading space in a connection id is data. (supabase-js's `in()` quotes only values with
 * a comma or bracket, and escapes nothing.)
 */
export function postgrestInList(values: readonly string[]): string {
	return `(${values.map((value) => `"${value.replace(/["\\]/g, '\\$&')}"`).join(',')})`;
}
