import type { ICredentialType, INodeProperties } from 'n8n-workflow';
import { PROVIDER_PRESETS, type PlaceholderField, type ProviderPreset } from '../engine/presets';

const customOnly = { show: { preset: ['custom'] } };
const presets = Object.values(PROVIDER_PRESETS);

/** The presets whose URLs take a value from this field, and that value's rule. */
function placeholderUsers(field: PlaceholderField) {
	const users = presets.flatMap((preset) =>
		Object.values(preset.placeholders)
			.filter((rule) => rule.field === field)
			.map((rule) => ({ preset, rule })),
	);
	return { shownFor: { show: { preset: users.map((u) => u.preset.id) } }, rule: users[0]?.rule };
}

/** One line per preset in the Provider list: where it sends the client, and what it keeps. */
function summary(preset: ProviderPreset): string {
	if (!preset.tokenUrl) return 'Any OAuth 2.0 provider: enter its endpoints';
	const kept = [...preset.keepResponseFields, ...preset.keepCallbackFields];
	return [
		preset.tokenUrl.replace(/^https:\/\//, '').split('/')[0],
		kept.length ? `keeps ${kept.join(', ')}` : '',
	]
		.filter(Boolean)
		.join(', ');
}

const tenant = placeholderUsers('tenant');
const accountsServer = placeholderUsers('accountsServer');
const environment = placeholderUsers('environment');

const parametersHint =
	"name=value&name2=value2, or a JSON object. Added to the provider preset's own (same name: this value wins). Not for secrets: they are sent as given.";

/** The OAuth client (the app registered with the provider). Its secret never leaves the token requests. */
export class OAuth2TokenManagerAppApi implements ICredentialType {
	name = 'oAuth2TokenManagerAppApi';

	displayName = 'OAuth2 Token Manager App';

	documentationUrl =
		'https://github.com/n8n-nodes-oauth2-token-manager/n8n-nodes-oauth2-token-manager';

	properties: INodeProperties[] = [
		{
			displayName: 'Provider',
			name: 'preset',
			type: 'options',
			options: presets.map((preset) => ({
				name: preset.name,
				value: preset.id,
				description: summary(preset),
			})),
			default: 'pipedrive',
		},
		// The Custom preset's endpoints come first, as in n8n's own OAuth2 credential. n8n 1.x's public API also keys
		// every field shown by Provider on the first such field's value, so this makes its credential schema "Custom".
		{
			displayName: 'Authorization URL',
			name: 'authorizationUrl',
			type: 'string',
			default: '',
			placeholder: 'https://provider.example.com/oauth/authorize',
			displayOptions: customOnly,
			required: true,
		},
		{
			displayName: 'Token URL',
			name: 'tokenUrl',
			type: 'string',
			default: '',
			placeholder: 'https://provider.example.com/oauth/token',
			displayOptions: customOnly,
			required: true,
		},
		{
			displayName: 'Revocation URL',
			name: 'revocationUrl',
			type: 'string',
			default: '',
			placeholder: 'https://provider.example.com/oauth/revoke',
			description: 'RFC 7009 endpoint; leave empty if the provider has none',
			displayOptions: customOnly,
		},
		{
			displayName: 'Client Authentication',
			name: 'clientAuthentication',
			type: 'options',
			options: [
				{ name: 'HTTP Basic (Recommended)', value: 'basic' },
				{ name: 'In the Request Body', value: 'body' },
			],
			default: 'basic',
			displayOptions: customOnly,
		},
		{
			displayName: 'Use PKCE',
			name: 'pkce',
			type: 'boolean',
			default: true,
			description:
				'Whether Build Authorization URL adds an RFC 7636 S256 code challenge (the verifier stays encrypted inside the signed state). Turn off only for a provider that rejects it.',
			displayOptions: customOnly,
		},
		{
			displayName: 'Tenant',
			name: 'tenant',
			type: 'string',
			default: '',
			placeholder: 'contoso.onmicrosoft.com',
			description: `The directory the app signs users in from: ${tenant.rule?.example ?? 'its name or ID'}`,
			displayOptions: tenant.shownFor,
			required: true,
		},
		{
			displayName: 'Accounts Server',
			name: 'accountsServer',
			type: 'string',
			default: '',
			placeholder: accountsServer.rule?.default,
			description: `The accounts server of the data center the accounts live in, e.g. ${accountsServer.rule?.example ?? ''}. Empty: ${accountsServer.rule?.default ?? ''}.`,
			displayOptions: accountsServer.shownFor,
		},
		{
			displayName: 'Environment',
			name: 'environment',
			type: 'options',
			options: Object.entries(environment.rule?.values ?? {}).map(([value, host]) => ({
				name: `${value[0].toUpperCase()}${value.slice(1)}`,
				value,
				description: host,
			})),
			default: environment.rule?.default ?? '',
			description: 'Where the accounts sign in: a production org or a sandbox',
			displayOptions: environment.shownFor,
		},
		{
			displayName: 'Client ID',
			name: 'clientId',
			type: 'string',
			default: '',
			required: true,
		},
		{
			displayName: 'Client Secret',
			name: 'clientSecret',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			required: true,
		},
		{
			displayName: 'Redirect URI',
			name: 'redirectUri',
			type: 'string',
			default: '',
			placeholder: 'https://n8n.example.com/webhook/pipedrive/oauth/callback',
			hint: 'Paste the Production URL of the "OAuth Callback" webhook of the Connect workflow (with the bundled one: https://YOUR-N8N-HOST/webhook/pipedrive/oauth/callback) and register exactly the same URL with the provider.',
			required: true,
		},
		{
			displayName: 'Scopes',
			name: 'scopes',
			type: 'string',
			default: '',
			placeholder: 'deals:read users:read',
			description:
				"Space-separated scopes to request when building the authorization URL. Empty: the provider preset's default scopes, if any. Pipedrive takes scopes from the app settings; leave empty there.",
		},
		{
			displayName: 'Authorization Parameters',
			name: 'authorizationParameters',
			type: 'string',
			default: '',
			placeholder: 'audience=api.example.com&prompt=consent',
			description: `Extra query parameters of the authorization URL: ${parametersHint}`,
		},
		{
			displayName: 'Code Exchange Parameters',
			name: 'codeExchangeParameters',
			type: 'string',
			default: '',
			placeholder: 'resource=https://api.example.com',
			description: `Extra form parameters of the authorization code exchange: ${parametersHint}`,
		},
		{
			displayName: 'Refresh Request Parameters',
			name: 'refreshParameters',
			type: 'string',
			default: '',
			placeholder: 'resource=https://api.example.com',
			description: `Extra form parameters of each refresh request: ${parametersHint}`,
		},
		{
			displayName: 'Callback Fields to Keep',
			name: 'keepCallbackFields',
			type: 'string',
			default: '',
			placeholder: 'realmId',
			description:
				"Comma-separated fields of the callback's query stored beside the tokens, added to the provider preset's own (Intuit's realmId is kept already)",
		},
		{
			displayName: 'Response Fields to Keep',
			name: 'keepResponseFields',
			type: 'string',
			default: '',
			placeholder: 'api_domain, instance_url',
			description:
				"Comma-separated fields of the token response stored beside the tokens and returned by the node, added to the provider preset's own",
		},
	];
}
