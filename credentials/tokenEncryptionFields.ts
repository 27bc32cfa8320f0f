import type { INodeProperties } from 'n8n-workflow';

/** The key fields every storage credential shares: tokens are encrypted with them before they reach a database. */
export const tokenEncryptionFields: INodeProperties[] = [
	{
		displayName: 'Token Encryption Key',
		name: 'encryptionKey',
		type: 'string',
		typeOptions: { password: true },
		default: '',
		required: true,
		description:
			'Generate one in a terminal with: openssl rand -base64 32 (paste its output here; at least 16 characters). Tokens are stored encrypted with it; keep it safe, without it stored tokens cannot be read.',
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
