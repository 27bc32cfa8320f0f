import { AppMismatchError, MissingInputError } from './errors';
import { describeClientApp, describeStoredApp, sameApp, type OAuthClient } from './presets';
import type { StoredConnection } from './types';
import { requireSecureUrl } from './urls';

/** Every request for tokens needs the client's token endpoint, over https (loopback aside). */
export function requireTokenUrl(client: Pick<OAuthClient, 'tokenUrl'>): void {
	if (!client.tokenUrl) {
		throw new MissingInputError('tokenUrl');
	}
	requireSecureUrl('tokenUrl', client.tokenUrl);
}

/**
 * Checked before every request for tokens (code exchange, refresh, client credentials) and before an authorization
 * link is issued: the token endpoint, the client ID and the client secret, so an empty field is named before any
 * round trip to the provider, whichever operation the user starts with.
 */
export function requireTokenClient(
	client: Pick<OAuthClient, 'tokenUrl' | 'clientId' | 'clientSecret'>,
): void {
	requireTokenUrl(client);
	if (!client.clientId) throw new MissingInputError('clientId');
	if (!client.clientSecret) throw new MissingInputError('clientSecret');
}

/**
 * A connection is used only through the app that authorized it: its refresh token works only with that client
 * and its access token was granted to that app. Rows from before fingerprints existed adopt the first app that
 * refreshes them.
 */
export function requireSameApp(
	row: Pick<StoredConnection, 'connectionId' | 'appFingerprint'>,
	client: OAuthClient,
	fingerprint: string,
): void {
	if (row.appFingerprint && !sameApp(row.appFingerprint, fingerprint)) {
		throw new AppMismatchError(
			row.connectionId,
			describeStoredApp(row.appFingerprint),
			describeClientApp(client),
		);
	}
}
