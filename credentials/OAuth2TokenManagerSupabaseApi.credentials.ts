import type { ICredentialType, INodeProperties } from 'n8n-workflow';

/** Where tokens are kept on Supabase. Create the table with sql/postgres.sql and sql/supabase.sql first. */
export class OAuth2TokenManagerSupabaseApi implements ICredentialType {
	name = 'oAuth2TokenManagerSupabaseApi';

	displayName = 'OAuth2 Token Manager Supabase';

	documentationUrl = 'https://github.com/n8n-nodes-oauth2-token-manager/n8n-nodes-oauth2-token-manager';

	properties: INodeProperties[] = [
		{
			displayName: 'Host',
			name: 'host',
			type: 'string',
			placeholder: 'https://your-project.supabase.co',
			default: '',
			required: true,
		},
		{
			displayName: 'Service Role Secret',
			name: 'serviceRole',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			required: true,
			description: 'The service_role key (Project Settings → API). The table has row level security with no policy, so other keys cannot read it.',
		},
		{
			displayName: 'Table Name',
			name: 'tableName',
			type: 'string',
			default: 'oauth2_tokens',
		},
		{
			displayName: 'Schema',
			name: 'schema',
			type: 'string',
			default: 'public',
		},
		{
			displayName: 'Token Encryption Key',
			name: 'encryptionKey',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			required: true,
			description: 'At least 16 characters (e.g. the output of `openssl rand -base64 32`). Tokens are stored encrypted with it; keep it safe, without it stored tokens cannot be read.',
		},
		{
			displayName: 'Previous Token Encryption Keys',
			name: 'previousEncryptionKeys',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			description:
				'To rotate the key: put the new key above and the old one(s) here, comma-separated. Tokens written under an old key stay readable and are re-encrypted with the new key on their next write.',
		},
	];
}
