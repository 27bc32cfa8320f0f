import type { ICredentialType, INodeProperties } from 'n8n-workflow';
import { tokenEncryptionFields } from './tokenEncryptionFields';

/** Where tokens are kept on Supabase. Create the table with sql/postgres.sql and sql/supabase.sql first. */
export class OAuth2TokenManagerSupabaseApi implements ICredentialType {
	name = 'oAuth2TokenManagerSupabaseApi';

	displayName = 'OAuth2 Token Manager Supabase';

	documentationUrl =
		'https://github.com/n8n-nodes-oauth2-token-manager/n8n-nodes-oauth2-token-manager';

	properties: INodeProperties[] = [
		{
			displayName:
				"Before the first use, run two SQL files from the sql/ folder of this node's repository (see Docs) in your Supabase project's SQL Editor, in this order: sql/postgres.sql (the token tables), then sql/supabase.sql (row level security, so only the service role reaches the rows). Run both again after an upgrade.",
			name: 'sqlNotice',
			type: 'notice',
			default: '',
		},
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
			description:
				'The service_role key (Project Settings → API). The table has row level security with no policy, so other keys cannot read it.',
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
		...tokenEncryptionFields,
	];
}
