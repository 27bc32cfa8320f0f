import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
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
	ConnectionExistsError,
	ConnectionNotFoundError,
	ConnectionRevokedError,
	DecryptionError,
	InvalidInputError,
	InvalidStateError,
	LeaseTimeoutError,
	NeedsReauthorizationError,
	StoreError,
	TokenEndpointError,
	TokenManagerError,
	VersionConflictError,
} from './errors';
import { appFingerprint, describeClientApp, describeStoredApp, sameApp, type OAuthClient } from './presets';
import { revokeToken, type TokenTypeHint } from './revocation';
import type { TokenStore } from './store';
import { refreshTokenOfRefusedAnswer, requestToken, type Grant, type IssuedTokens, type TokenEndpointRequest } from './token-endpoint';
import type { Connection, ConnectionFields, StoredConnection } from './types';
import { requireSecureUrl } from './urls';

export interface TokenManagerOptions {
	store: TokenStore;
	cipher: TokenCipher;
	client: OAuthClient;
	/** Token endpoint timeouts and retries. */
	endpoint?: Pick<TokenEndpointRequest, 'timeoutMs' | 'maxRetries' | 'retryBaseDelayMs' | 'maxRetryAfterMs'>;
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
	/** For tests that must act between the provider's answer and the store write. */
	hooks?: { afterTokenResponse?: (connectionId: string) => Promise<void> | void };
}

export interface TokenResult {
	connection: Connection;
	/** Whether a refresh happened for this call (by this caller or one it waited for). */
	refreshed: boolean;
}

export interface ValidTokenResult extends TokenResult {
	/** The Minimum Validity applied to the returned token, in whole seconds, and whether it was capped below the one asked for. */
	minValidity: { effectiveSeconds: number; capped: boolean };
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
}

export interface RevokeResult {
	connection: Connection;
	/** Which token the provider was asked to revoke, or null when it was not asked. */
	revokedAtProvider: TokenTypeHint | null;
}

export const DEFAULT_MIN_VALIDITY_SECONDS = 300;
export const DEFAULT_REAUTHORIZATION_LINK_TTL_SECONDS = 86_400;
export const DEFAULT_LEASE_TTL_MS = 30_000;
/**
 * Minimum Validity never exceeds this share of a token's own lifetime: a token that lives 300 s is not
 * refreshed again at once because Minimum Validity is 300 s.
 */
export const MIN_VALIDITY_LIFETIME_SHARE = 0.5;
/**
 * Taken off every expires_at, which counts from when the token request was sent: providers round their
 * issue time down to whole seconds, so a token may end up to a second before "sent + expires_in".
 */
export const EXPIRY_MARGIN_MS = 2_000;
/** Why a connection needs re-authorization: one text, whichever process finds out or reads it later. */
const REFRESH_TOKEN_REJECTED = 'the provider rejected its refresh token (invalid_grant)';
const NO_REFRESH_TOKEN = 'no refresh token is stored for it';
const MAX_CONNECTION_ID_LENGTH = 255;
const MAX_CODE_LENGTH = 8192;

/*
 * Process-wide state, shared by every TokenManager (n8n builds one per execution): the refresh in
 * flight per connection, and new tokens the provider issued that the store has not accepted yet.
 * Keys name the table (the store's identity), the app (its fingerprint) and the connection id: two
 * credentials share an entry only when they reach the same table through the same app.
 */
const flights = new Map<string, Promise<TokenResult>>();
const unsaved = new Map<string, { usedRefreshToken: string | null; fields: Partial<ConnectionFields> }>();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A lease holder id that names the host and process, for whoever inspects a stuck lease. */
const leaseHolder = () => `${hostname()}:${process.pid}:${randomUUID()}`;

export function validateConnectionId(connectionId: unknown): string {
	if (typeof connectionId !== 'string' || connectionId.trim() === '') {
		throw new InvalidInputError('Connection ID', 'The Connection ID is empty: set one per authorized account, e.g. "pipedrive:acme"');
	}
	if (connectionId.length > MAX_CONNECTION_ID_LENGTH) {
		throw new InvalidInputError('Connection ID', `The Connection ID is ${connectionId.length} characters long; the maximum is ${MAX_CONNECTION_ID_LENGTH}`);
	}
	if (/[\u0000-\u001f\u007f]/.test(connectionId)) {
		throw new InvalidInputError('Connection ID', 'The Connection ID contains control characters (such as a line break): remove them');
	}
	if (connectionId.startsWith(RESERVED_PREFIX)) {
		throw new InvalidInputError('Connection ID', `Connection IDs starting with "${RESERVED_PREFIX}" are reserved for the node's own records: choose another`);
	}
	return connectionId;
}

export class TokenManager {
	private readonly store: TokenStore;
	private readonly cipher: TokenCipher;
	private readonly client: OAuthClient;
	/** Which app this manager's client is (appFingerprint): written with every token it obtains, checked before use. */
	private readonly fingerprint: string;
	private readonly endpoint: TokenEndpointRequest;
	private readonly leaseTtlMs: number;
	private readonly refreshDeadlineMs: number;
	private readonly leaseWaitMs: number;
	private readonly pollIntervalMs: number;
	private readonly saveRetries: number;
	private readonly hooks: NonNullable<TokenManagerOptions['hooks']>;
	private stateCodec: StateCodec | undefined;
	private readonly reauthorizationLinkTtlSeconds: number;

	constructor(options: TokenManagerOptions) {
		this.store = options.store;
		this.cipher = options.cipher;
		this.client = options.client;
		this.fingerprint = appFingerprint(options.client);
		this.endpoint = {
			tokenUrl: options.client.tokenUrl,
			clientId: options.client.clientId,
			clientSecret: options.client.clientSecret,
			clientAuthentication: options.client.clientAuthentication,
			...options.endpoint,
		};
		this.leaseTtlMs = options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
		this.refreshDeadlineMs = options.refreshDeadlineMs ?? Math.floor((this.leaseTtlMs * 2) / 3);
		if (!(this.refreshDeadlineMs > 0 && this.refreshDeadlineMs < this.leaseTtlMs)) {
			throw new RangeError(`The refresh deadline (${this.refreshDeadlineMs} ms) must be positive and shorter than the lease (${this.leaseTtlMs} ms)`);
		}
		this.leaseWaitMs = options.leaseWaitMs ?? this.leaseTtlMs + this.refreshDeadlineMs + 5_000;
		this.pollIntervalMs = options.pollIntervalMs ?? 100;
		this.saveRetries = options.saveRetries ?? 3;
		this.hooks = options.hooks ?? {};
		this.reauthorizationLinkTtlSeconds = options.reauthorizationLinkTtlSeconds ?? DEFAULT_REAUTHORIZATION_LINK_TTL_SECONDS;
	}

	/** Only the authorization operations need state keys; Get Valid Token never derives them. */
	private get states(): StateCodec {
		this.stateCodec ??= new StateCodec(this.cipher);
		return this.stateCodec;
	}

	/**
	 * RFC 6749 §4.1.1: the provider's authorize URL for this connection, with a signed, expiring, single-use
	 * state and, where the provider supports it, PKCE S256 (the verifier travels only encrypted, inside the state).
	 * Nothing is written: the state itself carries what the callback needs.
	 */
	buildAuthorizationUrl(
		connectionId: string,
		options: { expiresInSeconds?: number; extraParameters?: Record<string, string> } = {},
	): AuthorizationStart {
		validateConnectionId(connectionId);
		const issued = this.states.issue(connectionId, { ttlSeconds: options.expiresInSeconds ?? DEFAULT_STATE_TTL_SECONDS, pkce: this.client.pkce });
		const authorizationUrl = buildAuthorizationUrl(this.client, issued, options.extraParameters);
		return { connectionId, authorizationUrl, state: issued.state, expiresAt: issued.expiresAt, pkce: issued.codeChallenge !== null };
	}

	/** RFC 6749 §4.1.3: trades an authorization code for tokens and stores them (a re-authorization replaces them). */
	async exchangeAuthorizationCode(connectionId: string, params: ExchangeParams): Promise<TokenResult> {
		validateConnectionId(connectionId);
		const denied = providerErrorFromCallback(params.providerError, params.providerErrorDescription);
		if (denied) throw denied;
		if (typeof params.code !== 'string' || params.code.trim() === '') {
			throw new InvalidInputError('Authorization Code', 'The Authorization Code is empty: map it from the callback, e.g. {{ $json.query.code }}');
		}
		if (params.code.length > MAX_CODE_LENGTH) {
			throw new InvalidInputError('Authorization Code', `The Authorization Code is ${params.code.length} characters long; the maximum is ${MAX_CODE_LENGTH}`);
		}
		const redirectUri = params.redirectUri || this.client.redirectUri;
		if (!redirectUri) {
			throw new InvalidInputError('Redirect URI', 'The Redirect URI is empty: set it in the App credential to the exact callback URL registered with the provider');
		}
		this.requireTokenUrl();
		let codeVerifier = params.codeVerifier || null;
		const state = typeof params.state === 'string' ? params.state.trim() : '';
		if (state) {
			// RFC 6749 §10.12: the state proves this n8n started the authorization, for this connection, recently, once.
			const verified = this.states.verify(state, connectionId);
			await consumeState(this.store, verified);
			codeVerifier = verified.codeVerifier ?? codeVerifier;
		} else if (!params.allowMissingState) {
			throw new InvalidStateError(
				'missing',
				'The callback has no state, so it cannot be tied to an authorization this n8n started',
				'Start the authorization with "Build Authorization URL" (it adds a signed state). Only for Pipedrive Marketplace installs, which arrive without state, turn on "Allow Missing State".',
			);
		}
		const grant: Grant = { grant_type: 'authorization_code', code: params.code, redirect_uri: redirectUri };
		if (codeVerifier) grant.code_verifier = codeVerifier;
		const response = await requestToken(this.endpoint, grant);
		unsaved.delete(await this.key(connectionId));
		const fields = (existing: StoredConnection | null): ConnectionFields => {
			// RFC 6749 §5.1 makes refresh_token optional in a code response: on a re-authorization through the same
			// app, the stored refresh token stays valid, and so do kept fields the response leaves out.
			const previous = existing && (!existing.appFingerprint || sameApp(existing.appFingerprint, this.fingerprint)) ? existing : null;
			return {
				provider: this.client.id,
				...this.tokenFields(connectionId, response, previous && this.readableRefreshToken(previous), previous?.metadata ?? {}),
				status: 'active',
				lastRefreshedAt: null,
				refreshCount: 0,
				lastError: response.warning,
				appFingerprint: this.fingerprint,
				tokenIssuedAt: response.requestedAt,
			};
		};
		return { connection: this.decrypt(await this.upsert(connectionId, fields)), refreshed: false };
	}

	/** Returns a token valid for at least `minValiditySeconds`, refreshing first when needed. */
	async getValidToken(connectionId: string, options: { minValiditySeconds?: number } = {}): Promise<ValidTokenResult> {
		validateConnectionId(connectionId);
		const minValidityMs = this.minValidityMs(options.minValiditySeconds);
		await this.saveUnsaved(connectionId);
		const current = await this.readUsable(connectionId);
		const needsRefresh = (c: Connection) => {
			if (!c.accessToken) return true;
			if (c.expiresAt === null) return false;
			const leftMs = c.expiresAt.getTime() - Date.now();
			// Refreshed since this call read the row (e.g. by the process it waited for): nothing newer exists.
			if (leftMs > 0 && c.refreshCount !== current.refreshCount) return false;
			return leftMs <= effectiveMinValidityMs(c, minValidityMs);
		};
		const result = needsRefresh(current) ? await this.refreshOnce(current, needsRefresh) : { connection: current, refreshed: false };
		const effectiveMs = effectiveMinValidityMs(result.connection, minValidityMs);
		return { ...result, minValidity: { effectiveSeconds: Math.floor(effectiveMs / 1000), capped: effectiveMs < minValidityMs } };
	}

	/**
	 * Refreshes the connection. With `failedAccessToken` (the token an API just refused) it refreshes only
	 * if the stored token is still that one: a caller that lost the race gets the winner's token.
	 * Otherwise, or with `force`, it refreshes unless another refresh completed after this call began.
	 */
	async refreshToken(connectionId: string, options: { failedAccessToken?: string; force?: boolean } = {}): Promise<TokenResult> {
		validateConnectionId(connectionId);
		this.requireTokenUrl(); // a misconfigured App credential is named before the connection is compared with it
		await this.saveUnsaved(connectionId);
		const current = await this.readUsable(connectionId);
		const stale = options.failedAccessToken && !options.force ? options.failedAccessToken : undefined;
		const needsRefresh = stale
			? (c: Connection) => c.accessToken === stale
			: (c: Connection) => c.refreshCount === current.refreshCount;
		if (!needsRefresh(current)) return { connection: current, refreshed: false };
		return this.refreshOnce(current, needsRefresh);
	}

	/**
	 * Revoke / Disconnect: RFC 7009 revocation of the refresh token (else the access token) where the provider
	 * has a revocation URL, then status revoked, both tokens erased and its state marker deleted. If the provider
	 * refuses or cannot be reached, nothing is erased (the error says so). Holds the refresh lease so no refresh races it.
	 */
	async revoke(connectionId: string, options: { atProvider?: boolean } = {}): Promise<RevokeResult> {
		validateConnectionId(connectionId);
		const atProvider = options.atProvider !== false;
		await this.saveUnsaved(connectionId);
		// Revoking at the provider sends the connection's token with this app's client credentials.
		const callsProvider = atProvider && Boolean(this.client.revocationUrl);
		const holder = leaseHolder();
		const mustExist = async () => {
			const row = await this.store.get(connectionId);
			if (!row) throw new ConnectionNotFoundError(connectionId, this.store.description);
			if (callsProvider) this.requireSameApp(row);
			return undefined;
		};
		await mustExist();
		await this.takeLease(connectionId, holder, mustExist);
		try {
			let row = (await this.store.get(connectionId))!;
			if (callsProvider) this.requireSameApp(row);
			const current = this.decrypt(row);
			let revokedAtProvider: TokenTypeHint | null = null;
			const token = current.refreshToken ?? current.accessToken;
			if (atProvider && this.client.revocationUrl && token) {
				revokedAtProvider = current.refreshToken ? 'refresh_token' : 'access_token';
				await revokeToken({ ...this.endpoint, revocationUrl: this.client.revocationUrl }, token, revokedAtProvider);
			}
			const fields: Partial<ConnectionFields> = { status: 'revoked', accessToken: null, refreshToken: null, expiresAt: null, lastError: null };
			for (let attempt = 0; ; attempt++) {
				try {
					row = await this.store.update(connectionId, row.version, fields);
					break;
				} catch (error) {
					if (!(error instanceof VersionConflictError) || attempt >= 5) throw error;
					row = (await this.store.get(connectionId)) ?? row;
				}
			}
			unsaved.delete(await this.key(connectionId));
			// The connection is revoked already; a used-state record left behind by a failed delete is purged once it expires.
			await deleteConsumedStates(this.store, connectionId).catch(() => undefined);
			return { connection: this.decrypt(row), revokedAtProvider };
		} finally {
			await this.store.releaseLease(connectionId, holder).catch(() => undefined);
		}
	}

	private minValidityMs(seconds: number | undefined): number {
		const value = seconds ?? DEFAULT_MIN_VALIDITY_SECONDS;
		if (!Number.isFinite(value) || value < 0) {
			throw new InvalidInputError('Minimum Validity (Seconds)', 'The Minimum Validity must be a number of seconds, 0 or more');
		}
		return value * 1000;
	}

	private requireTokenUrl(): void {
		if (!this.endpoint.tokenUrl) {
			throw new InvalidInputError('Token URL', 'The Token URL is empty: set it in the App credential (needed for the Custom preset)');
		}
		requireSecureUrl('Token URL', this.endpoint.tokenUrl);
	}

	private async key(connectionId: string): Promise<string> {
		return JSON.stringify([await this.store.identity(), this.fingerprint, connectionId]);
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

	private usable(connectionId: string, row: StoredConnection | null): Connection {
		if (!row) throw new ConnectionNotFoundError(connectionId, this.store.description);
		this.requireSameApp(row);
		// last_error holds the reason the process that marked the connection gave: every process says the same.
		if (row.status === 'needs_reauth') throw this.needsReauth(connectionId, row.lastError ?? REFRESH_TOKEN_REJECTED);
		if (row.status === 'revoked') throw new ConnectionRevokedError(connectionId);
		return this.decrypt(row);
	}

	/** One refresh at a time per connection: in this process by a shared promise, across processes by the store's lease. */
	private async refreshOnce(current: Connection, needsRefresh: (c: Connection) => boolean): Promise<TokenResult> {
		const key = await this.key(current.connectionId);
		const inFlight = flights.get(key);
		if (inFlight) return inFlight;
		const flight = this.refreshUnderLease(current, needsRefresh).finally(() => flights.delete(key));
		flights.set(key, flight);
		return flight;
	}

	/** `started` is the caller's own read of the connection: the first decision needs no second read. */
	private async refreshUnderLease(started: Connection, needsRefresh: (c: Connection) => boolean): Promise<TokenResult> {
		this.requireTokenUrl();
		const { connectionId } = started;
		const result = (connection: Connection, refreshed = connection.refreshCount !== started.refreshCount) => ({ connection, refreshed });
		if (!needsRefresh(started)) return result(started);
		const holder = leaseHolder();
		const lease = await this.takeLease(connectionId, holder, async () => {
			const current = await this.readUsable(connectionId);
			return needsRefresh(current) ? undefined : current;
		});
		if ('done' in lease) return result(lease.done);
		try {
			// Re-read under the lease: another process may have refreshed since our last read.
			const leased = await this.readUsable(connectionId);
			if (!needsRefresh(leased)) return result(leased);
			return result(await this.refreshWithProvider(leased, lease.since + this.refreshDeadlineMs), true);
		} finally {
			await this.store.releaseLease(connectionId, holder).catch(() => undefined);
		}
	}

	/**
	 * Takes the connection's lease for `holder`, polling with growing, jittered pauses for at most
	 * `leaseWaitMs`. Between attempts `meanwhile` re-reads: a value from it ends the wait without the lease
	 * (e.g. another process finished the refresh). Once the lease is held, returns when it was asked for:
	 * the lease cannot have started earlier.
	 */
	private async takeLease<T>(
		connectionId: string,
		holder: string,
		meanwhile: () => Promise<T | undefined>,
	): Promise<{ done: T } | { since: number }> {
		const deadline = Date.now() + this.leaseWaitMs;
		let delay = this.pollIntervalMs;
		for (;;) {
			const since = Date.now();
			if (await this.store.acquireLease(connectionId, holder, this.leaseTtlMs)) return { since };
			if (Date.now() >= deadline) throw new LeaseTimeoutError(connectionId, this.leaseWaitMs);
			await sleep(delay * (0.5 + Math.random()));
			delay = Math.min(delay * 1.5, 1000);
			const done = await meanwhile();
			if (done !== undefined) return { done };
		}
	}

	/** `deadline` (epoch ms) bounds the whole exchange with the provider; it falls inside the lease. */
	private async refreshWithProvider(leased: Connection, deadline: number): Promise<Connection> {
		const { connectionId } = leased;
		if (!leased.refreshToken) {
			await this.store.update(connectionId, leased.version, { ...this.reencrypted(leased), status: 'needs_reauth', lastError: NO_REFRESH_TOKEN });
			throw this.needsReauth(connectionId, NO_REFRESH_TOKEN);
		}
		let response: IssuedTokens;
		try {
			response = await requestToken(this.endpoint, { grant_type: 'refresh_token', refresh_token: leased.refreshToken }, { deadline });
		} catch (error) {
			if (error instanceof TokenEndpointError && error.oauthError === 'invalid_grant') {
				return this.refreshTokenRejected(leased);
			}
			const message = error instanceof TokenManagerError ? error.message : 'Unexpected error during refresh';
			const rotated = refreshTokenOfRefusedAnswer(error);
			if (rotated !== null) {
				// The answer was refused, but the provider may have retired the old refresh token: the new one must be kept.
				await this.saveRefreshed(leased, { ...this.reencrypted({ ...leased, refreshToken: rotated }), lastError: message });
				throw error;
			}
			await this.store.update(connectionId, leased.version, { ...this.reencrypted(leased), lastError: message }).catch(() => undefined);
			throw error;
		}
		await this.hooks.afterTokenResponse?.(connectionId);
		const fields: Partial<ConnectionFields> = {
			...this.tokenFields(connectionId, response, leased.refreshToken, leased.metadata),
			status: 'active',
			lastRefreshedAt: new Date(),
			refreshCount: leased.refreshCount + 1,
			lastError: response.warning,
			appFingerprint: this.fingerprint,
			tokenIssuedAt: response.requestedAt,
		};
		const saved = await this.saveRefreshed(leased, fields);
		// A write that lost to a newer grant returns that grant's row, which may come from another app.
		this.requireSameApp(saved);
		return this.decrypt(saved);
	}

	/**
	 * The provider refused the refresh token we sent. It marks the connection only while that token is still
	 * the stored one: if another process has stored a newer one meanwhile (its refresh won), that one is used.
	 */
	private async refreshTokenRejected(leased: Connection): Promise<Connection> {
		const { connectionId } = leased;
		for (let attempt = 0; ; attempt++) {
			const row = await this.store.get(connectionId);
			const rowRefreshToken = row?.refreshToken ? this.cipher.decrypt(row.refreshToken, connectionId, 'refresh_token') : null;
			if (!row || rowRefreshToken !== leased.refreshToken || row.status !== 'active') return this.usable(connectionId, row);
			try {
				await this.store.update(connectionId, row.version, { ...this.reencrypted(this.decrypt(row)), status: 'needs_reauth', lastError: REFRESH_TOKEN_REJECTED });
			} catch (error) {
				if (error instanceof VersionConflictError && attempt < 5) continue;
				throw error;
			}
			throw this.needsReauth(connectionId, REFRESH_TOKEN_REJECTED);
		}
	}

	/**
	 * The provider has issued new tokens (and may have retired the old refresh token): they must reach the
	 * store. Retries the write, never the refresh; if the store stays down they wait in memory and are
	 * written before anything else on the next call for this connection.
	 */
	private async saveRefreshed(leased: Connection, fields: Partial<ConnectionFields>): Promise<StoredConnection> {
		const { connectionId } = leased;
		let version = leased.version;
		let lastError: unknown;
		for (let attempt = 0; attempt <= this.saveRetries; attempt++) {
			try {
				return await this.store.update(connectionId, version, fields);
			} catch (error) {
				lastError = error;
				if (error instanceof VersionConflictError) {
					const row = await this.store.get(connectionId);
					if (!row) throw new ConnectionNotFoundError(connectionId, this.store.description);
					const rowRefreshToken = row.refreshToken && this.cipher.decrypt(row.refreshToken, connectionId, 'refresh_token');
					if (rowRefreshToken !== leased.refreshToken) return row; // a newer grant or refresh was written meanwhile
					version = row.version;
					continue;
				}
				if (attempt < this.saveRetries) await sleep(200 * 2 ** attempt);
			}
		}
		unsaved.set(await this.key(connectionId), { usedRefreshToken: leased.refreshToken, fields });
		throw new StoreError(
			`The provider issued new tokens for connection "${connectionId}" but ${this.store.description} did not accept the write (${describeStoreError(lastError)}).`,
			'The new tokens are kept in memory by this n8n process and written before anything else on the next call for this connection. Check the database is reachable.',
		);
	}

	private async saveUnsaved(connectionId: string): Promise<void> {
		const key = await this.key(connectionId);
		const pending = unsaved.get(key);
		if (!pending) return;
		let row: StoredConnection | null;
		try {
			row = await this.store.get(connectionId);
			const rowRefreshToken = row?.refreshToken ? this.cipher.decrypt(row.refreshToken, connectionId, 'refresh_token') : null;
			if (row && rowRefreshToken === pending.usedRefreshToken) await this.store.update(connectionId, row.version, pending.fields);
		} catch (error) {
			throw new StoreError(
				`Tokens that the provider issued for connection "${connectionId}" are still waiting to be saved: ${this.store.description} did not accept the write (${describeStoreError(error)}).`,
				'They stay in memory and are written on the next call. Check the database is reachable.',
			);
		}
		unsaved.delete(key);
	}

	/** Inserts or replaces the connection with the fields computed from the row as it is when written. */
	private async upsert(connectionId: string, fields: (existing: StoredConnection | null) => ConnectionFields): Promise<StoredConnection> {
		for (let attempt = 0; attempt < 5; attempt++) {
			const existing = await this.store.get(connectionId);
			try {
				return existing
					? await this.store.update(connectionId, existing.version, fields(existing))
					: await this.store.insert({ connectionId, ...fields(null) });
			} catch (error) {
				if (!(error instanceof VersionConflictError || error instanceof ConnectionExistsError)) throw error;
			}
		}
		throw new StoreError(`Connection "${connectionId}" kept changing while the new tokens were saved; run the exchange again`);
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
	private needsReauth(connectionId: string, reason: string): NeedsReauthorizationError {
		let url: string | undefined;
		if (this.reauthorizationLinkTtlSeconds > 0 && this.client.authorizationUrl && this.client.redirectUri) {
			try {
				url = this.buildAuthorizationUrl(connectionId, { expiresInSeconds: this.reauthorizationLinkTtlSeconds }).authorizationUrl;
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

	/** The row's refresh token, or null when there is none or it cannot be decrypted with the configured keys. */
	private readableRefreshToken(row: StoredConnection): string | null {
		try {
			return row.refreshToken === null ? null : this.cipher.decrypt(row.refreshToken, row.connectionId, 'refresh_token');
		} catch (error) {
			if (error instanceof DecryptionError) return null;
			throw error;
		}
	}

	private encrypt(value: string, connectionId: string, field: TokenField): string {
		return this.cipher.encrypt(value, connectionId, field);
	}

	private decrypt(row: StoredConnection): Connection {
		const open = (value: string | null, field: TokenField) => (value === null ? null : this.cipher.decrypt(value, row.connectionId, field));
		return { ...row, accessToken: open(row.accessToken, 'access_token'), refreshToken: open(row.refreshToken, 'refresh_token') };
	}
}

/**
 * The Minimum Validity applied to a token: at most a share of its lifetime, which runs from when it was
 * requested (token_issued_at; for rows written before that column, last_refreshed_at, written with the tokens a
 * moment later) to its expiry. Without either time, or without an expiry, the requested value applies.
 */
function effectiveMinValidityMs(c: Connection, requestedMs: number): number {
	const issuedAt = c.tokenIssuedAt ?? c.lastRefreshedAt;
	if (!c.expiresAt || !issuedAt) return requestedMs;
	const lifetimeMs = c.expiresAt.getTime() - issuedAt.getTime();
	return Math.max(0, Math.min(requestedMs, lifetimeMs * MIN_VALIDITY_LIFETIME_SHARE));
}

function describeStoreError(error: unknown): string {
	if (error instanceof Error) return error.message.slice(0, 200);
	return 'unknown error';
}
