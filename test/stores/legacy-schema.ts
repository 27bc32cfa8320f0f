import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TokenStore } from '../../engine/store';
import { ADDED_COLUMNS } from '../../engine/stores/sql-schema';
import type { StoredConnection } from '../../engine/types';

/** The columns the release before this one lacks (grant type and failure bookkeeping). */
export const LIFECYCLE_COLUMNS = [
	'grant_type',
	'failure_count',
	'first_failure_at',
	'next_attempt_at',
	'failing_since',
] as const;

/**
 * The shipped sql/<dialect>.sql as it was before the columns `missing` (by default all of ADDED_COLUMNS: the first
 * release; LIFECYCLE_COLUMNS: the previous one) and the states table existed: their definitions and the statements
 * that add or create them removed, and connection_id without the collation "C" it got with listing. A table made
 * from it is what an earlier version of the package created.
 */
export function legacySchemaSql(
	dialect: 'postgres' | 'mysql' | 'sqlite',
	missing: readonly string[] = ADDED_COLUMNS,
): string {
	const added = missing.join('|');
	const text = tokensTableSql(dialect)
		.replace(/^(\s*connection_id\s+text) collate "C"/m, '$1')
		.replace(new RegExp(`^\\s*(${added})\\s.*\\n`, 'gm'), '')
		.replace(new RegExp(`^alter table .* add column .*(${added}).*\\n`, 'gm'), '');
	for (const pattern of [...missing, 'oauth2_tokens_states']) {
		if (new RegExp(`^[^-]*\\b${pattern}\\b`, 'm').test(text))
			throw new Error(`legacySchemaSql(${dialect}) still mentions ${pattern}`);
	}
	if (/^[^-]*collate "C"/m.test(text))
		throw new Error(`legacySchemaSql(${dialect}) still gives connection_id collation "C"`);
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

/**
 * After stores upgraded a table of the previous release: the old row "old:1" (read by each store into `rows`) has the
 * new columns' defaults and lists as active; failure bookkeeping written through one store lists as failing in another.
 */
export async function expectUpgradedLifecycleRow(
	upgraders: TokenStore[],
	rows: Array<StoredConnection | null>,
): Promise<void> {
	const defaults = {
		grantType: 'authorization_code',
		failureCount: 0,
		firstFailureAt: null,
		nextAttemptAt: null,
		failingSince: null,
	};
	for (const row of rows)
		expect(row).toMatchObject({ accessToken: 'ct:old', ...defaults, status: 'active', version: 1 });
	expect(await upgraders[1].list({ status: 'active', limit: 10 })).toEqual([rows[0]]);
	const since = new Date(Date.UTC(2030, 0, 1, 0, 0, 0, 1));
	const updated = await upgraders[0].update('old:1', 1, {
		failureCount: 3,
		firstFailureAt: since,
		failingSince: since,
	});
	expect(updated).toMatchObject({
		accessToken: 'ct:old',
		failureCount: 3,
		firstFailureAt: since,
		failingSince: since,
		version: 2,
	});
	expect(await upgraders[upgraders.length - 1].list({ status: 'failing', limit: 10 })).toEqual([
		updated,
	]);
}
