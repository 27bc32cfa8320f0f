/*
 * The token manager: its options, the wiring of the engine's parts, and the operations, each handed to the file that
 * does it: connecting/ (authorization links, code exchange, client credentials, grant saving), refresh/refresh-path.ts
 * (Get Valid Token and Refresh Token under refresh/coordinator.ts: single flight and lease), keep-alive/sweep.ts,
 * revoke.ts. When to refresh is refresh/policy.ts; failure bookkeeping and cooldowns refresh/failures.ts.
 */
import { ConnectionAccess } from './access';
import { requireTokenClient } from './client-checks';
import { validateConnectionId } from './connection-id';
import { AuthorizationLinks, type LinkOptions } from './connecting/authorization-links';
import { connectClientCredentials } from './connecting/client-credentials';
import { exchangeAuthorizationCode } from './connecting/code-exchange';
import type { TokenCipher } from './crypto';
import type { EngineParts, TokenEndpoint } from './engine-parts';
import { InvalidInputError } from './errors';
import { keepAlive } from './keep-alive/sweep';
import { getValidTokens, type Settled, type ValidTokenRequest } from './many-tokens';
import { AuthorizationServerClient, type RequestPolicy } from './oauth';
import { appFingerprint, type OAuthClient } from './presets';
import {
	processRefreshRegistry,
	RefreshCoordinator,
	type RefreshRegistry,
} from './refresh/coordinator';
import { DatabaseClock } from './refresh/database-clock';
import { leaseSettings } from './refresh/lease';
import { effectiveMinValidityMs, type RefreshRequest } from './refresh/policy';
import { RefreshPath } from './refresh/refresh-path';
import { revoke } from './revoke';
import { RowSealer } from './sealing';
import type { TokenStore } from './store';
import type { StoredConnection } from './types';
import type {
	AuthorizationStart,
	ClientCredentialsParams,
	ExchangeParams,
	KeepAliveOptions,
	KeepAliveOutcome,
	RevokeResult,
	TokenResult,
	ValidTokenResult,
} from './types';

export const DEFAULT_MIN_VALIDITY_SECONDS = 300;
export const DEFAULT_REAUTHORIZATION_LINK_TTL_SECONDS = 86_400;
export const DEFAULT_FAILING_AFTER_MS = 900_000;

export interface TokenManagerOptions {
	store: TokenStore;
	cipher: TokenCipher;
	client: OAuthClient;
	/** Timeouts and retries of the requests to the provider's endpoints (token and revocation). */
	endpoint?: Partial<RequestPolicy>;
	/** Where grants are sent (default: the client's token endpoint, with the `endpoint` timeouts and retries). */
	tokenEndpoint?: TokenEndpoint;
	/** The current time in epoch ms, for the refresh policy and the times written with new tokens (default Date.now). */
	clock?: () => number;
	/**
	 * The store's current time in epoch ms, in which cooldowns are written and compared (default: the store's
	 * databaseTime(), offset to `clock`; see DatabaseClock). Tests with an injected clock inject this too.
	 */
	databaseClock?: () => Promise<number>;
	/** How long a refresh lease lasts if its holder dies (default 30 s). */
	leaseTtlMs?: number;
	/**
	 * Wall-clock limit of a whole refresh (every attempt and retry, response body included), counted from the
	 * lease's start; strictly shorter than the lease, so the new tokens are written while the lease still holds.
	 * Default two thirds of the lease.
	 */
	refreshDeadlineMs?: number;
	/** How long a caller waits for another process's refresh before giving up (default: lease + refresh deadline + 5 s). */
	leaseWaitMs?: number;
	pollIntervalMs?: number;
	/** Retries of the store write after the provider issued new tokens. */
	saveRetries?: number;
	/**
	 * Validity of the authorization link a NeedsReauthorizationError carries (default 24 h: it is meant to be
	 * sent to the account owner by an Error Workflow). 0 turns the link off.
	 */
	reauthorizationLinkTtlSeconds?: number;
	/** Where refreshes in flight and writes the store refused are shared (default: this process's registry). */
	refreshRegistry?: RefreshRegistry;
	/**
	 * How long refreshes may keep failing (whatever the cause) before the connection reports status `failing`, counted
	 * from the first failure (default 15 min).
	 */
	failingAfterMs?: number;
}

export class TokenManager {
	private readonly parts: EngineParts;
	private readonly refreshPath: RefreshPath;

	constructor(options: TokenManagerOptions) {
		const { store, client } = options;
		const failingAfterMs = options.failingAfterMs ?? DEFAULT_FAILING_AFTER_MS;
		if (!Number.isFinite(failingAfterMs) || failingAfterMs < 0) {
			throw new RangeError(`The failing period (${failingAfterMs} ms) must be 0 or more`);
		}
		const fingerprint = appFingerprint(client);
		const oauth = new AuthorizationServerClient(client, options.endpoint);
		const clock = options.clock ?? Date.now;
		const storeClock = new DatabaseClock(store, clock);
		const sealer = new RowSealer(options.cipher);
		const links = new AuthorizationLinks(options.cipher, store, client);
		this.parts = {
			store,
			client,
			fingerprint,
			oauth,
			tokenEndpoint:
				options.tokenEndpoint ?? ((grant, limits) => oauth.requestToken(grant, limits)),
			clock,
			databaseClock: options.databaseClock ?? (() => storeClock.now()),
			coordinator: new RefreshCoordinator({
				store,
				appFingerprint: fingerprint,
				registry: options.refreshRegistry ?? processRefreshRegistry,
				lease: leaseSettings({
					ttlMs: options.leaseTtlMs,
					refreshDeadlineMs: options.refreshDeadlineMs,
					waitMs: options.leaseWaitMs,
					pollIntervalMs: options.pollIntervalMs,
				}),
				saveRetries: options.saveRetries ?? 3,
				refreshTokenOf: (row) => sealer.refreshTokenOf(row),
			}),
			sealer,
			links,
			access: new ConnectionAccess({
				store,
				client,
				fingerprint,
				sealer,
				links,
				reauthorizationLinkTtlSeconds:
					options.reauthorizationLinkTtlSeconds ?? DEFAULT_REAUTHORIZATION_LINK_TTL_SECONDS,
			}),
			failingAfterMs,
		};
		this.refreshPath = new RefreshPath(this.parts);
	}

	/** The provider's authorize URL for this connection, with a signed state that only this store accepts. Nothing is written. */
	buildAuthorizationUrl(
		connectionId: string,
		options: LinkOptions = {},
	): Promise<AuthorizationStart> {
		return this.parts.links.build(connectionId, options);
	}

	/** Build Authorization URL for an account owner about to consent: checks first what the code exchange will need. */
	startAuthorization(connectionId: string, options: LinkOptions = {}): Promise<AuthorizationStart> {
		return this.parts.links.start(connectionId, options);
	}

	/** Trades an authorization code for tokens and stores them; a null id is derived from the answer (marketplace installs). */
	exchangeAuthorizationCode(
		connectionId: string | null,
		params: ExchangeParams,
	): Promise<TokenResult> {
		return exchangeAuthorizationCode(this.parts, connectionId, params);
	}

	/** A connection of the client itself (RFC 6749 §4.4), renewed with the same request whenever it is stale. */
	connectClientCredentials(
		connectionId: string,
		params: ClientCredentialsParams = {},
	): Promise<TokenResult> {
		return connectClientCredentials(this.parts, connectionId, params);
	}

	/**
	 * Returns a token valid for at least `minValiditySeconds`, refreshing first when needed. While the provider is
	 * failing (cooldown) it is not called: the stored token is returned while it has not expired (`cooldown` says so),
	 * else a ProviderFailingError.
	 */
	getValidToken(
		connectionId: string,
		options: { minValiditySeconds?: number } = {},
	): Promise<ValidTokenResult> {
		return this.validToken(connectionId, options.minValiditySeconds);
	}

	/**
	 * Get Valid Token over many items (many-tokens.ts): one store read for all their connections, then at most
	 * `concurrency` refreshes at once; one result or error per request, in their order.
	 */
	getValidTokens(
		requests: readonly ValidTokenRequest[],
		options: { concurrency?: number } = {},
	): Promise<Array<Settled<ValidTokenResult>>> {
		return getValidTokens(
			this.parts.store,
			(connectionId, minValiditySeconds, listed) =>
				this.validToken(connectionId, minValiditySeconds, listed),
			requests,
			options.concurrency,
		);
	}

	/** `listed`: the connection's row as the caller read it (null: it has none), which spares the first read. */
	private async validToken(
		connectionId: string,
		minValiditySeconds: number | undefined,
		listed?: StoredConnection | null,
	): Promise<ValidTokenResult> {
		validateConnectionId(connectionId);
		const minValidityMs = minValidityMsOf(minValiditySeconds);
		const { result, cooldown } = await this.refreshPath.refreshIfNeeded(
			connectionId,
			{ kind: 'min-validity', minValidityMs },
			listed,
		);
		if (cooldown) {
			const leftMs = result.connection.expiresAt
				? result.connection.expiresAt.getTime() - this.parts.clock()
				: minValidityMs;
			return {
				...result,
				cooldown,
				minValidity: { effectiveSeconds: Math.max(0, Math.floor(leftMs / 1000)), capped: true },
			};
		}
		const effectiveMs = effectiveMinValidityMs(result.connection, minValidityMs);
		return {
			...result,
			cooldown: null,
			minValidity: {
				effectiveSeconds: Math.floor(effectiveMs / 1000),
				capped: effectiveMs < minValidityMs,
			},
		};
	}

	/**
	 * Refreshes the connection. With `failedAccessToken` (the token an API just refused) it refreshes only if the stored
	 * token is still that one: a caller that lost the race gets the winner's token. Otherwise, or with `force`, it
	 * refreshes unless another refresh completed after this call began. In a cooldown even a forced refresh does not call
	 * the provider (ProviderFailingError): every execution of a workflow would add load to a failing provider.
	 */
	async refreshToken(
		connectionId: string,
		options: { failedAccessToken?: string; force?: boolean } = {},
	): Promise<TokenResult> {
		validateConnectionId(connectionId);
		const request: RefreshRequest =
			options.failedAccessToken && !options.force
				? { kind: 'failed-token', failedAccessToken: options.failedAccessToken }
				: { kind: 'forced' };
		requireTokenClient(this.parts.client); // a misconfigured client is named before the connection is compared with it
		return (await this.refreshPath.refreshIfNeeded(connectionId, request)).result;
	}

	/** What a call to the provider's API needs to know of the app's preset: its API base, bearer token types and "token not valid" answer. */
	apiSettings(): Pick<OAuthClient, 'apiBaseUrl' | 'apiTokenInvalid' | 'bearerTokenTypes'> {
		const { apiBaseUrl, apiTokenInvalid, bearerTokenTypes } = this.parts.client;
		return { apiBaseUrl, apiTokenInvalid, bearerTokenTypes };
	}

	/** Refreshes every due connection of the client's provider (keep-alive/sweep.ts); one outcome each, never a token. */
	keepAlive(options: KeepAliveOptions): Promise<KeepAliveOutcome[]> {
		return keepAlive(this.parts, this.refreshPath, options);
	}

	/** Revokes at the provider where it can, then erases the tokens (revoke.ts). */
	revoke(connectionId: string, options: { atProvider?: boolean } = {}): Promise<RevokeResult> {
		return revoke(this.parts, connectionId, options);
	}
}

function minValidityMsOf(seconds: number | undefined): number {
	const value = seconds ?? DEFAULT_MIN_VALIDITY_SECONDS;
	if (!Number.isFinite(value) || value < 0) {
		throw new InvalidInputError('minValiditySeconds', 'must be a number of seconds, 0 or more');
	}
	return value * 1000;
}
