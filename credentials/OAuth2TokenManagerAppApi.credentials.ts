import type { ICredentialType, INodeProperties } from 'n8n-workflow';

const customOnly = { show: { preset: ['custom'] } };

/** The OAuth client (the app registered with the provider). Its secret never leaves the token requests. */
export class OAuth2TokenManagerAppApi implements ICredentialType {
	name = 'oAuth2TokenManagerAppApi';

	displayName = 'OAuth2 Token Manager App';

	documentationUrl = 'https://github.com/n8n-nodes-oauth2-token-manager/n8n-nodes-oauth2-token-manager';

	properties: INodeProperties[] = [
		{
			displayName: 'Provider',
			name: 'preset',
			type: 'options',
			options: [
				{ name: 'Pipedrive', value: 'pipedrive', description: 'oauth.pipedrive.com, Basic client authentication, keeps api_domain' },
				{ name: 'Custom', value: 'custom', description: 'Any OAuth 2.0 provider: enter its endpoints' },
			],
			default: 'pipedrive',
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
			description: 'Space-separated scopes to request when building the authorization URL. Pipedrive takes scopes from the app settings; leave empty there.',
		},
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
			displayName: 'Response Fields to Keep',
			name: 'keepResponseFields',
			type: 'string',
			default: '',
			placeholder: 'api_domain, instance_url',
			description: 'Comma-separated fields of the token response stored beside the tokens and returned by the node',
			displayOptions: customOnly,
		},
	];
}
