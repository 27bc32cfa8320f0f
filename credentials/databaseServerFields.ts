import type { INodeProperties } from 'n8n-workflow';

/** Connection fields of a database server credential, named as in n8n's own Postgres and MySQL credentials. */
export function databaseServerFields(defaults: { database: string; user: string; port: number; databaseHint?: string }): INodeProperties[] {
	return [
		{ displayName: 'Host', name: 'host', type: 'string', default: 'localhost', required: true },
		{
			displayName: 'Database',
			name: 'database',
			type: 'string',
			default: defaults.database,
			required: true,
			placeholder: 'n8n',
			...(defaults.databaseHint ? { hint: defaults.databaseHint } : {}),
		},
		{ displayName: 'User', name: 'user', type: 'string', default: defaults.user, required: true },
		{ displayName: 'Password', name: 'password', type: 'string', typeOptions: { password: true }, default: '' },
		{ displayName: 'Port', name: 'port', type: 'number', default: defaults.port },
	];
}

export const createTableIfMissingField: INodeProperties = {
	displayName: 'Create Table If Missing',
	name: 'createTableIfMissing',
	type: 'boolean',
	default: true,
	description:
		'Whether the node creates the table on first use when it does not exist (needs the CREATE privilege), and adds to a table created by an earlier version the nullable columns added since (needs the ALTER privilege). A table of another shape is never changed.',
};
