import { requireTokenUrl } from '../client-checks';
import type { EngineParts } from '../engine-parts';
import {
	AppMismatchError,
	ConnectionNotFoundError,
	ConnectionRevokedError,
	InvalidInputError,
	NeedsReauthorizationError,
	ProviderFailingError,
	TokenManagerError,
} from '../errors';
import type { RefreshPath } from '../refresh/refresh-path';
import type { RefreshRequest } from '../refresh/policy';
import {
	byteOrder,
	reportedStatus,
	type KeepAliveOptions,
	type KeepAliveOutcome,
	type KeepAliveOutcomeKind,
	type ProviderCooldown,
	type StoredConnection,
} from '../types';
import { dueConnections } from './due';

export const DEFAULT_KEEP_ALIVE_CONCURRENCY = 4;
export const MAX_KEEP_ALIVE_CONCURRENCY = 50;

type KeepAliveRequest = Extract<RefreshRequest, { kind: 'keep-alive' }>;

/**
 * Keep Alive: refreshes every connection of the client's provider whose access token expires within the window, or
 * that was last refreshed (never refreshed: created) longer ago than the idle period, each under its lease (the
 * decision is taken again under it, so a connection another process refreshed meanwhile is not refreshed twice), at
 * most `concurrency` at once. Connections of another app are left alone and not reported, those in their cooldown
 * too; a run limited by `maxConnections` carries on where the previous one stopped (due.ts). One outcome per
 * connection touched, in connection id order; one connection's failure never stops the sweep.
 */
export async function keepAlive(
	parts: EngineParts,
	refreshPath: RefreshPath,
	options: KeepAliveOptions,
): Promise<KeepAliveOutcome[]> {
	const { expiresWithinSeconds, idleAfterDays } = options;
	if (
		typeof expiresWithinSeconds !== 'number' ||
		!Number.isFinite(expiresWithinSeconds) ||
		expiresWithinSeconds < 0
	) {
		throw new InvalidInputError('expiresWithinSeconds', 'must be a number of seconds, 0 or more');
	}
	if (typeof idleAfterDays !== 'number' || !Number.isFinite(idleAfterDays) || idleAfterDays <= 0) {
		throw new InvalidInputError('idleAfterDays', 'must be a number of days, more than 0');
	}
	const concurrency = options.concurrency ?? DEFAULT_KEEP_ALIVE_CONCURRENCY;
	if (
		!Number.isInteger(concurrency) ||
		concurrency < 1 ||
		concurrency > MAX_KEEP_ALIVE_CONCURRENCY
	) {
		throw new InvalidInputError(
			'concurrency',
			`must be a whole number from 1 to ${MAX_KEEP_ALIVE_CONCURRENCY}`,
		);
	}
	const { maxConnections } = options;
	if (maxConnections !== undefined && (!Number.isInteger(maxConnections) || maxConnections < 1)) {
		throw new InvalidInputError('maxConnections', 'must be a whole number, 1 or more');
	}
	requireTokenUrl(parts.client);
	const now = parts.clock();
	const request: KeepAliveRequest = {
		kind: 'keep-alive',
		expiresBefore: now + expiresWithinSeconds * 1000,
		idleBefore: now - idleAfterDays * 86_400_000,
	};
	const due = dueConnections({
		store: parts.store,
		provider: parts.client.id,
		app: parts.fingerprint,
		due: {
			expiresBefore: new Date(request.expiresBefore),
			idleBefore: new Date(request.idleBefore),
		},
		max: maxConnections,
	});
	const outcomes: KeepAliveOutcome[] = [];
	const worker = async () => {
		// An async generator hands out one row per next(), in turn, however many workers ask.
		for (let next = await due.next(); !next.done; next = await due.next()) {
			const outcome = await keepAliveOne(parts, refreshPath, next.value, request);
			if (outcome) outcomes.push(outcome);
		}
	};
	await Promise.all(Array.from({ length: concurrency }, worker));
	return outcomes.sort((a, b) => byteOrder(a.connectionId, b.connectionId));
}

/** One Keep Alive row: its outcome, or null when it is no longer this app's or no longer exists. */
async function keepAliveOne(
	parts: EngineParts,
	refreshPath: RefreshPath,
	row: StoredConnection,
	request: KeepAliveRequest,
): Promise<KeepAliveOutcome | null> {
	const { connectionId } = row;
	const report = (
		connection: Pick<StoredConnection, 'status' | 'failingSince' | 'expiresAt'>,
		outcome: KeepAliveOutcomeKind,
	): KeepAliveOutcome => ({
		connectionId,
		outcome,
		status: reportedStatus(connection),
		expiresAt: connection.expiresAt,
	});
	try {
		const { result, cooldown, tokenRequested } = await refreshPath.refreshIfNeeded(
			connectionId,
			request,
			row,
		);
		if (cooldown) {
			return {
				...report(result.connection, 'cooldown'),
				nextAttemptAt: cooldown.nextAttemptAt,
				error: providerFailing(connectionId, cooldown),
			};
		}
		// Refreshed by a refresh this call joined or waited for: another caller's work, not this sweep's.
		if (!tokenRequested) return report(result.connection, 'skipped_fresh');
		return {
			...report(result.connection, 'refreshed'),
			...(result.recovered ? { recovered: true as const } : {}),
		};
	} catch (error) {
		if (error instanceof AppMismatchError || error instanceof ConnectionNotFoundError) return null;
		const latest = (await parts.store.get(connectionId).catch(() => null)) ?? row;
		const described = {
			code: error instanceof TokenManagerError ? error.code : 'unexpected_error',
			message: describeError(error),
		};
		if (error instanceof NeedsReauthorizationError) {
			return {
				...report({ ...latest, status: 'needs_reauth' }, 'needs_reauth'),
				error: described,
				...(error.reauthorizationUrl ? { reauthorizationUrl: error.reauthorizationUrl } : {}),
			};
		}
		if (error instanceof ConnectionRevokedError)
			return report({ ...latest, status: 'revoked' }, 'revoked');
		if (error instanceof ProviderFailingError)
			return {
				...report(latest, 'cooldown'),
				nextAttemptAt: error.nextAttemptAt,
				error: described,
			};
		return { ...report(latest, 'failed'), error: described };
	}
}

function providerFailing(
	connectionId: string,
	cooldown: ProviderCooldown,
): { code: string; message: string } {
	const error = new ProviderFailingError(
		connectionId,
		cooldown.nextAttemptAt,
		cooldown.failureCount,
		cooldown.lastError,
	);
	return { code: error.code, message: error.message };
}

/** An error for an output: the engine's own message (never a secret), or only the kind of an unexpected one. */
function describeError(error: unknown): string {
	if (error instanceof TokenManagerError) return error.message;
	return `Unexpected ${error instanceof Error ? error.name : 'error'} during refresh`;
}
