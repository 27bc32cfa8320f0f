import type { ICredentialDataDecryptedObject, INodeProperties } from 'n8n-workflow';
import { InvalidInputError } from '../engine/errors';

/** Connection fields of a database server credential, named as in n8n's own Postgres and MySQL credentials. */
export function databaseServerFields(defaults: {
	database: string;
	user: string;
	port: number;
	databaseHint?: string;
}): INodeProperties[] {
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
		{
			displayName: 'Password',
			name: 'password',
			type: 'string',
			typeOptions: { password: true },
			default: '',
		},
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

/** Default of Idle Connection Timeout. */
export const DEFAULT_IDLE_TIMEOUT_SECONDS = 60;

export const idleTimeoutField: INodeProperties = {
	displayName: 'Idle Connection Timeout (Seconds)',
	name: 'idleTimeoutSeconds',
	type: 'number',
	typeOptions: { minValue: 1 },
	default: DEFAULT_IDLE_TIMEOUT_SECONDS,
	description:
		'How long a connection to the server may stay unused before the node closes it (the next call opens a new one). The node opens at most 5 per credential.',
};

/**
 * SSL of a database server credential, the same for PostgreSQL and MySQL. Field names and the Disable and Require
 * values are those of n8n's own Postgres credential, and Require verifies the certificate as there; its "Allow" is
 * left out (the drivers do not fall back to plain) and Ignore SSL Issues applies only under Require.
 */
export const sslFields: INodeProperties[] = [
	{
		displayName: 'SSL',
		name: 'ssl',
		type: 'options',
		options: [
			{
				name: 'Disable',
				value: 'disable',
				description: 'Unencrypted: only for a server on the n8n host or a private network',
			},
			{
				name: 'Require',
				value: 'require',
				description:
					"Encrypted (TLS). The server's certificate is verified against the CAs the n8n host trusts, unless Ignore SSL Issues is on.",
			},
		],
		default: 'disable',
		description:
			'Whether to connect over TLS. Hosted databases (Supabase, RDS, Neon, Azure) usually require it.',
	},
	{
		displayName: 'Ignore SSL Issues (Insecure)',
		name: 'allowUnauthorizedCerts',
		type: 'boolean',
		default: false,
		description:
			"Whether to connect even if the server's certificate cannot be verified (self-signed, or from a CA the n8n host does not trust: add that CA with NODE_EXTRA_CA_CERTS rather than turning this on)",
		// true: a MySQL credential saved when SSL was an on/off switch (n8n drops the values of hidden fields).
		displayOptions: { show: { ssl: ['require', true] } },
	},
];

/**
 * The driver's TLS settings from the SSL fields: undefined for none. Values saved by earlier versions keep their
 * meaning (MySQL's on/off switch: true is Require); a value this version does not know is refused, never read as off.
 */
export function tlsFromCredentials(
	credentials: ICredentialDataDecryptedObject,
): { rejectUnauthorized: boolean } | undefined {
	const ssl = credentials.ssl ?? 'disable';
	if (ssl === 'disable' || ssl === false) return undefined;
	if (ssl === 'require' || ssl === true)
		return { rejectUnauthorized: credentials.allowUnauthorizedCerts !== true };
	throw new InvalidInputError(
		'SSL',
		`The storage credential's SSL setting "${String(ssl)}" is not one this node knows: choose Disable or Require`,
	);
}
