import { deleteConsumedStates } from './used-states';
import { validateConnectionId } from './connection-id';
import type { EngineParts } from './engine-parts';
import { ConnectionNotFoundError } from './errors';
import type { TokenTypeHint } from './oauth';
import type { ConnectionFields, RevokeResult, StoredConnection } from './types';
import { writeFromLatest } from './versioned-write';

/**
 * Revoke / Disconnect: RFC 7009 revocation of the refresh token (else the access token) where the provider has a
 * revocation URL, then status revoked, both tokens erased and its used-state record deleted. If the provider refuses
 * or cannot be reached, nothing is erased (the error says so). Holds the refresh lease so no refresh races it.
 */
export async function revoke(
	parts: EngineParts,
	connectionId: string,
	options: { atProvider?: boolean } = {},
): Promise<RevokeResult> {
	const { store, client, coordinator, sealer } = parts;
	validateConnectionId(connectionId);
	const atProvider = options.atProvider !== false;
	await coordinator.writeRefused(connectionId);
	// Revoking at the provider sends the connection's token with this app's client credentials.
	const callsProvider = atProvider && Boolean(client.revocationUrl);
	const mustExist = async (): Promise<StoredConnection> => {
		const row = await store.get(connectionId);
		if (!row) throw new ConnectionNotFoundError(connectionId, store.description);
		if (callsProvider) parts.access.requireSameApp(row);
		return row;
	};
	await mustExist();
	return coordinator.underLease(
		connectionId,
		async () => void (await mustExist()),
		async () => {
			const row = await mustExist();
			const current = sealer.open(row);
			let revokedAtProvider: TokenTypeHint | null = null;
			const token = current.refreshToken ?? current.accessToken;
			if (callsProvider && token) {
				revokedAtProvider = current.refreshToken ? 'refresh_token' : 'access_token';
				await parts.oauth.revokeToken(token, revokedAtProvider);
			}
			const fields: Partial<ConnectionFields> = {
				status: 'revoked',
				accessToken: null,
				refreshToken: null,
				expiresAt: null,
				lastError: null,
			};
			const revoked = await writeFromLatest(
				store,
				connectionId,
				(latest) => {
					if (!latest) throw new ConnectionNotFoundError(connectionId, store.description);
					return store.update(connectionId, latest.version, fields);
				},
				row,
			);
			await coordinator.forgetRefused(connectionId);
			// The connection is revoked already; a used-state record left behind by a failed delete is purged once it expires.
			await deleteConsumedStates(store, connectionId).catch(() => undefined);
			return { connection: sealer.open(revoked), revokedAtProvider };
		},
	);
}
