import type { ConnectionQuery, ConnectionStatus, ReportedStatus } from '../types';

/*
 * Which rows the list filters select, written once as conditions on the stored columns: a reported status (as
 * reportedStatus and rowToConnection read a row) and Keep Alive's "due". Each store translates them: SQL
 * (sql-store.ts), PostgREST (supabase.ts), a test on a row in memory (memory.ts).
 */
export type TimeColumn =
	'expires_at' | 'last_refreshed_at' | 'created_at' | 'next_attempt_at' | 'failing_since';

export type RowCondition =
	| { kind: 'status'; is: ConnectionStatus }
	/** The column holds no value. */
	| { kind: 'unset'; column: TimeColumn }
	/** The grant type is one this version knows (null: the authorization code grant of rows older than the column). */
	| { kind: 'knownGrant' }
	/** The column's time is before `time`, or at it with `orAt`; 'databaseNow' is the store's own clock. */
	| { kind: 'before'; column: TimeColumn; time: Date | 'databaseNow'; orAt?: boolean }
	| { kind: 'not'; condition: RowCondition }
	| { kind: 'all'; of: RowCondition[] }
	| { kind: 'any'; of: RowCondition[] };

const all = (...of: RowCondition[]): RowCondition => ({ kind: 'all', of });
const any = (...of: RowCondition[]): RowCondition => ({ kind: 'any', of });
const not = (condition: RowCondition): RowCondition => ({ kind: 'not', condition });
const status = (is: ConnectionStatus): RowCondition => ({ kind: 'status', is });
const unset = (column: TimeColumn): RowCondition => ({ kind: 'unset', column });
const knownGrant: RowCondition = { kind: 'knownGrant' };

/**
 * The rows that report `reported`: failing ones are active rows with failing_since set; an active row of a grant
 * type this version does not know reports needs_reauth, so it is never used with a grant it was not made for.
 */
export function reportedStatusCondition(reported: ReportedStatus): RowCondition {
	switch (reported) {
		case 'active':
			return all(status('active'), unset('failing_since'), knownGrant);
		case 'failing':
			return all(status('active'), not(unset('failing_since')), knownGrant);
		case 'needs_reauth':
			return any(status('needs_reauth'), all(status('active'), not(knownGrant)));
		case 'revoked':
			return status('revoked');
	}
}

/**
 * Due for Keep Alive: active with a known grant, its access token expiring before `expiresBefore` or last refreshed
 * (never refreshed: created) before `idleBefore`, and not in its cooldown, which ends on the store's clock as the lease does.
 */
export function dueCondition(due: NonNullable<ConnectionQuery['due']>): RowCondition {
	return all(
		status('active'),
		knownGrant,
		any(
			{ kind: 'before', column: 'expires_at', time: due.expiresBefore },
			{ kind: 'before', column: 'last_refreshed_at', time: due.idleBefore },
			all(unset('last_refreshed_at'), {
				kind: 'before',
				column: 'created_at',
				time: due.idleBefore,
			}),
		),
		any(unset('next_attempt_at'), {
			kind: 'before',
			column: 'next_attempt_at',
			time: 'databaseNow',
			orAt: true,
		}),
	);
}
