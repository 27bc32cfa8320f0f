import { createHash } from 'node:crypto';

/** What identifies an OAuth app: its token endpoint and client id. */
interface AppIdentity {
	tokenUrl: string;
	clientId: string;
}

/*
 * App fingerprints tie a connection to the OAuth app that issued its tokens (a refresh token only works with the
 * client it was issued to, RFC 6749 §6). Stored as "v1:<hash> <token URL> <client id hint>": the hash (SHA-256
 * of the normalised token URL and the client id, 128 bits) is what is compared; the rest only lets an error name
 * the app. The client id itself is not stored: only its last 4 characters, when it has at least 8.
 */
const FINGERPRINT_VERSION = 'v1';

function normalisedTokenUrl(tokenUrl: string): string {
	try {
		const url = new URL(tokenUrl.trim());
		url.hash = '';
		return url.href;
	} catch {
		return tokenUrl.trim();
	}
}

/** Origin and path only: enough to tell two apps apart (even http:// from https://), never a query string. */
function displayedTokenUrl(tokenUrl: string): string {
	try {
		const url = new URL(tokenUrl.trim());
		return url.host ? `${url.origin}${url.pathname}` : 'unknown';
	} catch {
		return 'unknown';
	}
}

/** The stable fingerprint of the app (token URL + client id) that a connection's tokens belong to. */
export function appFingerprint(client: AppIdentity): string {
	const hash = createHash('sha256')
		.update(
			`oauth2-token-manager app ${FINGERPRINT_VERSION}\n${normalisedTokenUrl(client.tokenUrl)}\n${client.clientId}`,
		)
		.digest('hex')
		.slice(0, 32);
	const tail = client.clientId.slice(-4);
	const hint = client.clientId.length >= 8 && !/\s/.test(tail) ? ` …${tail}` : '';
	return `${FINGERPRINT_VERSION}:${hash} ${displayedTokenUrl(client.tokenUrl).slice(0, 200)}${hint}`;
}

/** Whether two fingerprints name the same app (only their hashes are compared). */
export function sameApp(a: string, b: string): boolean {
	return a.split(' ')[0] === b.split(' ')[0];
}

/** A stored fingerprint in words, e.g. 'the app with token URL https://oauth.example.com/token and a client ID ending "c0ff"'. */
export function describeStoredApp(fingerprint: string): string {
	const [, tokenUrl, hint] = fingerprint.split(' ');
	const client = hint ? ` and a client ID ending "${hint.replace(/^…/, '')}"` : '';
	return `the app with token URL ${tokenUrl ?? 'unknown'}${client}`;
}

/** The configured app in words, e.g. 'the app with token URL https://oauth.example.com/token and client ID "abc"'. */
export function describeClientApp(client: AppIdentity): string {
	return `the app with token URL ${displayedTokenUrl(client.tokenUrl)} and client ID "${client.clientId}"`;
}
