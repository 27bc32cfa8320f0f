import type { ICredentialType, INodeProperties } from 'n8n-workflow';
import {
	createTableIfMissingField,
	databaseServerFields,
	idleTimeoutField,
	sslFields,
} from './databaseServerFields';
import { tokenEncryptionFields } from './tokenEncryptionFields';

/**
 * Where tokens are kept on a PostgreSQL server (Supabase's direct connection works too). The node creates the
 * table when "Create Table If Missing" is on; otherwise run sql/postgres.sql. The node's credential test connects
 * and checks the table's columns.
 */
export class OAuth2TokenManagerPostgresApi implements ICredentialType {
	name = 'oAuth2TokenManagerPostgresApi';

	displayName = 'OAuth2 Token Manager PostgreSQL';

	documentationUrl =
		'https://github.com/n8n-nodes-oauth2-token-manager/n8n-nodes-oauth2-token-manager#credentials';

	properties: INodeProperties[] = [
		...databaseServerFields({ database: 'postgres', user: 'postgres', port: 5432 }),
		...sslFields,
		{
			displayName: 'Table Name',
			name: 'tableName',
			type: 'string',
			default: 'oauth2_tokens',
			description:
				'Table holding the tokens: letters, digits and underscores, optionally prefixed by a schema ("tokens.oauth2_tokens"). Its shape is in sql/postgres.sql.',
		},
		createTableIfMissingField,
		idleTimeoutField,
		...tokenEncryptionFields,
	];
}
