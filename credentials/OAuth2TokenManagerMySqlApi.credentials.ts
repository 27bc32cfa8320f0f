import type { ICredentialType, INodeProperties } from 'n8n-workflow';
import {
	createTableIfMissingField,
	databaseServerFields,
	idleTimeoutField,
	sslFields,
} from './databaseServerFields';
import { tokenEncryptionFields } from './tokenEncryptionFields';

/**
 * Where tokens are kept on a MySQL 8 or MariaDB 10.5+ server. The node creates the table when "Create Table If
 * Missing" is on; otherwise run sql/mysql.sql. The node's credential test connects and checks the table's columns.
 */
export class OAuth2TokenManagerMySqlApi implements ICredentialType {
	name = 'oAuth2TokenManagerMySqlApi';

	displayName = 'OAuth2 Token Manager MySQL';

	documentationUrl =
		'https://github.com/n8n-nodes-oauth2-token-manager/n8n-nodes-oauth2-token-manager#credentials';

	properties: INodeProperties[] = [
		// No default database: MySQL's own is "mysql", the system database, where no token table belongs.
		...databaseServerFields({
			database: '',
			user: 'mysql',
			port: 3306,
			databaseHint:
				'The database of the token table, e.g. one made for it: CREATE DATABASE n8n_tokens',
		}),
		...sslFields,
		{
			displayName: 'Table Name',
			name: 'tableName',
			type: 'string',
			default: 'oauth2_tokens',
			description:
				'Table holding the tokens, in the database above: letters, digits and underscores. Its shape is in sql/mysql.sql.',
		},
		createTableIfMissingField,
		idleTimeoutField,
		...tokenEncryptionFields,
	];
}
