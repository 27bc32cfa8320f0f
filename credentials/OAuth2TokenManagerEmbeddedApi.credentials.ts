import type { ICredentialType, INodeProperties } from 'n8n-workflow';

/**
 * Tokens in a SQLite file on the n8n host, through Node's built-in node:sqlite (n8n 2.x's Node has it): nothing
 * to set up. Several n8n processes on one host may share the file (WAL mode); it must be on a local disk.
 */
export class OAuth2TokenManagerEmbeddedApi implements ICredentialType {
	name = 'oAuth2TokenManagerEmbeddedApi';

	displayName = 'OAuth2 Token Manager Embedded (SQLite)';

	documentationUrl = 'https://github.com/n8n-nodes-oauth2-token-manager/n8n-nodes-oauth2-token-manager#credentials';

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
			description: 'Table holding the tokens: letters, digits and underscores. Created on first use (see sql/sqlite.sql).',
		},
		{
			displayName: 'Token Encryption Key',
			name: 'encryptionKey',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			required: true,
			description:
				'At least 16 characters (e.g. the output of `openssl rand -base64 32`). Tokens are stored encrypted with it; keep it safe, without it stored tokens cannot be read.',
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
