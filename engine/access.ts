import { requireSameApp } from './client-checks';
import type { AuthorizationLinks } from './connecting/authorization-links';
import {
	ConnectionNotFoundError,
	ConnectionRevokedError,
	NeedsReauthorizationError,
} from './errors';
import type { OAuthClient } from './presets';
import type { RowSealer } from './sealing';
import type { TokenStore } from './store';
import type { Connection, StoredConnection } from './types';

/** Why a connection needs re-authorization: one text, whichever process finds out or reads it later. */
export const REFRESH_TOKEN_REJECTED = 'the provider rejected its refresh token (invalid_grant)';
export const NO_REFRESH_TOKEN = 'no refresh token is stored for it';

/*
 * A connection as a caller may use it: present, this app's, neither waiting for re-authorization nor revoked, its
 * tokens opened. A connection that needs re-authorization fails with a fresh link for the account owner.
 */
export class ConnectionAccess {
	constructor(
		private readonly parts: {
			store: TokenStore;
			client: OAuthClient;
			fingerprint: string;
			sealer: RowSealer;
			links: AuthorizationLinks;
			/** Validity of the link a NeedsReauthorizationError carries; 0 turns it off. */
			reauthorizationLinkTtlSeconds: number;
		},
	) {}

	requireSameApp(row: Pick<StoredConnection, 'connectionId' | 'appFingerprint'>): void {
		requireSameApp(row, this.parts.client, this.parts.fingerprint);
	}

	async read(connectionId: string): Promise<Connection> {
		return this.usable(connectionId, await this.parts.store.get(connectionId));
	}

	async usable(connectionId: string, row: StoredConnection | null): Promise<Connection> {
		if (!row) throw new ConnectionNotFoundError(connectionId, this.parts.store.description);
		this.requireSameApp(row);
		// last_error holds the reason the process that marked the connection gave: every process says the same.
		if (row.status === 'needs_reauth')
			throw await this.needsReauth(connectionId, row.lastError ?? REFRESH_TOKEN_REJECTED);
		if (row.status === 'revoked') throw new ConnectionRevokedError(connectionId);
		return this.parts.sealer.open(row);
	}

	/**
	 * The NeedsReauthorizationError, with a fresh authorization link when the App credential allows one
	 * (authorization URL and redirect URI set), for an Error Workflow to send to the account owner.
	 */
	async needsReauth(connectionId: string, reason: string): Promise<NeedsReauthorizationError> {
		const { client, links, reauthorizationLinkTtlSeconds } = this.parts;
		let url: string | undefined;
		if (reauthorizationLinkTtlSeconds > 0 && client.authorizationUrl && client.redirectUri) {
			try {
				url = (await links.build(connectionId, { expiresInSeconds: reauthorizationLinkTtlSeconds }))
					.authorizationUrl;
			} catch {
				url = undefined;
			}
		}
		return new NeedsReauthorizationError(connectionId, reason, url);
	}
}
