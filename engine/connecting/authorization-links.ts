import { DEFAULT_STATE_TTL_SECONDS, StateCodec } from '../authorization';
import { buildAuthorizationUrl } from './authorize-request';
import { validateConnectionId } from '../connection-id';
import type { TokenCipher } from '../crypto';
import type { OAuthClient } from '../presets';
import type { TokenStore } from '../store';
import type { AuthorizationStart } from '../types';
import { requireTokenClient } from '../client-checks';

export interface LinkOptions {
	expiresInSeconds?: number;
	extraParameters?: Record<string, string>;
}

/*
 * The start of an authorization (RFC 6749 §4.1.1): the provider's authorize URL with a signed, expiring, single-use
 * state bound to this store and, where the provider supports it, PKCE S256 (the verifier travels only encrypted,
 * inside the state). Nothing is written: the state itself carries what the callback needs.
 */
export class AuthorizationLinks {
	private stateCodec: StateCodec | undefined;

	constructor(
		private readonly cipher: TokenCipher,
		private readonly store: TokenStore,
		private readonly client: OAuthClient,
	) {}

	/** Only the authorization operations need state keys; Get Valid Token never derives them. */
	async states(): Promise<StateCodec> {
		const storeIdentity = await this.store.identity();
		this.stateCodec ??= new StateCodec(this.cipher, storeIdentity);
		return this.stateCodec;
	}

	async build(connectionId: string, options: LinkOptions = {}): Promise<AuthorizationStart> {
		validateConnectionId(connectionId);
		const issued = (await this.states()).issue(connectionId, {
			ttlSeconds: options.expiresInSeconds ?? DEFAULT_STATE_TTL_SECONDS,
			pkce: this.client.pkce,
		});
		const authorizationUrl = buildAuthorizationUrl(this.client, issued, options.extraParameters);
		return {
			connectionId,
			authorizationUrl,
			state: issued.state,
			expiresAt: issued.expiresAt,
			pkce: issued.codeChallenge !== null,
		};
	}

	/**
	 * For an account owner about to consent: first checks what the code exchange will need (a complete client and a
	 * store that opens and answers, its table created if it may be), so that nobody consents into a connection that
	 * cannot be saved; then builds the link.
	 */
	async start(connectionId: string, options: LinkOptions = {}): Promise<AuthorizationStart> {
		const start = await this.build(connectionId, options);
		requireTokenClient(this.client);
		await this.store.get(connectionId);
		return start;
	}
}
