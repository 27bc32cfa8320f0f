import type { SqlDialect } from './sql-dialect';
import type { RowCondition } from './row-filters';
import { KNOWN_GRANT_SQL } from './sql-rows';

/** A RowCondition (row-filters.ts) in SQL, its times as parameters through `param`; the database clock is the dialect's own. */
export function sqlCondition(
	dialect: SqlDialect,
	condition: RowCondition,
	param: (value: unknown) => string,
): string {
	const inSql = (c: RowCondition) => sqlCondition(dialect, c, param);
	switch (condition.kind) {
		case 'status':
			return `${dialect.listedStatus} = '${condition.is}'`;
		case 'unset':
			return `${condition.column} is null`;
		case 'knownGrant':
			return KNOWN_GRANT_SQL;
		case 'before':
			return `${condition.column} ${condition.orAt ? '<=' : '<'} ${condition.time === 'databaseNow' ? dialect.now : param(condition.time)}`;
		case 'not':
			return `not (${inSql(condition.condition)})`;
		case 'all':
			return `(${condition.of.map(inSql).join(' and ')})`;
		case 'any':
			return `(${condition.of.map(inSql).join(' or ')})`;
	}
}
