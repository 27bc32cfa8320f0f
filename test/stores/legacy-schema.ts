import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADDED_COLUMNS } from '../../engine/stores/sql-schema';

/** The columns the release before this one lacks (grant type and failure bookkeeping). */
export const LIFECYCLE_COLUMNS = ['grant_type', 'failure_count', 'first_failure_at', 'next_attempt_at', 'failing_since'] as const;

/**
 * The shipped sql/<dialect>.sql as it was before the columns `missing` (by default all of ADDED_COLUMNS: the first
 * release; LIFECYCLE_COLUMNS: the previous one) and the states table existed: their definitions and the statements
 * that add or create them removed, and connection_id without the collation "C" it got with listing. A table made
 * from it is what an earlier version of the package created.
 */
export function legacySchemaSql(dialect: 'postgres' | 'mysql' | 'sqlite', missing: readonly string[] = ADDED_COLUMNS): string {
	const added = missing.join('|');
	const text = tokensTableSql(dialect)
		.replace(/^(\s*connection_id\s+text) collate "C"/m, '$1')
		.replace(new RegExp(`^\\s*(${added})\\s.*\\n`, 'gm'), '')
		.replace(new RegExp(`^alter table .* add column .*(${added}).*\\n`, 'gm'), '');
	for (const pattern of [...missing, 'oauth2_tokens_states']) {
		if (new RegExp(`^[^-]*\\b${pattern}\\b`, 'm').test(text)) throw new Error(`legacySchemaSql(${dialect}) still mentions ${pattern}`);
	}
	if (/^[^-]*collate "C"/m.test(text)) throw new Error(`legacySchemaSql(${dialect}) still gives connection_id collation "C"`);
	return text;
}

/** The shipped sql/<dialect>.sql without the states table: what the version before the states table created. */
export function tokensTableSql(dialect: 'postgres' | 'mysql' | 'sqlite'): string {
	return readFileSync(join(__dirname, '..', '..', 'sql', `${dialect}.sql`), 'utf8')
		.replace(/^\s*--.*\n/gm, '')
		.split(';')
		.filter((statement) => !/\boauth2_tokens_states\b/.test(statement))
		.join(';');
}
