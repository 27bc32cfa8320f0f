/**
 * The provider presets: the data file against its JSON Schema, and for every preset the authorization URL and the
 * token requests (code exchange, refresh) the engine builds from the data alone, against nock standing for the
 * provider's token endpoint.
 */
import Ajv from 'ajv';
import nock from 'nock';
import { TokenCipher } from '../../engine/crypto';
import {
	ConnectionClaimedError,
	InvalidInputError,
	MissingInputError,
	NeedsReauthorizationError,
	TokenEndpointError,
} from '../../engine/errors';
import {
	appFingerprint,
	parseExtraParameters,
	presetFromData,
	PROVIDER_PRESETS,
	resolveOAuthClient,
	type OAuthClientSettings,
	type PlaceholderField,
	type ProviderPreset,
} from '../../engine/presets';
import presetFile from '../../engine/presets/providers.json';
import schema from '../../engine/presets/providers.schema.json';
import { MemoryTokenStore } from '../../engine/stores/memory';
import { TokenManager } from '../../engine/token-manager';

const CLIENT_ID = 'preset-client-id';
const CLIENT_SECRET = 'preset-client-secret';
const REDIRECT_URI = 'https://n8n.test/webhook/oauth/callback';
/** Each App credential field a placeholder reads, with a value a user would type. */
const TYPED: Record<PlaceholderField, string> = {
	tenant: 'Contoso.onmicrosoft.com',
	accountsServer: 'accounts.zoho.eu',
	environment: 'sandbox',
};

const validate = new Ajv({ allErrors: true }).compile(schema);
const presets = Object.values(PROVIDER_PRESETS);

beforeAll(() => nock.disableNetConnect());
afterEach(() => nock.cleanAll());

function settingsFor(
	preset: ProviderPreset,
	extra: Partial<OAuthClientSettings> = {},
): OAuthClientSettings {
	const custom = preset.tokenUrl
		? {}
		: {
				authorizationUrl: 'https://auth.custom.test/authorize',
				tokenUrl: 'https://auth.custom.test/token',
			};
	return {
		preset: preset.id,
		clientId: CLIENT_ID,
		clientSecret: CLIENT_SECRET,
		redirectUri: REDIRECT_URI,
		placeholderValues: TYPED,
		...custom,
		...extra,
	};
}

function managerFor(settings: OAuthClientSettings) {
	const client = resolveOAuthClient(settings);
	const store = new MemoryTokenStore();
	const manager = new TokenManager({
		store,
		cipher: new TokenCipher('presets-test-encryption-key-0001'),
		client,
		endpoint: { maxRetries: 0 },
	});
	return { client, store, manager };
}

/** The URL with every placeholder filled as the test's App credential fills it. */
function filled(preset: ProviderPreset, url: string): string {
	return url.replace(/\{(\w+)\}/g, (_whole, name: string) => {
		const rule = preset.placeholders[name];
		const typed = TYPED[rule.field].toLowerCase();
		return rule.values ? rule.values[typed] : typed;
	});
}

interface SeenRequest {
	form: Record<string, string>;
	authorization?: string;
	contentType?: string;
}

/** What the test's provider answers in each field a preset keeps (a Pipedrive company's api_domain where a connection id comes from it). */
function keptAnswer(preset: ProviderPreset): Record<string, string> {
	return Object.fromEntries(
		preset.keepResponseFields.map((field) => [
			field,
			field === preset.connectionIdFrom?.responseField
				? 'https://acme.pipedrive.com'
				: `kept-${field}`,
		]),
	);
}

/** The provider's token endpoint: records each request and answers with tokens and the fields the preset keeps. */
function tokenEndpoint(
	preset: ProviderPreset,
	tokenUrl: string,
	answer: Record<string, unknown> = {},
) {
	const url = new URL(tokenUrl);
	const seen: SeenRequest[] = [];
	nock(url.origin)
		.post(url.pathname)
		.times(2)
		.reply(function (_uri, body) {
			seen.push({
				form: Object.fromEntries(new URLSearchParams(body as string)),
				authorization: this.req.headers.authorization as string | undefined,
				contentType: this.req.headers['content-type'] as string | undefined,
			});
			return [
				200,
				{
					access_token: `access-${seen.length}`,
					token_type: preset.bearerTokenTypes[0] ?? 'Bearer',
					expires_in: 3600,
					refresh_token: `refresh-${seen.length}`,
					...keptAnswer(preset),
					...answer,
				},
			];
		});
	return seen;
}

function expectClientAuthentication(preset: ProviderPreset, request: SeenRequest) {
	if (preset.clientAuthentication === 'basic') {
		expect(request.authorization).toBe(
			`Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`,
		);
		expect(request.form).not.toHaveProperty('client_secret');
	} else {
		expect(request.authorization).toBeUndefined();
		expect(request.form).toMatchObject({ client_id: CLIENT_ID, client_secret: CLIENT_SECRET });
	}
	expect(request.contentType).toMatch(/^application\/x-www-form-urlencoded/);
}

describe('the preset data file', () => {
	it('follows its JSON Schema', () => {
		const valid = validate(presetFile);
		expect(validate.errors ?? []).toEqual([]);
		expect(valid).toBe(true);
	});

	it.each([
		[
			'a preset without a token URL',
			{
				name: 'X',
				docsUrl: 'https://x.test',
				authorizationUrl: 'https://x.test/a',
				clientAuthentication: 'basic',
				pkce: true,
			},
		],
		[
			'a plain-http endpoint',
			{
				name: 'X',
				docsUrl: 'https://x.test',
				authorizationUrl: 'http://x.test/a',
				tokenUrl: 'https://x.test/t',
				clientAuthentication: 'basic',
				pkce: true,
			},
		],
		[
			'an unknown client authentication',
			{
				name: 'X',
				docsUrl: 'https://x.test',
				authorizationUrl: 'https://x.test/a',
				tokenUrl: 'https://x.test/t',
				clientAuthentication: 'jwt',
				pkce: true,
			},
		],
		[
			'a token parameter the engine owns',
			{
				name: 'X',
				docsUrl: 'https://x.test',
				authorizationUrl: 'https://x.test/a',
				tokenUrl: 'https://x.test/t',
				clientAuthentication: 'body',
				pkce: true,
				tokenParameters: { client_secret: 'x' },
			},
		],
		[
			'a misspelt setting',
			{
				name: 'X',
				docsUrl: 'https://x.test',
				authorizationUrl: 'https://x.test/a',
				tokenUrl: 'https://x.test/t',
				clientAuthentication: 'body',
				pkce: true,
				pcke: false,
			},
		],
		[
			'a placeholder with neither pattern nor choices',
			{
				name: 'X',
				docsUrl: 'https://x.test',
				authorizationUrl: 'https://{h}/a',
				tokenUrl: 'https://{h}/t',
				clientAuthentication: 'body',
				pkce: true,
				placeholders: { h: { field: 'tenant' } },
			},
		],
	])('refuses %s', (_what, preset) => {
		expect(validate({ providers: { broken: preset } })).toBe(false);
	});

	it('has at least 12 providers besides Custom, each citing the documentation it follows', () => {
		const providers = presets.filter((p) => p.id !== 'custom');
		expect(providers.length).toBeGreaterThanOrEqual(12);
		for (const preset of providers) expect(new URL(preset.docsUrl).protocol).toBe('https:');
	});

	it.each(presets.map((p) => [p.id, p] as const))(
		'%s: every placeholder in its URLs is declared, and every declared one is used',
		(_id, preset) => {
			const used = new Set(
				[preset.authorizationUrl, preset.tokenUrl, preset.revocationUrl].flatMap((url) =>
					[...url.matchAll(/\{(\w+)\}/g)].map((m) => m[1]),
				),
			);
			expect([...used].sort()).toEqual(Object.keys(preset.placeholders).sort());
			for (const rule of Object.values(preset.placeholders))
				if (rule.pattern) expect(() => new RegExp(rule.pattern!)).not.toThrow();
			if (preset.connectionIdFrom)
				expect(new RegExp(preset.connectionIdFrom.pattern).source).toContain('(');
		},
	);

	it('presets reading the same App credential field read it alike (the credential shows one field for them)', () => {
		const rules = presets.flatMap((p) => Object.values(p.placeholders));
		for (const rule of rules)
			expect(rules.filter((r) => r.field === rule.field)).toEqual(
				rules.filter((r) => r.field === rule.field).map(() => rule),
			);
	});
});

describe.each(presets.map((p) => [p.name, p] as const))('%s preset', (_name, preset) => {
	it('builds its authorization URL, code exchange and refresh request from the data', async () => {
		const callback = Object.fromEntries(
			preset.keepCallbackFields.map((field) => [field, `callback-${field}`]),
		);
		const { client, store, manager } = managerFor(settingsFor(preset));
		const tokenUrl = preset.tokenUrl
			? filled(preset, preset.tokenUrl)
			: 'https://auth.custom.test/token';
		expect(client.tokenUrl).toBe(tokenUrl);

		const start = await manager.buildAuthorizationUrl('preset:acme');
		const url = new URL(start.authorizationUrl);
		expect(`${url.origin}${url.pathname}`).toBe(
			preset.authorizationUrl
				? filled(preset, preset.authorizationUrl)
				: 'https://auth.custom.test/authorize',
		);
		const query = Object.fromEntries(url.searchParams);
		expect(query).toMatchObject({
			response_type: 'code',
			client_id: CLIENT_ID,
			redirect_uri: REDIRECT_URI,
			state: start.state,
			...preset.authorizationParameters,
		});
		if (preset.defaultScopes.length)
			expect(query.scope).toBe(preset.defaultScopes.join(preset.scopeSeparator));
		else expect(query).not.toHaveProperty('scope');
		expect(query.code_challenge_method).toBe(preset.pkce ? 'S256' : undefined);

		const seen = tokenEndpoint(preset, tokenUrl);
		const exchanged = await manager.exchangeAuthorizationCode('preset:acme', {
			code: 'the-code',
			state: start.state,
			callbackFields: { ...callback, unrelated: 'x' },
		});
		const [exchange] = seen;
		expectClientAuthentication(preset, exchange);
		expect(exchange.form).toMatchObject({
			grant_type: 'authorization_code',
			code: 'the-code',
			redirect_uri: REDIRECT_URI,
			...preset.tokenParameters,
		});
		expect(Boolean(exchange.form.code_verifier)).toBe(preset.pkce);
		const keptResponse = keptAnswer(preset);
		expect(exchanged.connection.metadata).toEqual({ ...callback, ...keptResponse });
		expect(exchanged.connection.provider).toBe(preset.id);

		const refreshed = await manager.refreshToken('preset:acme', { force: true });
		const refresh = seen[1];
		expectClientAuthentication(preset, refresh);
		expect(refresh.form).toEqual({
			grant_type: 'refresh_token',
			refresh_token: 'refresh-1',
			...preset.refreshParameters,
			...(preset.clientAuthentication === 'body'
				? { client_id: CLIENT_ID, client_secret: CLIENT_SECRET }
				: {}),
		});
		expect(refreshed.connection.accessToken).toBe('access-2');
		expect((await store.get('preset:acme'))?.metadata).toEqual({ ...callback, ...keptResponse });
	});
});

describe('what the named providers need, as their documentation says', () => {
	const authorizationQuery = async (preset: string, settings: Partial<OAuthClientSettings> = {}) =>
		Object.fromEntries(
			new URL(
				(
					await managerFor(
						settingsFor(PROVIDER_PRESETS[preset], settings),
					).manager.buildAuthorizationUrl('c')
				).authorizationUrl,
			).searchParams,
		);

	it('Google asks for offline access with consent, so that a refresh token is issued', async () => {
		expect(await authorizationQuery('google')).toMatchObject({
			access_type: 'offline',
			prompt: 'consent',
		});
	});

	it('Dropbox asks for offline access (token_access_type=offline)', async () => {
		expect(await authorizationQuery('dropbox')).toMatchObject({ token_access_type: 'offline' });
	});

	it('Microsoft Entra ID puts the tenant in its URLs', () => {
		const client = resolveOAuthClient(
			settingsFor(PROVIDER_PRESETS.microsoft, {
				placeholderValues: { tenant: '72f988bf-86f1-41af-91ab-2d7cd011db47' },
			}),
		);
		expect(client.tokenUrl).toBe(
			'https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token',
		);
		expect(client.scopes).toContain('offline_access');
	});

	it('Salesforce signs production orgs in at login.salesforce.com and sandboxes at test.salesforce.com, and keeps instance_url', () => {
		const at = (environment: string) =>
			resolveOAuthClient(
				settingsFor(PROVIDER_PRESETS.salesforce, { placeholderValues: { environment } }),
			);
		expect(at('production').tokenUrl).toBe('https://login.salesforce.com/services/oauth2/token');
		expect(at('').authorizationUrl).toBe('https://login.salesforce.com/services/oauth2/authorize');
		expect(at('sandbox').revocationUrl).toBe('https://test.salesforce.com/services/oauth2/revoke');
		expect(at('sandbox').keepResponseFields).toEqual(['instance_url']);
	});

	it('Zoho goes to the accounts server of the data center (accounts.zoho.com when none is set), keeps api_domain, and joins scopes with commas', async () => {
		const zoho = (accountsServer: string, scopes: string[] = []) =>
			resolveOAuthClient(
				settingsFor(PROVIDER_PRESETS.zoho, { placeholderValues: { accountsServer }, scopes }),
			);
		expect(zoho('').tokenUrl).toBe('https://accounts.zoho.com/oauth/v2/token');
		expect(zoho('accounts.zohocloud.ca').tokenUrl).toBe(
			'https://accounts.zohocloud.ca/oauth/v2/token',
		);
		expect(zoho('accounts.zoho.eu').keepResponseFields).toEqual(['api_domain']);
		expect(
			(await authorizationQuery('zoho', { scopes: ['ZohoCRM.modules.ALL', 'ZohoCRM.users.READ'] }))
				.scope,
		).toBe('ZohoCRM.modules.ALL,ZohoCRM.users.READ');
	});

	it('Xero, Intuit, Microsoft and Atlassian are marked as rotating their refresh tokens', () => {
		expect(presets.filter((p) => p.rotatingRefreshTokens).map((p) => p.id)).toEqual(
			expect.arrayContaining(['xero', 'quickbooks', 'microsoft', 'atlassian', 'pipedrive']),
		);
	});

	it('Slack uses its v2 endpoints and takes its "bot" tokens as Bearer tokens', async () => {
		const preset = PROVIDER_PRESETS.slack;
		expect(preset.tokenUrl).toBe('https://slack.com/api/oauth.v2.access');
		const { manager } = managerFor(settingsFor(preset));
		tokenEndpoint(preset, preset.tokenUrl, { token_type: 'bot' });
		await expect(
			manager.exchangeAuthorizationCode('slack:T1', { code: 'c', allowMissingState: true }),
		).resolves.toMatchObject({ connection: { tokenType: 'Bearer' } });
	});

	it('Slack answers a dead refresh token with HTTP 200 and ok:false: the connection needs re-authorization', async () => {
		const preset = PROVIDER_PRESETS.slack;
		const { manager, store } = managerFor(settingsFor(preset));
		tokenEndpoint(preset, preset.tokenUrl);
		await manager.exchangeAuthorizationCode('slack:T1', { code: 'c', allowMissingState: true });
		nock.cleanAll();
		nock('https://slack.com')
			.post('/api/oauth.v2.access')
			.reply(200, { ok: false, error: 'invalid_refresh_token' });
		await expect(manager.refreshToken('slack:T1', { force: true })).rejects.toThrow(
			NeedsReauthorizationError,
		);
		expect(await store.get('slack:T1')).toMatchObject({ status: 'needs_reauth' });
	});

	it('a 2xx answer with an error code and no token is a refusal, whatever the provider', async () => {
		const preset = PROVIDER_PRESETS.calendly;
		const { manager } = managerFor(settingsFor(preset));
		nock('https://auth.calendly.com')
			.post('/oauth/token')
			.reply(200, { error: 'invalid_request', error_description: 'code is missing' });
		const exchange = manager.exchangeAuthorizationCode('c:1', {
			code: 'c',
			allowMissingState: true,
		});
		await expect(exchange).rejects.toThrow(
			'The token endpoint refused the request (HTTP 200): invalid_request – code is missing',
		);
	});
});

describe('Intuit QuickBooks: realmId arrives on the callback', () => {
	it('is kept from the callback query beside the kept response fields, and survives refreshes', async () => {
		const preset = PROVIDER_PRESETS.quickbooks;
		const { manager, store } = managerFor(settingsFor(preset));
		const start = await manager.buildAuthorizationUrl('qbo:acme');
		tokenEndpoint(preset, preset.tokenUrl);
		await manager.exchangeAuthorizationCode('qbo:acme', {
			code: 'c',
			state: start.state,
			callbackFields: { code: 'c', state: start.state, realmId: '9130357992' },
		});
		await manager.refreshToken('qbo:acme', { force: true });
		expect((await store.get('qbo:acme'))?.metadata).toEqual({ realmId: '9130357992' });
	});

	it('a realmId that is not a short text is refused before the code is spent', async () => {
		const { manager } = managerFor(settingsFor(PROVIDER_PRESETS.quickbooks));
		const start = await manager.buildAuthorizationUrl('qbo:acme');
		const exchange = manager.exchangeAuthorizationCode('qbo:acme', {
			code: 'c',
			state: start.state,
			callbackFields: { realmId: { nested: true } },
		});
		await expect(exchange).rejects.toThrow(
			new InvalidInputError(
				'callbackFields',
				'has an unusable "realmId": a text of at most 1024 characters without control characters is kept',
			),
		);
	});

	it('the App credential can keep further callback fields', async () => {
		const preset = PROVIDER_PRESETS.pipedrive;
		const { manager, store } = managerFor(
			settingsFor(preset, { keepCallbackFields: ['install_source'] }),
		);
		tokenEndpoint(preset, preset.tokenUrl);
		await manager.exchangeAuthorizationCode('pipedrive:x', {
			code: 'c',
			allowMissingState: true,
			callbackFields: { install_source: 'marketplace' },
		});
		expect((await store.get('pipedrive:x'))?.metadata).toEqual({
			install_source: 'marketplace',
			api_domain: 'https://acme.pipedrive.com',
		});
	});
});

describe('placeholders', () => {
	it('a required one left empty names its App credential field', () => {
		expect(() =>
			resolveOAuthClient(
				settingsFor(PROVIDER_PRESETS.microsoft, { placeholderValues: { tenant: '  ' } }),
			),
		).toThrow(new MissingInputError('tenant'));
	});

	it.each([
		['tenant', 'microsoft', 'contoso.com/../evil'],
		['tenant', 'microsoft', 'https://login.example.com'],
		['accountsServer', 'zoho', 'accounts.evil.example'],
		['accountsServer', 'zoho', 'accounts.zoho.eu/path'],
		['accountsServer', 'zoho', 'accounts.zoho.eu:8443'],
	] as const)(
		'%s refuses %s values that are not a plain tenant or host: %s',
		(field, preset, value) => {
			const error = (() => {
				try {
					resolveOAuthClient(
						settingsFor(PROVIDER_PRESETS[preset], { placeholderValues: { [field]: value } }),
					);
				} catch (e) {
					return e;
				}
			})();
			expect(error).toBeInstanceOf(InvalidInputError);
			expect(error).toMatchObject({
				field,
				problem: expect.stringMatching(
					/^must be a plain name or host, such as .+ \(no https:\/\/, path or spaces\)/,
				),
			});
		},
	);

	it('an environment that is not one of the choices is refused', () => {
		expect(() =>
			resolveOAuthClient(
				settingsFor(PROVIDER_PRESETS.salesforce, { placeholderValues: { environment: 'staging' } }),
			),
		).toThrow(new InvalidInputError('environment', 'must be one of production, sandbox'));
	});

	it('the same setting typed differently gives the same app fingerprint; another data center, another app', () => {
		const zoho = (accountsServer: string) =>
			appFingerprint(
				resolveOAuthClient(
					settingsFor(PROVIDER_PRESETS.zoho, { placeholderValues: { accountsServer } }),
				),
			);
		expect(zoho(' Accounts.Zoho.EU ')).toBe(zoho('accounts.zoho.eu'));
		expect(zoho('accounts.zoho.com')).toBe(zoho(''));
		expect(zoho('accounts.zoho.eu')).not.toBe(zoho('accounts.zoho.com'));
	});

	it('Pipedrive connections keep the fingerprint they were stored with', () => {
		const client = resolveOAuthClient({
			preset: 'pipedrive',
			clientId: CLIENT_ID,
			clientSecret: CLIENT_SECRET,
		});
		expect(appFingerprint(client)).toBe(
			appFingerprint({ tokenUrl: 'https://oauth.pipedrive.com/oauth/token', clientId: CLIENT_ID }),
		);
	});
});

describe('extra parameters', () => {
	it("the App credential extends and overrides the preset's, per stage", async () => {
		const preset = PROVIDER_PRESETS.google;
		const { manager } = managerFor(
			settingsFor(preset, {
				authorizationParameters: parseExtraParameters(
					'authorizationParameters',
					'prompt=select_account&login_hint=a%40b.test',
				),
				tokenParameters: parseExtraParameters(
					'tokenParameters',
					'{"resource": "https://api.example.test"}',
				),
				refreshParameters: { audience: 'refresh-audience' },
			}),
		);
		const start = await manager.buildAuthorizationUrl('g:1');
		expect(Object.fromEntries(new URL(start.authorizationUrl).searchParams)).toMatchObject({
			access_type: 'offline',
			prompt: 'select_account',
			login_hint: 'a@b.test',
		});
		const seen = tokenEndpoint(preset, preset.tokenUrl);
		await manager.exchangeAuthorizationCode('g:1', { code: 'c', state: start.state });
		await manager.refreshToken('g:1', { force: true });
		expect(seen[0].form).toMatchObject({ resource: 'https://api.example.test' });
		expect(seen[0].form).not.toHaveProperty('audience');
		expect(seen[1].form).toMatchObject({ audience: 'refresh-audience' });
		expect(seen[1].form).not.toHaveProperty('resource');
	});

	it.each([
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
	])('"%s" is the engine\'s own: refused in every stage, naming the setting', (name) => {
		for (const stage of [
			'authorizationParameters',
			'tokenParameters',
			'refreshParameters',
		] as const) {
			expect(() =>
				resolveOAuthClient(settingsFor(PROVIDER_PRESETS.google, { [stage]: { [name]: 'x' } })),
			).toThrow(
				new InvalidInputError(stage, `cannot set "${name}": the token manager sets it itself`),
			);
		}
		expect(() => parseExtraParameters('tokenParameters', `${name}=x`)).toThrow(
			new InvalidInputError(
				'tokenParameters',
				`cannot set "${name}": the token manager sets it itself`,
			),
		);
	});

	it('unreadable settings say how to write them', () => {
		expect(() => parseExtraParameters('refreshParameters', '{"audience": ')).toThrow(
			/refreshParameters are not valid JSON/,
		);
		expect(() => parseExtraParameters('refreshParameters', '["audience"]')).toThrow(
			/must be a JSON object of texts/,
		);
		expect(() => parseExtraParameters('refreshParameters', '{"audience": 3}')).toThrow(
			'refreshParameters set "audience" to a number: each value must be text',
		);
		expect(() => parseExtraParameters('refreshParameters', '=x')).toThrow(/without a name/);
	});
});

describe("a connection id derived from the provider's answer (Pipedrive Marketplace installs)", () => {
	const preset = PROVIDER_PRESETS.pipedrive;

	it('is "pipedrive:" and the company subdomain of api_domain, for a callback without state when a missing state is allowed', async () => {
		const { manager, store } = managerFor(settingsFor(preset));
		tokenEndpoint(preset, preset.tokenUrl, { api_domain: 'https://Acme-Corp.pipedrive.com' });
		const result = await manager.exchangeAuthorizationCode(null, {
			code: 'c',
			allowMissingState: true,
		});
		expect(result.connection.connectionId).toBe('pipedrive:acme-corp');
		expect((await store.get('pipedrive:acme-corp'))?.metadata).toEqual({
			api_domain: 'https://Acme-Corp.pipedrive.com',
		});
	});

	it("a reinstall by the same company replaces that company's connection", async () => {
		const { manager, store } = managerFor(settingsFor(preset));
		tokenEndpoint(preset, preset.tokenUrl);
		await manager.exchangeAuthorizationCode(null, { code: 'c1', allowMissingState: true });
		await manager.exchangeAuthorizationCode(null, { code: 'c2', allowMissingState: true });
		expect((await store.list({ limit: 10 })).map((c) => c.connectionId)).toEqual([
			'pipedrive:acme',
		]);
		expect((await manager.getValidToken('pipedrive:acme')).connection.accessToken).toBe('access-2');
	});

	it('is refused unless a missing state is allowed, when a state came, or when the preset derives none; nothing is sent', async () => {
		const { manager } = managerFor(settingsFor(preset));
		const seen = tokenEndpoint(preset, preset.tokenUrl);
		await expect(manager.exchangeAuthorizationCode(null, { code: 'c' })).rejects.toThrow(
			/^connectionId is empty: it is derived from the provider's answer only for callbacks without state/,
		);
		await expect(
			manager.exchangeAuthorizationCode(null, { code: 'c', state: 'a.b', allowMissingState: true }),
		).rejects.toThrow(
			'connectionId is empty although the callback has a state: take the connection id from the state',
		);
		const google = managerFor(settingsFor(PROVIDER_PRESETS.google)).manager;
		await expect(
			google.exchangeAuthorizationCode(null, { code: 'c', allowMissingState: true }),
		).rejects.toThrow(
			"connectionId is empty, and the Google preset derives none from the provider's answer: set one per authorized account",
		);
		expect(seen).toEqual([]);
	});

	it('never replaces a connection named for another company: pipedrive:acme authorized for acme-corp survives an install from acme, byte for byte', async () => {
		const { manager, store } = managerFor(settingsFor(preset));
		const start = await manager.buildAuthorizationUrl('pipedrive:acme');
		tokenEndpoint(preset, preset.tokenUrl, { api_domain: 'https://acme-corp.pipedrive.com' });
		await manager.exchangeAuthorizationCode('pipedrive:acme', { code: 'c1', state: start.state });
		const owned = await store.get('pipedrive:acme');
		nock.cleanAll();
		const seen = tokenEndpoint(preset, preset.tokenUrl, {
			api_domain: 'https://acme.pipedrive.com',
			access_token: 'access-of-acme',
			refresh_token: 'refresh-of-acme',
		});

		const install = manager.exchangeAuthorizationCode(null, {
			code: 'c2',
			allowMissingState: true,
		});
		await expect(install).rejects.toThrow(ConnectionClaimedError);
		await expect(install).rejects.toThrow(
			'Connection "pipedrive:acme" already exists for another Pipedrive account or through another app, so an install without state may not replace it. The install\'s tokens were not stored; the existing connection is unchanged.',
		);
		expect(seen).toHaveLength(1);
		expect(await store.get('pipedrive:acme')).toEqual(owned);
		expect((await store.list({ limit: 10 })).map((c) => c.connectionId)).toEqual([
			'pipedrive:acme',
		]);
		expect((await manager.getValidToken('pipedrive:acme')).connection).toMatchObject({
			accessToken: 'access-1',
			refreshToken: 'refresh-1',
			metadata: { api_domain: 'https://acme-corp.pipedrive.com' },
		});
	});

	it("never replaces the same company's connection authorized through another app, nor one that kept no api_domain", async () => {
		const otherApp = managerFor(settingsFor(preset, { clientId: 'another-pipedrive-app-id' }));
		tokenEndpoint(preset, preset.tokenUrl);
		await otherApp.manager.exchangeAuthorizationCode(null, { code: 'c1', allowMissingState: true });
		const owned = await otherApp.store.get('pipedrive:acme');
		const thisApp = new TokenManager({
			store: otherApp.store,
			cipher: new TokenCipher('presets-test-encryption-key-0001'),
			client: managerFor(settingsFor(preset)).client,
			endpoint: { maxRetries: 0 },
		});
		await expect(
			thisApp.exchangeAuthorizationCode(null, { code: 'c2', allowMissingState: true }),
		).rejects.toThrow(ConnectionClaimedError);
		expect(await otherApp.store.get('pipedrive:acme')).toEqual(owned);

		const withoutDomain = await otherApp.store.update('pipedrive:acme', owned!.version, {
			metadata: {},
			appFingerprint: null,
		});
		tokenEndpoint(preset, preset.tokenUrl);
		await expect(
			thisApp.exchangeAuthorizationCode(null, { code: 'c3', allowMissingState: true }),
		).rejects.toThrow(ConnectionClaimedError);
		expect(await otherApp.store.get('pipedrive:acme')).toEqual(withoutDomain);
	});

	it('an answer without a usable api_domain stores nothing and says why', async () => {
		const { manager, store } = managerFor(settingsFor(preset));
		tokenEndpoint(preset, preset.tokenUrl, { api_domain: 'https://evil.example.com' });
		const exchange = manager.exchangeAuthorizationCode(null, {
			code: 'c',
			allowMissingState: true,
		});
		await expect(exchange).rejects.toThrow(TokenEndpointError);
		await expect(exchange).rejects.toThrow(
			'The token response has no usable api_domain to derive the connection id from; the tokens were not stored',
		);
		expect(await store.list({ limit: 10 })).toEqual([]);
	});
});

describe('presetFromData', () => {
	it('fills every optional setting with its default', () => {
		const preset = presetFromData('x', {
			name: 'X',
			docsUrl: 'https://x.test',
			authorizationUrl: 'https://x.test/a',
			tokenUrl: 'https://x.test/t',
			clientAuthentication: 'body',
			pkce: false,
		});
		expect(preset).toMatchObject({
			revocationUrl: '',
			scopeSeparator: ' ',
			defaultScopes: [],
			tokenParameters: {},
			keepCallbackFields: [],
			bearerTokenTypes: [],
			connectionIdFrom: null,
			placeholders: {},
		});
	});
});
