import type { EngineParts } from '../engine-parts';
import type { IssuedTokens } from '../oauth';
import type { SealedTokenFields } from '../sealing';
import {
	NO_FAILURES,
	type ConnectionFields,
	type GrantType,
	type StoredConnection,
	type TokenResult,
} from '../types';
import { writeFromLatest } from '../versioned-write';

export interface NewGrant {
	connectionId: string;
	response: IssuedTokens;
	grantType: GrantType;
	/** The token fields, built from the row the grant replaces (null when there is none). */
	tokens(existing: StoredConnection | null): SealedTokenFields;
	/** May refuse to replace that row: checked on the very version written. */
	claim?(existing: StoredConnection | null): void;
}

/**
 * Stores a new grant (a code exchange, a client-credentials token) over whatever the connection id held: fresh
 * bookkeeping, this app's fingerprint, the grant's token fields. Writes the refresh path kept waiting for the
 * connection are dropped: the new grant replaces their tokens.
 */
export async function saveGrant(
	parts: Pick<EngineParts, 'store' | 'client' | 'fingerprint' | 'sealer' | 'coordinator'>,
	grant: NewGrant,
): Promise<TokenResult> {
	const { store, client, fingerprint } = parts;
	const { connectionId, response } = grant;
	const fields = (existing: StoredConnection | null): ConnectionFields => ({
		provider: client.id,
		...grant.tokens(existing),
		status: 'active',
		lastRefreshedAt: null,
		refreshCount: 0,
		lastError: response.warning,
		appFingerprint: fingerprint,
		tokenIssuedAt: response.requestedAt,
		grantType: grant.grantType,
		...NO_FAILURES,
	});
	const saved = await writeFromLatest(store, connectionId, (existing) => {
		grant.claim?.(existing);
		return existing
			? store.update(connectionId, existing.version, fields(existing))
			: store.insert({ connectionId, ...fields(null) });
	});
	await parts.coordinator.forgetRefused(connectionId);
	return { connection: parts.sealer.open(saved), refreshed: false, recovered: false };
}
