/**
 * Provider quirks as data. A preset fills the endpoints and behaviour of the OAuth client; the
 * "custom" preset takes them all from the App credential.
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
