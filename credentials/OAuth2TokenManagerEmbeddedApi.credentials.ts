import type { ICredentialType, INodeProperties } from 'n8n-workflow';
import { tokenEncryptionFields } from './tokenEncryptionFields';

/**
 * Tokens in a SQLite file on the n8n host, through Node's built-in node:sqlite (n8n 2.x's Node has it): nothing
 * to set up. Several n8n processes on one host may share the file (WAL mode); it must be on a local disk.
 */
export class OAuth2TokenManagerEmbeddedApi implements ICredentialType {
	name = 'oAuth2TokenManagerEmbeddedApi';

	displayName = 'OAuth2 Token Manager Embedded (SQLite)';

	documentationUrl =
		'https://github.com/n8n-nodes-oauth2-token-manager/n8n-nodes-oauth2-token-manager#credentials';

	properties: INodeProperties[] = [
		{
			displayName: 'File Path',
			name: 'filePath',
			type: 'string',
			default: '',
			placeholder: '~/.n8n/oauth2-token-manager.sqlite',
			description:
				"SQLite file for the tokens. Empty: oauth2-token-manager.sqlite in n8n's data folder (<N8N_USER_FOLDER>/.n8n, or ~/.n8n). It is created with its folder. Keep it on a local disk, and back it up with n8n's data.",
		},
		{
			displayName: 'Table Name',
			name: 'tableName',
			type: 'string',
			default: 'oauth2_tokens',
			description:
				'Table holding the tokens: letters, digits and underscores. Created on first use (see sql/sqlite.sql).',
		},
		...tokenEncryptionFields,
	];
}
