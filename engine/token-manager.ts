/*
 * The operations: Build Authorization URL, Exchange Authorization Code, Connect Client Credentials, Get Valid Token,
 * Refresh Token, Keep Alive, Revoke.
 * When to refresh is decided by refresh/policy.ts; refresh/coordinator.ts makes one refresh out of many callers
 * (single flight in this process, the store's lease across processes: refresh/lease.ts) and keeps new tokens the
 * store refused until they are written.
 */
import {
	buildAuthorizationUrl,
	consumeState,
	DEFAULT_STATE_TTL_SECONDS,
	deleteConsumedStates,
	providerErrorFromCallback,
	RESERVED_PREFIX,
	StateCodec,
} from './authorization';
import type { TokenCipher, TokenField } from './crypto';
import {
	AppMismatchError,
	ConnectionNotFoundError,
	ConnectionRevokedError,
	DecryptionError,
	InvalidInputError,
	InvalidStateError,
	MissingInputError,
	NeedsReauthorizationError,
	ProviderFailingError,
	TokenEndpointError,
	TokenManagerError,
} from './errors';
import {
	AuthorizationServerClient,
	isTransientFailure,
	refreshTokenOfRefusedAnswer,
	type Grant,
	type IssuedTokens,
	type RequestPolicy,
	type TokenTypeHint,
} from './oauth';
import { connectionIdFromAnswer, requireDerivableConnectionId, requireOwnDerivedConnection } from './derived-connection-id';
import { dueConnections } from './keep-alive/due';
import { appFingerprint, checkExtraParameters, describeClientApp, describeStoredApp, sameApp, type OAuthClient } from './presets';
import { processRefreshRegistry, RefreshCoordinator, type RefreshRegistry } from './refresh/coordinator';
import { DatabaseClock } from './refresh/database-clock';
import { cooldownOf, failureRecord, type ProviderCooldown } from './refresh/failures';
import { leaseSettings } from './refresh/lease';
import { effectiveMinValidityMs, shouldRefresh, tokenUsable, type RefreshDecision, type RefreshRequest } from './refresh/policy';
import type { TokenStore } from './store';
import { byteOrder, NO_FAILURES, reportedStatus, type Connection, type ConnectionFields, type GrantType, type ReportedStatus, type StoredConnection } from './types';
import { requireSecureUrl } from './urls';
import { writeFromLatest } from './versioned-write';

export type { ProviderCooldown } from './refresh/failures';
export { DEFAULT_LEASE_TTL_MS } from './refresh/lease';
export { COOLDOWN_BASE_MS, COOLDOWN_MAX_MS, cooldownMs, MIN_VALIDITY_LIFETIME_SHARE } from './refresh/policy';

/** Sends a grant to the token endpoint; `deadline` (epoch ms) bounds every attempt and retry, response body included. */
export type TokenEndpoint = (grant: Grant, limits: { deadline?: number }) => Promise<IssuedTokens>;

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
	 * How long transient refresh failures (unreachable, 5xx, 429) may go on before the connection reports status
	 * `failing`, counted from the first of them (default 15 min).
	 */
	failingAfterMs?: number;
}

export interface TokenResult {
	connection: Connection;
	/** Whether a refresh happened for this call (by this caller or one it waited for). */
	refreshed: boolean;
	/**
	 * True for the one call whose refresh succeeded after transient failures (the connection has recovered), so that
	 * a workflow can say so once; false for every other call, including those that joined that refresh.
	 */
	recovered: boolean;
}

export interface ValidTokenResult extends TokenResult {
	/**
	 * The Minimum Validity applied to the returned token, in whole seconds, and whether it was capped below the one asked
	 * for. In a cooldown it is relaxed to what the token has left: capped.
	 */
	minValidity: { effectiveSeconds: number; capped: boolean };
	/**
	 * Set when the token needed a refresh but the provider is failing: the stored token, still valid but for less than
	 * the Minimum Validity, was returned without calling the provider. Null otherwise.
	 */
	cooldown: ProviderCooldown | null;
}

/** Connect Client Credentials (RFC 6749 §4.4): what the token request asks for, on connecting and on every renewal. */
export interface ClientCredentialsParams {
	/** Default: the client's scopes. */
	scopes?: string[];
	/** Further form parameters of the token request (e.g. audience, resource). Not secret: they are stored with the connection. */
	extraParameters?: Record<string, string>;
}

export interface KeepAliveOptions {
	/** Refresh every connection whose access token expires within this many seconds (0 or more). */
	expiresWithinSeconds: number;
	/**
	 * And every one last refreshed (never refreshed: created) more than this many days ago (more than 0; Pipedrive's
	 * refresh tokens die after 60 days unused).
	 */
	idleAfterDays: number;
	/** Refreshes at once (1 to MAX_KEEP_ALIVE_CONCURRENCY, default 4). */
	concurrency?: number;
	/** Touch at most this many connections (1 or more), starting after the last one the previous limited run touched; default all that are due. */
	maxConnections?: number;
}

export type KeepAliveOutcomeKind = 'refreshed' | 'skipped_fresh' | 'cooldown' | 'needs_reauth' | 'revoked' | 'failed';

/** What Keep Alive did to one connection. Never carries a token. */
export interface KeepAliveOutcome {
	connectionId: string;
	/**
	 * refreshed: new tokens obtained by this sweep. skipped_fresh: no longer due when re-checked under the lease (another
	 * process refreshed it). cooldown: the provider is failing and its next attempt time has not come: not asked.
	 * needs_reauth / revoked: the account must be authorized again. failed: this attempt failed (see error).
	 */
	outcome: KeepAliveOutcomeKind;
	status: ReportedStatus;
	expiresAt: Date | null;
	/** Present (true) when this refresh was the first success after transient failures. */
	recovered?: true;
	/** For cooldown: when the provider is asked again. */
	nextAttemptAt?: Date;
	/** For failed, cooldown and needs_reauth: what went wrong (engine error code and message, secrets redacted). */
	error?: { code: string; message: string };
	/** For needs_reauth: a fresh authorization link for the account owner, when the client allows one. */
	reauthorizationUrl?: string;
}

export interface AuthorizationStart {
	connectionId: string;
	authorizationUrl: string;
	state: string;
	expiresAt: Date;
	pkce: boolean;
}

export interface ExchangeParams {
	code: string;
	redirectUri?: string;
	/** The callback's `state`; required unless `allowMissingState`. */
	state?: string;
	/** Pipedrive Marketplace installs arrive without state: only then may this be turned on. */
	allowMissingState?: boolean;
	/** A verifier the caller kept itself; normally it comes from the state. */
	codeVerifier?: string;
	/** The callback's `error` / `error_description` (e.g. access_denied). */
	providerError?: string;
	providerErrorDescription?: string;
	/** The callback's query: the fields the client keeps (e.g. Intuit's realmId) are stored with the connection. */
	callbackFields?: Record<string, unknown>;
}

export interface RevokeResult {
	connection: Connection;
	/** Which token the provider was asked to revoke, or null when it was not asked. */
	revokedAtProvider: TokenTypeHint | null;
}

export const DEFAULT_MIN_VALIDITY_SECONDS = 300;
export const DEFAULT_REAUTHORIZATION_LINK_TTL_SECONDS = 86_400;
/**
 * Taken off every expires_at, which counts from when the token request was sent: providers round their
 * issue time down to whole seconds, so a token may end up to a second before "sent + expires_in".
 */
export const EXPIRY_MARGIN_MS = 2_000;
/** Why a connection needs re-authorization: one text, whichever process finds out or reads it later. */
const REFRESH_TOKEN_REJECTED = 'the provider rejected its refresh token (invalid_grant)';
const NO_REFRESH_TOKEN = 'no refresh token is stored for it';
export const DEFAULT_FAILING_AFTER_MS = 900_000;
export const DEFAULT_KEEP_ALIVE_CONCURRENCY = 4;
export const MAX_KEEP_ALIVE_CONCURRENCY = 50;
/**
 * A client-credentials connection keeps what its token request asks for in its metadata, under this prefix
 * (e.g. "request.scope"), so every renewal asks for the same.
 */
export const REQUEST_PARAMETER_PREFIX = 'request.';
const MAX_CONNECTION_ID_LENGTH = 255;
const MAX_CODE_LENGTH = 8192;
const MAX_CALLBACK_FIELD_LENGTH = 1024;

export function validateConnectionId(connectionId: unknown): string {
	if (typeof connectionId !== 'string' || connectionId.trim() === '') {
		throw new MissingInputError('connectionId');
	}
	if (connectionId.length > MAX_CONNECTION_ID_LENGTH) {
		throw new InvalidInputError('connectionId', `is ${connectionId.length} characters long; the maximum is ${MAX_CONNECTION_ID_LENGTH}`);
	}
	if (/[\u0000-\u001f\u007f]/.test(connectionId)) {
		throw new InvalidInputError('connectionId', 'contains control characters (such as a line break): remove them');
	}
	if (connectionId.startsWith(RESERVED_PREFIX)) {
		throw new InvalidInputError('connectionId', `starts with "${RESERVED_PREFIX}", which is reserved for the token manager's own records: choose another`);
	}
	return connectionId;
}

export class TokenManager {
	private readonly store: TokenStore;
	private readonly cipher: TokenCipher;
	private readonly client: OAuthClient;
	/** Which app this manager's client is (appFingerprint): written with every token it obtains, checked before use. */
	private readonly fingerprint: string;
	private readonly oauth: AuthorizationServerClient;
	private readonly tokenEndpoint: TokenEndpoint;
	private readonly clock: () => number;
	private readonly databaseClock: () => Promise<number>;
	/** Single flight, the lease, and writes the store refused. */
	private readonly coordinator: RefreshCoordinator;
	private stateCodec: StateCodec | undefined;
	private readonly reauthorizationLinkTtlSeconds: number;
	private readonly failingAfterMs: number;

	constructor(options: TokenManagerOptions) {
		this.store = options.store;
		this.cipher = options.cipher;
		this.client = options.client;
		this.fingerprint = appFingerprint(options.client);
		this.oauth = new AuthorizationServerClient(options.client, options.endpoint);
		this.tokenEndpoint = options.tokenEndpoint ?? ((grant, limits) => this.oauth.requestToken(grant, limits));
		this.clock = options.clock ?? Date.now;
		const storeClock = new DatabaseClock(this.store, this.clock);
		this.databaseClock = options.databaseClock ?? (() => storeClock.now());
		this.coordinator = new RefreshCoordinator({
			store: this.store,
			appFingerprint: this.fingerprint,
			registry: options.refreshRegistry ?? processRefreshRegistry,
			lease: leaseSettings({
				ttlMs: options.leaseTtlMs,
				refreshDeadlineMs: options.refreshDeadlineMs,
				waitMs: options.leaseWaitMs,
				pollIntervalMs: options.pollIntervalMs,
			}),
			saveRetries: options.saveRetries ?? 3,
			refreshTokenOf: (row) => this.refreshTokenOf(row),
		});
		this.reauthorizationLinkTtlSeconds = options.reauthorizationLinkTtlSeconds ?? DEFAULT_REAUTHORIZATION_LINK_TTL_SECONDS;
		this.failingAfterMs = options.failingAfterMs ?? DEFAULT_FAILING_AFTER_MS;
		if (!Number.isFinite(this.failingAfterMs) || this.failingAfterMs < 0) {
			throw new RangeError(`The failing period (${this.failingAfterMs} ms) must be 0 or more`);
		}
	}

	/** Only the authorization operations need state keys; Get Valid Token never derives them. States are bound to this store. */
	private async states(): Promise<StateCodec> {
		const storeIdentity = await this.store.identity();
		this.stateCodec ??= new StateCodec(this.cipher, storeIdentity);
		return this.stateCodec;
	}

	/**
	 * RFC 6749 §4.1.1: the provider's authorize URL for this connection, with a signed, expiring, single-use
	 * state and, where the provider supports it, PKCE S256 (the verifier travels only encrypted, inside the state).
	 * Nothing is written: the state itself carries what the callback needs, and only this store accepts it.
	 */
	async buildAuthorizationUrl(
		connectionId: string,
		options: { expiresInSeconds?: number; extraParameters?: Record<string, string> } = {},
	): Promise<AuthorizationStart> {
		validateConnectionId(connectionId);
		const issued = (await this.states()).issue(connectionId, { ttlSeconds: options.expiresInSeconds ?? DEFAULT_STATE_TTL_SECONDS, pkce: this.client.pkce });
		const authorizationUrl = buildAuthorizationUrl(this.client, issued, options.extraParameters);
		return { connectionId, authorizationUrl, state: issued.state, expiresAt: issued.expiresAt, pkce: issued.codeChallenge !== null };
	}

	/**
	 * Build Authorization URL for an account owner about to consent: first checks what Exchange Authorization Code
	 * will need (a complete client and a store that opens and answers, its table created if it may be), so that
	 * nobody consents into a connection that cannot be saved; then builds the URL.
	 */
	async startAuthorization(connectionId: string, options: { expiresInSeconds?: number; extraParameters?: Record<string, string> } = {}): Promise<AuthorizationStart> {
		const start = await this.buildAuthorizationUrl(connectionId, options);
		this.requireTokenUrl();
		if (!this.client.clientId) throw new MissingInputError('clientId');
		if (!this.client.clientSecret) throw new MissingInputError('clientSecret');
		await this.store.get(connectionId);
		return start;
	}

	/**
	 * RFC 6749 §4.1.3: trades an authorization code for tokens and stores them (a re-authorization replaces them).
	 * A null connection id is derived from the provider's answer (the client's connectionIdFrom): only for a callback
	 * without state, with allowMissingState, as marketplace installs arrive.
	 */
	async exchangeAuthorizationCode(connectionId: string | null, params: ExchangeParams): Promise<TokenResult> {
		const state = typeof params.state === 'string' ? params.state.trim() : '';
		if (connectionId === null) requireDerivableConnectionId(this.client, state, params.allowMissingState === true);
		else validateConnectionId(connectionId);
		const denied = providerErrorFromCallback(params.providerError, params.providerErrorDescription);
		if (denied) throw denied;
		if (typeof params.code !== 'string' || params.code.trim() === '') {
			throw new MissingInputError('code');
		}
		if (params.code.length > MAX_CODE_LENGTH) {
			throw new InvalidInputError('code', `is ${params.code.length} characters long; the maximum is ${MAX_CODE_LENGTH}`);
		}
		const redirectUri = params.redirectUri || this.client.redirectUri;
		if (!redirectUri) {
			throw new MissingInputError('redirectUri');
		}
		this.requireTokenUrl();
		const keptCallbackFields = this.keptCallbackFields(params.callbackFields ?? {});
		let codeVerifier = params.codeVerifier || null;
		if (state && connectionId !== null) {
			// RFC 6749 §10.12: the state proves this n8n started the authorization, for this connection, recently, once.
			const verified = (await this.states()).verify(state, connectionId);
			await consumeState(this.store, verified);
			codeVerifier = verified.codeVerifier ?? codeVerifier;
		} else if (!params.allowMissingState) {
			throw new InvalidStateError(
				'missing',
				'The callback has no state, so it cannot be tied to an authorization this token manager started',
				'Start the authorization with an authorization URL the token manager built (it adds a signed state). Only for installs that arrive without state (Pipedrive Marketplace), allow a missing state.',
			);
		}
		const grant: Grant = { grant_type: 'authorization_code', code: params.code, redirect_uri: redirectUri };
		if (codeVerifier) grant.code_verifier = codeVerifier;
		const response = await this.tokenEndpoint(grant, {});
		const id = connectionId ?? validateConnectionId(connectionIdFromAnswer(this.client, response));
		const claim = connectionId === null ? (existing: StoredConnection | null) => requireOwnDerivedConnection(this.client, this.fingerprint, existing) : undefined;
		const saved = await this.saveGrant(id, response, 'authorization_code', claim, (existing) => {
			// RFC 6749 §5.1 makes refresh_token optional in a code response: on a re-authorization through the same
			// app, the stored refresh token stays valid, and so do kept fields the response leaves out.
			const previous = existing && (!existing.appFingerprint || sameApp(existing.appFingerprint, this.fingerprint)) ? existing : null;
			const metadata = { ...previous?.metadata, ...keptCallbackFields };
			return this.tokenFields(id, response, previous && this.readableRefreshToken(previous), metadata);
		});
		await this.coordinator.forgetRefused(id);
		return saved;
	}

	/**
	 * RFC 6749 §4.4: a connection of the client itself, without a user: requests a token with the client's credentials
	 * (authenticated as the client is configured) and stores it, replacing whatever the connection id held. Get Valid
	 * Token and Refresh Token then request a new one, with the same scopes and parameters, whenever it is stale.
	 */
	async connectClientCredentials(connectionId: string, params: ClientCredentialsParams = {}): Promise<TokenResult> {
		validateConnectionId(connectionId);
		this.requireTokenUrl();
		if (!this.client.clientId) throw new MissingInputError('clientId');
		if (!this.client.clientSecret) throw new MissingInputError('clientSecret');
		const requestMetadata = this.clientCredentialsRequest(params);
		const response = await this.tokenEndpoint(clientCredentialsGrant(requestMetadata), {});
		await this.coordinator.forgetRefused(connectionId);
		// RFC 6749 §4.4.3: a refresh token should not be issued here; one that is is not used.
		return this.saveGrant(connectionId, response, 'client_credentials', undefined, () => ({
			...this.tokenFields(connectionId, response, null, requestMetadata),
			refreshToken: null,
		}));
	}

	/**
	 * Stores a new grant (a code exchange, a client-credentials token) over whatever the connection id held: fresh
	 * bookkeeping, this app's fingerprint, and the token fields `tokens` builds from the row it replaces. `claim` may
	 * refuse to replace that row (checked on the very version written).
	 */
	private async saveGrant(
		connectionId: string,
		response: IssuedTokens,
		grantType: GrantType,
		claim: ((existing: StoredConnection | null) => void) | undefined,
		tokens: (existing: StoredConnection | null) => ReturnType<TokenManager['tokenFields']>,
	): Promise<TokenResult> {
		const fields = (existing: StoredConnection | null): ConnectionFields => ({
			provider: this.client.id,
			...tokens(existing),
			status: 'active',
			lastRefreshedAt: null,
			refreshCount: 0,
			lastError: response.warning,
			appFingerprint: this.fingerprint,
			tokenIssuedAt: response.requestedAt,
			grantType,
			...NO_FAILURES,
		});
		const saved = await writeFromLatest(this.store, connectionId, (existing) => {
			claim?.(existing);
			return existing ? this.store.update(connectionId, existing.version, fields(existing)) : this.store.insert({ connectionId, ...fields(null) });
		});
		return { connection: this.decrypt(saved), refreshed: false, recovered: false };
	}

	/** The callback fields the client keeps: texts (or numbers) of a sensible length, without control characters. */
	private keptCallbackFields(callback: Record<string, unknown>): Record<string, string> {
		const kept: Record<string, string> = {};
		for (const name of this.client.keepCallbackFields) {
			const value = callback[name];
			if (value === undefined || value === null || value === '') continue;
			if ((typeof value !== 'string' && typeof value !== 'number') || String(value).length > MAX_CALLBACK_FIELD_LENGTH || /[\u0000-\u001f\u007f]/.test(String(value))) {
				throw new InvalidInputError('callbackFields', `has an unusable "${name}": a text of at most ${MAX_CALLBACK_FIELD_LENGTH} characters without control characters is kept`);
			}
			kept[name] = String(value);
		}
		return kept;
	}

	/**
	 * Returns a token valid for at least `minValiditySeconds`, refreshing first when needed. While the provider is
	 * failing (cooldown) it is not called: the stored token is returned while it has not expired (`cooldown` says so),
	 * else a ProviderFailingError.
	 */
	async getValidToken(connectionId: string, options: { minValiditySeconds?: number } = {}): Promise<ValidTokenResult> {
		validateConnectionId(connectionId);
		const minValidityMs = this.minValidityMs(options.minValiditySeconds);
		const { result, cooldown } = await this.refreshIfNeeded(connectionId, { kind: 'min-validity', minValidityMs });
		if (cooldown) {
			const leftMs = result.connection.expiresAt ? result.connection.expiresAt.getTime() - this.clock() : minValidityMs;
			return { ...result, cooldown, minValidity: { effectiveSeconds: Math.max(0, Math.floor(leftMs / 1000)), capped: true } };
		}
		const effectiveMs = effectiveMinValidityMs(result.connection, minValidityMs);
		return { ...result, cooldown: null, minValidity: { effectiveSeconds: Math.floor(effectiveMs / 1000), capped: effectiveMs < minValidityMs } };
	}

	/**
	 * Refreshes the connection. With `failedAccessToken` (the token an API just refused) it refreshes only
	 * if the stored token is still that one: a caller that lost the race gets the winner's token.
	 * Otherwise, or with `force`, it refreshes unless another refresh completed after this call began.
	 * While the provider is failing (cooldown), even a forced refresh does not call it: ProviderFailingError. Its caller
	 * wants another token than the stored one, and asking a failing provider before its next attempt time would only
	 * add load to it (every execution of a workflow would).
	 */
	async refreshToken(connectionId: string, options: { failedAccessToken?: string; force?: boolean } = {}): Promise<TokenResult> {
		validateConnectionId(connectionId);
		this.requireTokenUrl(); // a misconfigured client is named before the connection is compared with it
		const request: RefreshRequest =
			options.failedAccessToken && !options.force ? { kind: 'failed-token', failedAccessToken: options.failedAccessToken } : { kind: 'forced' };
		return (await this.refreshIfNeeded(connectionId, request)).result;
	}

	/**
	 * Keep Alive: refreshes every connection of this client's provider whose access token expires within the window,
	 * or that was last refreshed (never refreshed: created) longer ago than the idle period, each under its lease (the
	 * decision is taken again under it, so a connection another process refreshed meanwhile is not refreshed twice), at
	 * most `concurrency` at once. Connections of another app are left alone and not reported, those in their cooldown
	 * too; a run limited by `maxConnections` carries on where the previous one stopped (keep-alive/due.ts). One outcome
	 * per connection touched, in connection id order; one connection's failure never stops the sweep.
	 */
	async keepAlive(options: KeepAliveOptions): Promise<KeepAliveOutcome[]> {
		const { expiresWithinSeconds, idleAfterDays } = options;
		if (typeof expiresWithinSeconds !== 'number' || !Number.isFinite(expiresWithinSeconds) || expiresWithinSeconds < 0) {
			throw new InvalidInputError('expiresWithinSeconds', 'must be a number of seconds, 0 or more');
		}
		if (typeof idleAfterDays !== 'number' || !Number.isFinite(idleAfterDays) || idleAfterDays <= 0) {
			throw new InvalidInputError('idleAfterDays', 'must be a number of days, more than 0');
		}
		const concurrency = options.concurrency ?? DEFAULT_KEEP_ALIVE_CONCURRENCY;
		if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > MAX_KEEP_ALIVE_CONCURRENCY) {
			throw new InvalidInputError('concurrency', `must be a whole number from 1 to ${MAX_KEEP_ALIVE_CONCURRENCY}`);
		}
		const { maxConnections } = options;
		if (maxConnections !== undefined && (!Number.isInteger(maxConnections) || maxConnections < 1)) {
			throw new InvalidInputError('maxConnections', 'must be a whole number, 1 or more');
		}
		this.requireTokenUrl();
		const now = this.clock();
		const request = { kind: 'keep-alive', expiresBefore: now + expiresWithinSeconds * 1000, idleBefore: now - idleAfterDays * 86_400_000 } as const;
		const due = dueConnections({
			store: this.store,
			provider: this.client.id,
			app: this.fingerprint,
			due: { expiresBefore: new Date(request.expiresBefore), idleBefore: new Date(request.idleBefore) },
			max: maxConnections,
		});
		const outcomes: KeepAliveOutcome[] = [];
		const worker = async () => {
			// An async generator hands out one row per next(), in turn, however many workers ask.
			for (let next = await due.next(); !next.done; next = await due.next()) {
				const outcome = await this.keepAliveOne(next.value, request);
				if (outcome) outcomes.push(outcome);
			}
		};
		await Promise.all(Array.from({ length: concurrency }, worker));
		return outcomes.sort((a, b) => byteOrder(a.connectionId, b.connectionId));
	}

	/**
	 * Revoke / Disconnect: RFC 7009 revocation of the refresh token (else the access token) where the provider
	 * has a revocation URL, then status revoked, both tokens erased and its used-state record deleted. If the provider
	 * refuses or cannot be reached, nothing is erased (the error says so). Holds the refresh lease so no refresh races it.
	 */
	async revoke(connectionId: string, options: { atProvider?: boolean } = {}): Promise<RevokeResult> {
		validateConnectionId(connectionId);
		const atProvider = options.atProvider !== false;
		await this.coordinator.writeRefused(connectionId);
		// Revoking at the provider sends the connection's token with this app's client credentials.
		const callsProvider = atProvider && Boolean(this.client.revocationUrl);
		const mustExist = async (): Promise<StoredConnection> => {
			const row = await this.store.get(connectionId);
			if (!row) throw new ConnectionNotFoundError(connectionId, this.store.description);
			if (callsProvider) this.requireSameApp(row);
			return row;
		};
		await mustExist();
		return this.coordinator.underLease(
			connectionId,
			async () => void (await mustExist()),
			async () => {
				const row = await mustExist();
				const current = this.decrypt(row);
				let revokedAtProvider: TokenTypeHint | null = null;
				const token = current.refreshToken ?? current.accessToken;
				if (atProvider && this.client.revocationUrl && token) {
					revokedAtProvider = current.refreshToken ? 'refresh_token' : 'access_token';
					await this.oauth.revokeToken(token, revokedAtProvider);
				}
				const fields: Partial<ConnectionFields> = { status: 'revoked', accessToken: null, refreshToken: null, expiresAt: null, lastError: null };
				const revoked = await writeFromLatest(
					this.store,
					connectionId,
					(latest) => {
						if (!latest) throw new ConnectionNotFoundError(connectionId, this.store.description);
						return this.store.update(connectionId, latest.version, fields);
					},
					row,
				);
				await this.coordinator.forgetRefused(connectionId);
				// The connection is revoked already; a used-state record left behind by a failed delete is purged once it expires.
				await deleteConsumedStates(this.store, connectionId).catch(() => undefined);
				return { connection: this.decrypt(revoked), revokedAtProvider };
			},
		);
	}

	/**
	 * Get Valid Token, Refresh Token and Keep Alive: the refresh policy decides on this call's first read, and again on
	 * each later read while the coordinator waits for the lease, so that one refresh serves every caller that needed it.
	 * `listed` is the row as Keep Alive listed it, which spares the first read. `tokenRequested` tells whether this call
	 * itself asked the provider.
	 */
	private async refreshIfNeeded(
		connectionId: string,
		request: RefreshRequest,
		listed?: StoredConnection,
	): Promise<{ result: TokenResult; cooldown: ProviderCooldown | null; tokenRequested: boolean }> {
		const wroteKept = await this.coordinator.writeRefused(connectionId);
		const current = listed && !wroteKept ? await this.usable(connectionId, listed) : await this.readUsable(connectionId);
		const decide = async (c: Connection) =>
			shouldRefresh(c, request, { now: this.clock(), databaseNow: await this.databaseNowFor(c), seenRefreshCount: current.refreshCount });
		const first = await decide(current);
		if (!first.should) return { ...(await this.settled(current, request, first)), tokenRequested: false };
		this.requireTokenUrl();
		let tokenRequested = false;
		let result: TokenResult;
		try {
			result = await this.coordinator.refresh(current, {
				read: () => this.readUsable(connectionId),
				stillNeeded: async (c) => (await decide(c)).should,
				refresh: (leased, deadline) => {
					tokenRequested = true;
					return this.refreshWithProvider(leased, deadline);
				},
			});
		} catch (error) {
			// The provider just failed transiently: this call is in the cooldown it started, and is served as every call in it is.
			if (request.kind !== 'min-validity' || !isTransientFailure(error)) throw error;
			const latest = await this.readUsable(connectionId);
			const cooldown = cooldownOf(latest, await this.databaseNowFor(latest));
			if (!cooldown || !tokenUsable(latest, this.clock())) throw error;
			return { result: { connection: latest, refreshed: false, recovered: false }, cooldown, tokenRequested };
		}
		return { ...(await this.settled(result.connection, request, await decide(result.connection), result)), tokenRequested };
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
	): Promise<{ result: TokenResult; cooldown: ProviderCooldown | null }> {
		if (decision.reason !== 'cooldown') return { result, cooldown: null };
		const cooldown = cooldownOf(connection, await this.databaseNowFor(connection))!;
		const servedAsIs = request.kind === 'keep-alive' || (request.kind === 'min-validity' && tokenUsable(connection, this.clock()));
		if (!servedAsIs) throw new ProviderFailingError(connection.connectionId, cooldown.nextAttemptAt, cooldown.failureCount, cooldown.lastError);
		return { result, cooldown };
	}

	/** Runs under the lease. `deadline` (epoch ms) bounds the whole exchange with the provider; it falls inside the lease. */
	private async refreshWithProvider(leased: Connection, deadline: number): Promise<Connection> {
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
			await this.store.update(connectionId, leased.version, { ...this.reencrypted(leased), status: 'needs_reauth', lastError: NO_REFRESH_TOKEN, ...NO_FAILURES });
			throw await this.needsReauth(connectionId, NO_REFRESH_TOKEN);
		}
		let response: IssuedTokens;
		try {
			const grant: Grant = refreshToken === null ? clientCredentialsGrant(leased.metadata) : { grant_type: 'refresh_token', refresh_token: refreshToken };
			response = await this.tokenEndpoint(grant, { deadline });
		} catch (error) {
			// A client-credentials grant has no refresh token to reject: invalid_grant there is the client's problem, like invalid_client.
			if (!clientCredentials && error instanceof TokenEndpointError && error.error === 'invalid_grant') {
				return this.refreshTokenRejected(leased);
			}
			const rotated = clientCredentials ? null : refreshTokenOfRefusedAnswer(error);
			if (rotated !== null) {
				// The answer was refused, but the provider may have retired the old refresh token: the new one must be kept.
				await this.coordinator.saveRefreshed(leased, { ...this.reencrypted({ ...leased, refreshToken: rotated }), lastError: failureMessage(error) });
				throw error;
			}
			throw await this.recordFailure(leased, error);
		}
		const saved = await this.coordinator.saveRefreshed(leased, {
			...this.tokenFields(connectionId, response, clientCredentials ? null : leased.refreshToken, leased.metadata),
			...(clientCredentials ? { refreshToken: null } : {}),
			status: 'active',
			lastRefreshedAt: new Date(this.clock()),
			refreshCount: leased.refreshCount + 1,
			lastError: response.warning,
			appFingerprint: this.fingerprint,
			tokenIssuedAt: response.requestedAt,
			...NO_FAILURES,
		});
		// A write that lost to a newer grant returns that grant's row, which may come from another app.
		this.requireSameApp(saved);
		return this.decrypt(saved);
	}

	/** Counts and dates a failed refresh under the lease (failures.ts); returns the error for the caller to throw. */
	private async recordFailure(leased: Connection, error: unknown): Promise<unknown> {
		const failure = failureRecord(leased, { transient: isTransientFailure(error), databaseNow: await this.databaseClock(), failingAfterMs: this.failingAfterMs });
		await this.store.update(leased.connectionId, leased.version, { ...this.reencryptedIfReadable(leased), lastError: failureMessage(error), ...failure }).catch(() => undefined);
		return error;
	}

	/**
	 * The provider refused the refresh token we sent. It marks the connection only while that token is still
	 * the stored one: if another process has stored a newer one meanwhile (its refresh won), that one is used.
	 */
	private refreshTokenRejected(leased: Connection): Promise<Connection> {
		const { connectionId } = leased;
		return writeFromLatest(this.store, connectionId, async (row) => {
			if (!row || this.refreshTokenOf(row) !== leased.refreshToken || row.status !== 'active') return this.usable(connectionId, row);
			await this.store.update(connectionId, row.version, {
				...this.reencrypted(this.decrypt(row)),
				status: 'needs_reauth',
				lastError: REFRESH_TOKEN_REJECTED,
				...NO_FAILURES,
			});
			throw await this.needsReauth(connectionId, REFRESH_TOKEN_REJECTED);
		});
	}

	/** Validates Connect Client Credentials' parameters into the metadata that keeps them for renewals. */
	private clientCredentialsRequest(params: ClientCredentialsParams): Record<string, string> {
		const scopes = params.scopes ?? this.client.scopes;
		if (!Array.isArray(scopes) || scopes.some((scope) => typeof scope !== 'string' || /\s/.test(scope.trim()) )) {
			throw new InvalidInputError('scopes', 'must be a list of scopes, each without spaces');
		}
		const request: Record<string, string> = {};
		const scope = scopes.map((value) => value.trim()).filter(Boolean).join(this.client.scopeSeparator || ' ');
		if (scope) request[`${REQUEST_PARAMETER_PREFIX}scope`] = scope;
		const extra = checkExtraParameters('extraParameters', params.extraParameters ?? {});
		if ('scope' in extra) throw new InvalidInputError('extraParameters', 'cannot set "scope": the token manager sets it itself (use scopes)');
		for (const [name, value] of Object.entries(extra)) request[`${REQUEST_PARAMETER_PREFIX}${name}`] = value;
		return request;
	}

	/** One Keep Alive row: its outcome, or null when it is no longer this app's or no longer exists. */
	private async keepAliveOne(row: StoredConnection, request: RefreshRequest): Promise<KeepAliveOutcome | null> {
		const { connectionId } = row;
		const report = (connection: Pick<StoredConnection, 'status' | 'failingSince' | 'expiresAt'>, outcome: KeepAliveOutcomeKind): KeepAliveOutcome => ({
			connectionId,
			outcome,
			status: reportedStatus(connection),
			expiresAt: connection.expiresAt,
		});
		try {
			const { result, cooldown, tokenRequested } = await this.refreshIfNeeded(connectionId, request, row);
			if (cooldown) {
				return { ...report(result.connection, 'cooldown'), nextAttemptAt: cooldown.nextAttemptAt, error: providerFailing(connectionId, cooldown) };
			}
			// Refreshed by a refresh this call joined or waited for: another caller's work, not this sweep's.
			if (!tokenRequested) return report(result.connection, 'skipped_fresh');
			return { ...report(result.connection, 'refreshed'), ...(result.recovered ? { recovered: true as const } : {}) };
		} catch (error) {
			if (error instanceof AppMismatchError || error instanceof ConnectionNotFoundError) return null;
			const latest = (await this.store.get(connectionId).catch(() => null)) ?? row;
			const described = { code: error instanceof TokenManagerError ? error.code : 'unexpected_error', message: describeError(error) };
			if (error instanceof NeedsReauthorizationError) {
				return { ...report({ ...latest, status: 'needs_reauth' }, 'needs_reauth'), error: described, ...(error.reauthorizationUrl ? { reauthorizationUrl: error.reauthorizationUrl } : {}) };
			}
			if (error instanceof ConnectionRevokedError) return report({ ...latest, status: 'revoked' }, 'revoked');
			if (error instanceof ProviderFailingError) return { ...report(latest, 'cooldown'), nextAttemptAt: error.nextAttemptAt, error: described };
			return { ...report(latest, 'failed'), error: described };
		}
	}

	private minValidityMs(seconds: number | undefined): number {
		const value = seconds ?? DEFAULT_MIN_VALIDITY_SECONDS;
		if (!Number.isFinite(value) || value < 0) {
			throw new InvalidInputError('minValiditySeconds', 'must be a number of seconds, 0 or more');
		}
		return value * 1000;
	}

	private requireTokenUrl(): void {
		if (!this.client.tokenUrl) {
			throw new MissingInputError('tokenUrl');
		}
		requireSecureUrl('tokenUrl', this.client.tokenUrl);
	}

	/**
	 * A connection is used only through the app that authorized it: its refresh token works only with that client
	 * and its access token was granted to that app. Rows from before fingerprints existed adopt the first app that
	 * refreshes them.
	 */
	private requireSameApp(row: Pick<StoredConnection, 'connectionId' | 'appFingerprint'>): void {
		if (row.appFingerprint && !sameApp(row.appFingerprint, this.fingerprint)) {
			throw new AppMismatchError(row.connectionId, describeStoredApp(row.appFingerprint), describeClientApp(this.client));
		}
	}

	private async readUsable(connectionId: string): Promise<Connection> {
		return this.usable(connectionId, await this.store.get(connectionId));
	}

	private async usable(connectionId: string, row: StoredConnection | null): Promise<Connection> {
		if (!row) throw new ConnectionNotFoundError(connectionId, this.store.description);
		this.requireSameApp(row);
		// last_error holds the reason the process that marked the connection gave: every process says the same.
		if (row.status === 'needs_reauth') throw await this.needsReauth(connectionId, row.lastError ?? REFRESH_TOKEN_REJECTED);
		if (row.status === 'revoked') throw new ConnectionRevokedError(connectionId);
		return this.decrypt(row);
	}

	private tokenFields(
		connectionId: string,
		response: IssuedTokens,
		previousRefreshToken: string | null,
		previousMetadata: Record<string, string>,
	): Pick<ConnectionFields, 'accessToken' | 'refreshToken' | 'tokenType' | 'scope' | 'expiresAt' | 'metadata'> {
		const metadata = { ...previousMetadata };
		for (const name of this.client.keepResponseFields) {
			const value = response.extra[name];
			if (typeof value === 'string' || typeof value === 'number') metadata[name] = String(value);
		}
		// RFC 6749 §6: a new refresh token replaces the old one; without one, the old one stays valid.
		const refreshToken = response.refreshToken ?? previousRefreshToken;
		return {
			accessToken: this.encrypt(response.accessToken, connectionId, 'access_token'),
			refreshToken: refreshToken === null ? null : this.encrypt(refreshToken, connectionId, 'refresh_token'),
			tokenType: response.tokenType,
			scope: response.scope,
			// From when the request was sent: the token cannot have been issued earlier.
			expiresAt: response.expiresIn === null ? null : new Date(response.requestedAt.getTime() + response.expiresIn * 1000 - EXPIRY_MARGIN_MS),
			metadata,
		};
	}

	/**
	 * The NeedsReauthorizationError, with a fresh authorization link when the App credential allows one
	 * (authorization URL and redirect URI set), for an Error Workflow to send to the account owner.
	 */
	private async needsReauth(connectionId: string, reason: string): Promise<NeedsReauthorizationError> {
		let url: string | undefined;
		if (this.reauthorizationLinkTtlSeconds > 0 && this.client.authorizationUrl && this.client.redirectUri) {
			try {
				url = (await this.buildAuthorizationUrl(connectionId, { expiresInSeconds: this.reauthorizationLinkTtlSeconds })).authorizationUrl;
			} catch {
				url = undefined;
			}
		}
		return new NeedsReauthorizationError(connectionId, reason, url);
	}

	/**
	 * Key rotation: every write of a connection carries its tokens encrypted under the current key, so a
	 * row read under an old key is re-encrypted by its next write, whatever that write is for.
	 */
	private reencrypted(c: Connection): Pick<ConnectionFields, 'accessToken' | 'refreshToken'> {
		return {
			accessToken: c.accessToken === null ? null : this.encrypt(c.accessToken, c.connectionId, 'access_token'),
			refreshToken: c.refreshToken === null ? null : this.encrypt(c.refreshToken, c.connectionId, 'refresh_token'),
		};
	}

	/** As reencrypted, leaving out a token no configured key opens: the write then keeps it as it is. */
	private reencryptedIfReadable(c: Connection): Partial<Pick<ConnectionFields, 'accessToken' | 'refreshToken'>> {
		try {
			return this.reencrypted(c);
		} catch (error) {
			if (error instanceof DecryptionError) return {};
			throw error;
		}
	}

	/** The store's time when `c` has a cooldown to compare with it; the process clock, unread, otherwise. */
	private databaseNowFor(c: Pick<StoredConnection, 'nextAttemptAt'>): Promise<number> | number {
		return c.nextAttemptAt === null ? this.clock() : this.databaseClock();
	}

	private refreshTokenOf(row: StoredConnection): string | null {
		return row.refreshToken === null ? null : this.cipher.decrypt(row.refreshToken, row.connectionId, 'refresh_token');
	}

	/** The row's refresh token, or null when there is none or it cannot be decrypted with the configured keys. */
	private readableRefreshToken(row: StoredConnection): string | null {
		try {
			return this.refreshTokenOf(row);
		} catch (error) {
			if (error instanceof DecryptionError) return null;
			throw error;
		}
	}

	private encrypt(value: string, connectionId: string, field: TokenField): string {
		return this.cipher.encrypt(value, connectionId, field);
	}

	/**
	 * The row with its access token decrypted, and its refresh token decrypted on first read: Get Valid Token on a
	 * fresh token never needs it. A refresh token that cannot be decrypted throws its DecryptionError where it is read
	 * (a refresh, a revocation), not on every call that only uses the access token.
	 */
	private decrypt(row: StoredConnection): Connection {
		const open = (value: string | null, field: TokenField) => (value === null ? null : this.cipher.decrypt(value, row.connectionId, field));
		let refreshToken: { value: string | null } | undefined;
		return {
			...row,
			accessToken: open(row.accessToken, 'access_token'),
			get refreshToken() {
				refreshToken ??= { value: open(row.refreshToken, 'refresh_token') };
				return refreshToken.value;
			},
		};
	}
}

function providerFailing(connectionId: string, cooldown: ProviderCooldown): { code: string; message: string } {
	const error = new ProviderFailingError(connectionId, cooldown.nextAttemptAt, cooldown.failureCount, cooldown.lastError);
	return { code: error.code, message: error.message };
}

/** What last_error keeps of a failed refresh: the engine's own message (never a secret), or only that it was unexpected. */
function failureMessage(error: unknown): string {
	return error instanceof TokenManagerError ? error.message : 'Unexpected error during refresh';
}

/** An error for an output: the engine's own message (never a secret), or only the kind of an unexpected one. */
function describeError(error: unknown): string {
	if (error instanceof TokenManagerError) return error.message;
	return `Unexpected ${error instanceof Error ? error.name : 'error'} during refresh`;
}

/** RFC 6749 §4.4.2: the client-credentials grant asking for what a connection's metadata keeps (REQUEST_PARAMETER_PREFIX). */
function clientCredentialsGrant(metadata: Record<string, string>): Grant {
	const grant: Grant = { grant_type: 'client_credentials' };
	for (const [name, value] of Object.entries(metadata)) {
		if (name.startsWith(REQUEST_PARAMETER_PREFIX)) grant[name.slice(REQUEST_PARAMETER_PREFIX.length)] = value;
	}
	return grant;
}
