import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADDED_COLUMNS } from '../../engine/stores/sql-schema';

/**
 * The shipped sql/<dialect>.sql as it was before the columns of ADDED_COLUMNS and the states table existed: their
 * definitions and the statements that add or create them removed. A table made from it is what an earlier version
 * of the package created.
 */
export function legacySchemaSql(dialect: 'postgres' | 'mysql' | 'sqlite'): string {
	const added = ADDED_COLUMNS.join('|');
	const text = tokensTableSql(dialect)
		.replace(new RegExp(`^\\s*(${added})\\s.*\\n`, 'gm'), '')
		.replace(new RegExp(`^alter table .* add column .*(${added}).*\\n`, 'gm'), '');
	for (const pattern of [...ADDED_COLUMNS, 'oauth2_tokens_states']) {
		if (new RegExp(`^[^-]*\\b${pattern}\\b`, 'm').test(text)) throw new Error(`legacySchemaSql(${dialect}) still mentions ${pattern}`);
	}
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
