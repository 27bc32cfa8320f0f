import type { TokenCipher, TokenField } from './crypto';
import { DecryptionError } from './errors';
import type { IssuedTokens } from './oauth';
import type { Connection, ConnectionFields, StoredConnection } from './types';

/**
 * Taken off every expires_at, which counts from when the token request was sent: providers round their
 * issue time down to whole seconds, so a token may end up to a second before "sent + expires_in".
 */
export const EXPIRY_MARGIN_MS = 2_000;

export type SealedTokenFields = Pick<
	ConnectionFields,
	'accessToken' | 'refreshToken' | 'tokenType' | 'scope' | 'expiresAt' | 'metadata'
>;

/*
 * Sealing and opening rows: tokens are encrypted, bound to their connection and field, before any write, and decrypted
 * only when read for use. Every write re-seals under the current key, which is how a key rotation reaches every row.
 */
export class RowSealer {
	constructor(private readonly cipher: TokenCipher) {}

	/**
	 * The row with its access token decrypted, and its refresh token decrypted on first read: Get Valid Token on a
	 * fresh token never needs it. A refresh token that cannot be decrypted throws its DecryptionError where it is read
	 * (a refresh, a revocation), not on every call that only uses the access token.
	 */
	open(row: StoredConnection): Connection {
		const open = (value: string | null, field: TokenField) =>
			value === null ? null : this.cipher.decrypt(value, row.connectionId, field);
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

	/** The connection's tokens sealed under the current key, for any write of it. */
	resealed(c: Connection): Pick<ConnectionFields, 'accessToken' | 'refreshToken'> {
		return {
			accessToken:
				c.accessToken === null ? null : this.seal(c.accessToken, c.connectionId, 'access_token'),
			refreshToken:
				c.refreshToken === null ? null : this.seal(c.refreshToken, c.connectionId, 'refresh_token'),
		};
	}

	/** As resealed, leaving out a token no configured key opens: the write then keeps it as it is. */
	resealedIfReadable(
		c: Connection,
	): Partial<Pick<ConnectionFields, 'accessToken' | 'refreshToken'>> {
		try {
			return this.resealed(c);
		} catch (error) {
			if (error instanceof DecryptionError) return {};
			throw error;
		}
	}

	refreshTokenOf(row: StoredConnection): string | null {
		return row.refreshToken === null
			? null
			: this.cipher.decrypt(row.refreshToken, row.connectionId, 'refresh_token');
	}

	/** The row's refresh token, or null when there is none or it cannot be decrypted with the configured keys. */
	readableRefreshToken(row: StoredConnection): string | null {
		try {
			return this.refreshTokenOf(row);
		} catch (error) {
			if (error instanceof DecryptionError) return null;
			throw error;
		}
	}

	/** The fields a token response writes, sealed; the provider fields the client keeps join the previous metadata. */
	issuedTokenFields(
		connectionId: string,
		response: IssuedTokens,
		previous: { refreshToken: string | null; metadata: Record<string, string> },
		keepResponseFields: readonly string[],
	): SealedTokenFields {
		const metadata = { ...previous.metadata };
		for (const name of keepResponseFields) {
			const value = response.extra[name];
			if (typeof value === 'string' || typeof value === 'number') metadata[name] = String(value);
		}
		// RFC 6749 §6: a new refresh token replaces the old one; without one, the old one stays valid.
		const refreshToken = response.refreshToken ?? previous.refreshToken;
		return {
			accessToken: this.seal(response.accessToken, connectionId, 'access_token'),
			refreshToken:
				refreshToken === null ? null : this.seal(refreshToken, connectionId, 'refresh_token'),
			tokenType: response.tokenType,
			scope: response.scope,
			// From when the request was sent: the token cannot have been issued earlier.
			expiresAt:
				response.expiresIn === null
					? null
					: new Date(response.requestedAt.getTime() + response.expiresIn * 1000 - EXPIRY_MARGIN_MS),
			metadata,
		};
	}

	private seal(value: string, connectionId: string, field: TokenField): string {
		return this.cipher.encrypt(value, connectionId, field);
	}
}
