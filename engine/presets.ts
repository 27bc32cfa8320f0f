import { InvalidInputError, MissingInputError } from './errors';
import presetFile from './presets/providers.json';

/*
 * Provider quirks as data: presets/providers.json (checked against presets/providers.schema.json by the tests)
 * fills the endpoints and behaviour of the OAuth client; the "custom" preset takes them all from the caller's
 * settings. No code here knows a provider by name.
 */
export type ClientAuthentication = 'basic' | 'body';

/** The App credential fields a URL placeholder can be filled from. */
export type PlaceholderField = 'tenant' | 'accountsServer' | 'environment';

/** A `{name}` in a preset's URLs: typed in the App credential (checked by `pattern`) or chosen there (`values`). */
export interface PlaceholderRule {
	field: PlaceholderField;
	pattern?: string;
	values?: Record<string, string>;
	/** Used when the field is empty; without one the field is required. */
	default?: string;
	example?: string;
}

/** How a connection id is derived from a token response (for authorizations that arrive without state). */
export interface ConnectionIdRule {
	responseField: string;
	/** Matched against the field lower-cased; its first group follows the prefix. */
	pattern: string;
	prefix: string;
}

/** A provider's own "access token not valid" answer (Slack's HTTP 200 `{ ok: false, error: "invalid_auth" }`). */
export interface ApiTokenInvalidRule {
	field: string;
	values: string[];
}

/** Extra request parameters, name to value. Not secret by design: they travel in URLs and request bodies as given. */
export type RequestParameters = Record<string, string>;

export interface ProviderPreset {
	id: string;
	name: string;
	/** The provider's public documentation this preset follows. */
	docsUrl: string;
	authorizationUrl: string;
	tokenUrl: string;
	revocationUrl: string;
	/** What revoking does beyond ending the grant (Pipedrive: it uninstalls the app), for the Revoke operation's notice. */
	revocationEffect?: string;
	/** RFC 6749 §2.3.1 HTTP Basic, or client_id/client_secret in the form body. */
	clientAuthentication: ClientAuthentication;
	/** Whether the provider supports RFC 7636 PKCE (S256). */
	pkce: boolean;
	/** Asked for when the caller names no scopes. */
	defaultScopes: string[];
	scopeSeparator: string;
	authorizationParameters: RequestParameters;
	/** Added to the authorization code exchange. */
	tokenParameters: RequestParameters;
	/** Added to each refresh request. */
	refreshParameters: RequestParameters;
	/** Token response fields kept beside the tokens, e.g. Pipedrive's per-company API host. */
	keepResponseFields: string[];
	/** Callback query fields kept beside the tokens, e.g. Intuit's realmId. */
	keepCallbackFields: string[];
	/** token_type values, besides Bearer, of tokens the provider's APIs take as Bearer tokens (Slack's "bot"). */
	bearerTokenTypes: string[];
	/** The provider's own token endpoint error codes that mean an RFC 6749 §5.2 one (Slack's invalid_refresh_token: invalid_grant). */
	errorCodes: Record<string, string>;
	/** Informational: each refresh returns a new refresh token and retires the old one. */
	rotatingRefreshTokens: boolean;
	/** Where the provider's API lives: an https URL, or `{field}` naming a kept field that holds one (see api-request.ts). */
	apiBaseUrl: string;
	/** How the provider's API says, besides HTTP 401, that the access token is not valid: a JSON body field and its values. */
	apiTokenInvalid: ApiTokenInvalidRule | null;
	connectionIdFrom: ConnectionIdRule | null;
	placeholders: Record<string, PlaceholderRule>;
}

type PresetData = Pick<
	ProviderPreset,
	'name' | 'docsUrl' | 'authorizationUrl' | 'tokenUrl' | 'clientAuthentication' | 'pkce'
> &
	Partial<
		Omit<
			ProviderPreset,
			'id' | 'name' | 'docsUrl' | 'authorizationUrl' | 'tokenUrl' | 'clientAuthentication' | 'pkce'
		>
	>;

/** A preset as written in the data file, with every optional setting at its default. */
export function presetFromData(id: string, data: PresetData): ProviderPreset {
	return {
		id,
		revocationUrl: '',
		defaultScopes: [],
		scopeSeparator: ' ',
		authorizationParameters: {},
		tokenParameters: {},
		refreshParameters: {},
		keepResponseFields: [],
		keepCallbackFields: [],
		bearerTokenTypes: [],
		errorCodes: {},
		rotatingRefreshTokens: false,
		apiBaseUrl: '',
		apiTokenInvalid: null,
		connectionIdFrom: null,
		placeholders: {},
		...data,
	};
}

export const PROVIDER_PRESETS: Record<string, ProviderPreset> = Object.fromEntries(
	Object.entries(presetFile.providers as Record<string, PresetData>).map(([id, data]) => [
		id,
		presetFromData(id, data),
	]),
);

/** Parameters the engine sends itself in the authorization request or a token request: no preset or setting may set them. */
export const ENGINE_PARAMETERS: readonly string[] = [
	'client_id',
	'client_secret',
	'code',
	'redirect_uri',
	'state',
	'grant_type',
	'refresh_token',
	'code_verifier',
	'code_challenge',
	'code_challenge_method',
	'response_type',
];

/** Refuses parameters the engine owns; `field` names the setting they came from. */
export function checkExtraParameters(
	field: string,
	parameters: RequestParameters,
): RequestParameters {
	for (const [name, value] of Object.entries(parameters)) {
		if (name.trim() === '')
			throw new InvalidInputError(
				field,
				'contain a parameter without a name: use name=value&name2=value2',
			);
		if (ENGINE_PARAMETERS.includes(name)) {
			throw new InvalidInputError(field, `cannot set "${name}": the token manager sets it itself`);
		}
		if (typeof value !== 'string')
			throw new InvalidInputError(
				field,
				`set "${name}" to a ${typeof value}: each value must be text`,
			);
	}
	return parameters;
}

/**
 * Extra parameters as typed in a setting: a query string (`audience=x&prompt=consent`) or a JSON object of
 * texts (`{"audience": "x"}`).
 */
export function parseExtraParameters(field: string, text: string): RequestParameters {
	const trimmed = text.trim();
	if (trimmed === '') return {};
	if (/^[{[]/.test(trimmed)) {
		let parsed: unknown;
		try {
			parsed = JSON.parse(trimmed);
		} catch {
			throw new InvalidInputError(
				field,
				'are not valid JSON: write {"name": "value"} or name=value&name2=value2',
			);
		}
		if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
			throw new InvalidInputError(
				field,
				'must be a JSON object of texts, e.g. {"audience": "api.example.com"}',
			);
		}
		return checkExtraParameters(field, parsed as RequestParameters);
	}
	const parameters: RequestParameters = {};
	for (const [name, value] of new URLSearchParams(trimmed.replace(/^\?/, '')))
		parameters[name] = value;
	return checkExtraParameters(field, parameters);
}

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
	/** Values for the preset's URL placeholders, by App credential field. */
	placeholderValues?: Partial<Record<PlaceholderField, string>>;
	/** Added to the preset's, overriding a parameter of the same name. */
	authorizationParameters?: RequestParameters;
	tokenParameters?: RequestParameters;
	refreshParameters?: RequestParameters;
	/** Added to the preset's. */
	keepResponseFields?: string[];
	keepCallbackFields?: string[];
} & Partial<
	Pick<
		ProviderPreset,
		| 'authorizationUrl'
		| 'tokenUrl'
		| 'revocationUrl'
		| 'clientAuthentication'
		| 'pkce'
		| 'scopeSeparator'
	>
>;

const MAX_PLACEHOLDER_LENGTH = 253;

/** The text a placeholder stands for: lower-cased and trimmed, so the same setting always gives the same URL (and app fingerprint). */
function placeholderValue(rule: PlaceholderRule, given: string | undefined): string {
	const value = (given ?? '').trim().toLowerCase() || rule.default || '';
	if (value === '') throw new MissingInputError(rule.field);
	const example = rule.example ? `, such as ${rule.example}` : '';
	if (rule.values) {
		const choice = rule.values[value];
		if (choice === undefined)
			throw new InvalidInputError(
				rule.field,
				`must be one of ${Object.keys(rule.values).join(', ')}`,
			);
		return choice;
	}
	const shown = JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
	if (value.length > MAX_PLACEHOLDER_LENGTH || !new RegExp(rule.pattern ?? '^$').test(value)) {
		throw new InvalidInputError(
			rule.field,
			`must be a plain name or host${example} (no https://, path or spaces), not ${shown}`,
		);
	}
	return value;
}

function fillPlaceholders(url: string, values: Record<string, string>): string {
	return url.replace(/\{([A-Za-z][A-Za-z0-9]*)\}/g, (whole, name: string) => values[name] ?? whole);
}

/** Settings left empty fall back to the preset; set ones override it; parameters and kept fields add to it. */
export function resolveOAuthClient(settings: OAuthClientSettings): OAuthClient {
	const preset = PROVIDER_PRESETS[settings.preset];
	if (!preset) {
		throw new Error(
			`Unknown provider preset "${settings.preset}" (known: ${Object.keys(PROVIDER_PRESETS).join(', ')})`,
		);
	}
	const pick = <K extends keyof OAuthClientSettings & keyof ProviderPreset>(
		key: K,
	): ProviderPreset[K] => {
		const value = settings[key] as ProviderPreset[K] | undefined;
		return value === undefined || value === '' ? preset[key] : value;
	};
	const values = Object.fromEntries(
		Object.entries(preset.placeholders).map(([name, rule]) => [
			name,
			placeholderValue(rule, settings.placeholderValues?.[rule.field]),
		]),
	);
	const union = (own: string[], added: string[] = []) => [...new Set([...own, ...added])];
	const scopes = settings.scopes ?? [];
	return {
		...preset,
		authorizationUrl: fillPlaceholders(pick('authorizationUrl'), values),
		tokenUrl: fillPlaceholders(pick('tokenUrl'), values),
		revocationUrl: fillPlaceholders(pick('revocationUrl'), values),
		clientAuthentication: pick('clientAuthentication'),
		pkce: pick('pkce'),
		scopeSeparator: pick('scopeSeparator'),
		authorizationParameters: {
			...preset.authorizationParameters,
			...checkExtraParameters('authorizationParameters', settings.authorizationParameters ?? {}),
		},
		tokenParameters: {
			...preset.tokenParameters,
			...checkExtraParameters('tokenParameters', settings.tokenParameters ?? {}),
		},
		refreshParameters: {
			...preset.refreshParameters,
			...checkExtraParameters('refreshParameters', settings.refreshParameters ?? {}),
		},
		keepResponseFields: union(preset.keepResponseFields, settings.keepResponseFields),
		keepCallbackFields: union(preset.keepCallbackFields, settings.keepCallbackFields),
		clientId: settings.clientId,
		clientSecret: settings.clientSecret,
		redirectUri: settings.redirectUri ?? '',
		scopes: scopes.length ? scopes : preset.defaultScopes,
	};
}

/**
 * The connection id a preset derives from a token response (e.g. "pipedrive:acme" from Pipedrive's api_domain
 * https://acme.pipedrive.com), or null when the preset derives none or the response does not match.
 */
export function derivedConnectionId(
	client: Pick<OAuthClient, 'connectionIdFrom'>,
	responseFields: Record<string, unknown>,
): string | null {
	const rule = client.connectionIdFrom;
	if (!rule) return null;
	const value = responseFields[rule.responseField];
	// Host names are case-insensitive: the pattern sees the value lower-cased, so one company gets one id.
	const match =
		typeof value === 'string' ? new RegExp(rule.pattern).exec(value.toLowerCase()) : null;
	return match?.[1] ? `${rule.prefix}${match[1]}` : null;
}

export { appFingerprint, describeClientApp, describeStoredApp, sameApp } from './app-fingerprint';
