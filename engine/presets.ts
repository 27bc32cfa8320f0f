import { createHash } from 'node:crypto';

/**
 * Provider quirks as data. A preset fills the endpoints and behaviour of the OAuth client; the
 * "custom" preset takes them all from the caller's settings.
 */
export type ClientAuthentication = 'basic' | 'body';

export interface ProviderPreset {
	id: string;
	name: string;
	authorizationUrl: string;
	tokenUrl: string;
	revocationUrl: string;
	/** RFC 6749 §2.3.1 HTTP Basic, or client_id/client_secret in the form body. */
	clientAuthentication: ClientAuthentication;
	/** Whether the provider supports RFC 7636 PKCE (S256). */
	pkce: boolean;
	/** Token response fields kept beside the tokens, e.g. Pipedrive's per-company API host. */
	keepResponseFields: string[];
	scopeSeparator: string;
}

export const PROVIDER_PRESETS: Record<string, ProviderPreset> = {
	pipedrive: {
		id: 'pipedrive',
		name: 'Pipedrive',
		authorizationUrl: 'https://oauth.pipedrive.com/oauth/authorize',
		tokenUrl: 'https://oauth.pipedrive.com/oauth/token',
		revocationUrl: 'https://oauth.pipedrive.com/oauth/revoke',
		clientAuthentication: 'basic',
		pkce: false,
		keepResponseFields: ['api_domain'],
		scopeSeparator: ' ',
	},
	custom: {
		id: 'custom',
		name: 'Custom OAuth2 Provider',
		authorizationUrl: '',
		tokenUrl: '',
		revocationUrl: '',
		clientAuthentication: 'basic',
		pkce: true,
		keepResponseFields: [],
		scopeSeparator: ' ',
	},
};

/** The OAuth client as the engine uses it: a preset with the user's overrides and client credentials. */
export interface OAuthClient extends ProviderPreset {
	clientId: string;
	clientSecret: string;
	redirectUri: string;
	scopes: string[];
}

export type OAuthClientSettings = {
	preset: string;
	clientId: string;
	clientSecret: string;
	redirectUri?: string;
	scopes?: string[];
} & Partial<Omit<ProviderPreset, 'id' | 'name'>>;

/** Settings left empty fall back to the preset; set ones override it. */
export function resolveOAuthClient(settings: OAuthClientSettings): OAuthClient {
	const preset = PROVIDER_PRESETS[settings.preset];
	if (!preset) {
		throw new Error(`Unknown provider preset "${settings.preset}" (known: ${Object.keys(PROVIDER_PRESETS).join(', ')})`);
	}
	const pick = <K extends keyof ProviderPreset>(key: K): ProviderPreset[K] => {
		const value = settings[key as keyof OAuthClientSettings] as ProviderPreset[K] | undefined;
		const empty = value === undefined || value === '' || (Array.isArray(value) && value.length === 0);
		return empty ? preset[key] : value;
	};
	return {
		id: preset.id,
		name: preset.name,
		authorizationUrl: pick('authorizationUrl'),
		tokenUrl: pick('tokenUrl'),
		revocationUrl: pick('revocationUrl'),
		clientAuthentication: pick('clientAuthentication'),
		pkce: pick('pkce'),
		keepResponseFields: pick('keepResponseFields'),
		scopeSeparator: pick('scopeSeparator'),
		clientId: settings.clientId,
		clientSecret: settings.clientSecret,
		redirectUri: settings.redirectUri ?? '',
		scopes: settings.scopes ?? [],
	};
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
export function appFingerprint(client: Pick<OAuthClient, 'tokenUrl' | 'clientId'>): string {
	const hash = createHash('sha256')
		.update(`oauth2-token-manager app ${FINGERPRINT_VERSION}\n${normalisedTokenUrl(client.tokenUrl)}\n${client.clientId}`)
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
export function describeClientApp(client: Pick<OAuthClient, 'tokenUrl' | 'clientId'>): string {
	return `the app with token URL ${displayedTokenUrl(client.tokenUrl)} and client ID "${client.clientId}"`;
}
