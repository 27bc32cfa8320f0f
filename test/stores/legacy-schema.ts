import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ADDED_COLUMNS } from '../../engine/stores/sql-schema';

/**
 * The shipped sql/<dialect>.sql as it was before the columns of ADDED_COLUMNS existed: their definitions and the
 * statements that add them removed. A table made from it is what an earlier version of the package created.
 */
export function legacySchemaSql(dialect: 'postgres' | 'mysql' | 'sqlite'): string {
	const added = ADDED_COLUMNS.join('|');
	const text = readFileSync(join(__dirname, '..', '..', 'sql', `${dialect}.sql`), 'utf8')
		.replace(new RegExp(`^\\s*(${added})\\s.*\\n`, 'gm'), '')
		.replace(new RegExp(`^alter table .* add column .*(${added}).*\\n`, 'gm'), '');
	for (const column of ADDED_COLUMNS) {
		if (new RegExp(`^[^-]*\\b${column}\\b`, 'm').test(text)) throw new Error(`legacySchemaSql(${dialect}) still mentions ${column}`);
	}
	return text;
}
