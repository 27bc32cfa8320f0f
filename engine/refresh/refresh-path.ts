import { NO_REFRESH_TOKEN, REFRESH_TOKEN_REJECTED } from '../access';
import { requireTokenClient } from '../client-checks';
import { clientCredentialsGrant } from '../connecting/client-credentials';
import type { EngineParts } from '../engine-parts';
import { ProviderFailingError, TokenEndpointError, TokenManagerError } from '../errors';
import {
	isTransientFailure,
	refreshTokenOfRefusedAnswer,
	type Grant,
	type IssuedTokens,
} from '../oauth';
import {
	NO_FAILURES,
	type Connection,
	type ProviderCooldown,
	type StoredConnection,
	type TokenResult,
} from '../types';
import { writeFromLatest } from '../versioned-write';
import { cooldownOf, failureRecord } from './failures';
import { shouldRefresh, tokenUsable, type RefreshDecision, type RefreshRequest } from './policy';

export interface RefreshOutcome {
	result: TokenResult;
	/** Set when a refresh was due but the connection is in its cooldown: the stored token was served as it is. */
	cooldown: ProviderCooldown | null;
	/** Whether this call itself asked the provider (not one it joined or waited for). */
	tokenRequested: boolean;
}

/*
 * The refresh path of Get Valid Token, Refresh Token and Keep Alive: the refresh policy (policy.ts) decides on the
 * call's first read, and again on each later read while the coordinator waits for the lease, so that one refresh serves
 * every caller that needed it; the provider is asked under the lease, and the answer (new tokens, a rejected refresh
 * token, a failure to count) is written before the lease ends.
 */
export class RefreshPath {
	constructor(private readonly parts: EngineParts) {}

	/** `listed` is the row as the caller read it (Keep Alive's list, a read of many items; null: no row), which spares the first read. */
	async refreshIfNeeded(
		connectionId: string,
		request: RefreshRequest,
		listed?: StoredConnection | null,
	): Promise<RefreshOutcome> {
		const { access, coordinator, clock } = this.parts;
		const wroteKept = await coordinator.writeRefused(connectionId);
		const current =
			listed !== undefined && !wroteKept
				? await access.usable(connectionId, listed)
				: await access.read(connectionId);
		const decide = async (c: Connection) =>
			shouldRefresh(c, request, {
				now: clock(),
				databaseNow: await this.databaseNowFor(c),
				seenRefreshCount: current.refreshCount,
			});
		const first = await decide(current);
		if (!first.should)
			return { ...(await this.settled(current, request, first)), tokenRequested: false };
		requireTokenClient(this.parts.client);
		let tokenRequested = false;
		let result: TokenResult;
		try {
			result = await coordinator.refresh(current, {
				read: () => access.read(connectionId),
				stillNeeded: async (c) => (await decide(c)).should,
				refresh: (leased, deadline) => {
					tokenRequested = true;
					return this.refreshWithProvider(leased, deadline);
				},
			});
		} catch (error) {
			// The provider just failed transiently: this call is in the cooldown it started, and is served as every call in it is.
			if (request.kind !== 'min-validity' || !isTransientFailure(error)) throw error;
			const latest = await access.read(connectionId);
			const cooldown = cooldownOf(latest, await this.databaseNowFor(latest));
			if (!cooldown || !tokenUsable(latest, clock())) throw error;
			return {
				result: { connection: latest, refreshed: false, recovered: false },
				cooldown,
				tokenRequested,
			};
		}
		return {
			...(await this.settled(result.connection, request, await decide(result.connection), result)),
			tokenRequested,
		};
	}

	/**
	 * The result for a connection no refresh is made for. In a cooldown, the stored token serves Get Valid Token and
	 * Keep Alive while it has not expired; a call that needs another token gets a ProviderFailingError.
	 */
	private async settled(
		connection: Connection,
		request: RefreshRequest,
		decision: RefreshDecision,
		result: TokenResult = { connection, refreshed: false, recovered: false },
	): Promise<Omit<RefreshOutcome, 'tokenRequested'>> {
		if (decision.reason !== 'cooldown') return { result, cooldown: null };
		const cooldown = cooldownOf(connection, await this.databaseNowFor(connection))!;
		const servedAsIs =
			request.kind === 'keep-alive' ||
			(request.kind === 'min-validity' && tokenUsable(connection, this.parts.clock()));
		if (!servedAsIs)
			throw new ProviderFailingError(
				connection.connectionId,
				cooldown.nextAttemptAt,
				cooldown.failureCount,
				cooldown.lastError,
			);
		return { result, cooldown };
	}

	/** Runs under the lease. `deadline` (epoch ms) bounds the whole exchange with the provider; it falls inside the lease. */
	private async refreshWithProvider(leased: Connection, deadline: number): Promise<Connection> {
		const { store, sealer, access, coordinator, client } = this.parts;
		const { connectionId } = leased;
		const clientCredentials = leased.grantType === 'client_credentials';
		let refreshToken: string | null;
		try {
			refreshToken = clientCredentials ? null : leased.refreshToken;
		} catch (error) {
			// No configured key opens it (a key was dropped): a refresh that fails until someone acts, counted as such.
			throw await this.recordFailure(leased, error);
		}
		if (!clientCredentials && !refreshToken) {
			await store.update(connectionId, leased.version, {
				...sealer.resealed(leased),
				status: 'needs_reauth',
				lastError: NO_REFRESH_TOKEN,
				...NO_FAILURES,
			});
			throw await access.needsReauth(connectionId, NO_REFRESH_TOKEN);
		}
		let response: IssuedTokens;
		try {
			const grant: Grant =
				refreshToken === null
					? clientCredentialsGrant(leased.metadata)
					: { grant_type: 'refresh_token', refresh_token: refreshToken };
			response = await this.parts.tokenEndpoint(grant, { deadline });
		} catch (error) {
			// A client-credentials grant has no refresh token to reject: invalid_grant there is the client's problem, like invalid_client.
			if (
				!clientCredentials &&
				error instanceof TokenEndpointError &&
				error.error === 'invalid_grant'
			) {
				return this.refreshTokenRejected(leased);
			}
			const rotated = clientCredentials ? null : refreshTokenOfRefusedAnswer(error);
			if (rotated !== null) {
				// The answer was refused, but the provider may have retired the old refresh token: the new one must be kept.
				await coordinator.saveRefreshed(leased, {
					...sealer.resealed({ ...leased, refreshToken: rotated }),
					lastError: failureMessage(error),
				});
				throw error;
			}
			throw await this.recordFailure(leased, error);
		}
		const previous = {
			refreshToken: clientCredentials ? null : leased.refreshToken,
			metadata: leased.metadata,
		};
		const saved = await coordinator.saveRefreshed(leased, {
			...sealer.issuedTokenFields(connectionId, response, previous, client.keepResponseFields),
			...(clientCredentials ? { refreshToken: null } : {}),
			status: 'active',
			lastRefreshedAt: new Date(this.parts.clock()),
			refreshCount: leased.refreshCount + 1,
			lastError: response.warning,
			appFingerprint: this.parts.fingerprint,
			tokenIssuedAt: response.requestedAt,
			...NO_FAILURES,
		});
		// A write that lost to a newer grant returns that grant's row, which may come from another app.
		access.requireSameApp(saved);
		return sealer.open(saved);
	}

	/** Counts and dates a failed refresh under the lease (failures.ts); returns the error for the caller to throw. */
	private async recordFailure(leased: Connection, error: unknown): Promise<unknown> {
		const { store, sealer, failingAfterMs } = this.parts;
		const failure = failureRecord(leased, {
			transient: isTransientFailure(error),
			databaseNow: await this.parts.databaseClock(),
			failingAfterMs,
		});
		await store
			.update(leased.connectionId, leased.version, {
				...sealer.resealedIfReadable(leased),
				lastError: failureMessage(error),
				...failure,
			})
			.catch(() => undefined);
		return error;
	}

	/**
	 * The provider refused the refresh token we sent. It marks the connection only while that token is still
	 * the stored one: if another process has stored a newer one meanwhile (its refresh won), that one is used.
	 */
	private refreshTokenRejected(leased: Connection): Promise<Connection> {
		const { store, sealer, access } = this.parts;
		const { connectionId } = leased;
		return writeFromLatest(store, connectionId, async (row) => {
			if (!row || sealer.refreshTokenOf(row) !== leased.refreshToken || row.status !== 'active')
				return access.usable(connectionId, row);
			await store.update(connectionId, row.version, {
				...sealer.resealed(sealer.open(row)),
				status: 'needs_reauth',
				lastError: REFRESH_TOKEN_REJECTED,
				...NO_FAILURES,
			});
			throw await access.needsReauth(connectionId, REFRESH_TOKEN_REJECTED);
		});
	}

	/** The store's time when `c` has a cooldown to compare with it; the process clock, unread, otherwise. */
	private databaseNowFor(c: Pick<StoredConnection, 'nextAttemptAt'>): Promise<number> | number {
		return c.nextAttemptAt === null ? this.parts.clock() : this.parts.databaseClock();
	}
}

/** What last_error keeps of a failed refresh: the engine's own message (never a secret), or only that it was unexpected. */
function failureMessage(error: unknown): string {
	return error instanceof TokenManagerError ? error.message : 'Unexpected error during refresh';
}
