/* eslint-disable n8n-nodes-base/node-filename-against-convention -- the description lives apart from the node class, as in n8n's versioned nodes */
import { NodeConnectionTypes, type ICredentialsDisplayOptions, type INodeProperties, type INodeTypeDescription } from 'n8n-workflow';
import { APP_CREDENTIAL, STORAGE_CREDENTIALS, type Storage } from '../methods/engineFromCredentials';
import { operationProperty, operations } from './operations';

/**
 * The canvas names the operation and the connection. A mapped connection ID has no value before a run (n8n's
 * editor then drops a subtitle that throws), so the operation's name stands alone there.
 */
const OPERATION_NAMES = Object.fromEntries(operationProperty.options!.map((o) => [(o as { value: string }).value, (o as { name: string }).name]));
const SUBTITLE = `={{ (() => { const operation = ${JSON.stringify(OPERATION_NAMES)}[$parameter["operation"]]; try { return $parameter["connectionId"] ? operation + " · " + $parameter["connectionId"] : operation; } catch (error) { return operation; } })() }}`;

/**
 * A token storage slot is hidden for the other stores rather than shown for its own: n8n's editor takes a
 * parameter that credentials are shown *by* for the node's authentication. It would then hide Storage from the
 * panel, list every store's credentials in every slot (the App's too) and rewrite Storage when one is picked.
 */
function shownOnlyFor(storage: Storage): ICredentialsDisplayOptions {
	return { hide: { storage: (Object.keys(STORAGE_CREDENTIALS) as Storage[]).filter((other) => other !== storage) } };
}

const connectionIdProperty: INodeProperties = {
	displayName: 'Connection ID',
	name: 'connectionId',
	type: 'string',
	default: '',
	required: true,
	placeholder: 'pipedrive:acme',
};

/**
 * Version 1.1 names the node's own output fields in camelCase (see actions/output.ts); version 1 keeps the
 * snake_case names saved workflows read.
 */
export const versionDescription: INodeTypeDescription = {
	displayName: 'OAuth2 Token Manager',
	name: 'oAuth2TokenManager',
	icon: 'file:oauth2TokenManager.svg',
	group: ['transform'],
	version: [1, 1.1],
	defaultVersion: 1.1,
	subtitle: SUBTITLE,
	description: 'Keep OAuth2 access tokens valid: exchange codes, refresh once before expiry, store tokens encrypted in your database',
	defaults: { name: 'OAuth2 Token Manager' },
	inputs: [NodeConnectionTypes.Main],
	outputs: [NodeConnectionTypes.Main],
	usableAsTool: true,
	credentials: [
		{ name: APP_CREDENTIAL, displayName: 'OAuth App', required: true, testedBy: 'oAuthAppTest' },
		{
			name: STORAGE_CREDENTIALS.supabase,
			displayName: 'Supabase Token Storage',
			required: true,
			testedBy: 'supabaseStoreTest',
			displayOptions: shownOnlyFor('supabase'),
		},
		{
			name: STORAGE_CREDENTIALS.postgres,
			displayName: 'PostgreSQL Token Storage',
			required: true,
			testedBy: 'postgresStoreTest',
			displayOptions: shownOnlyFor('postgres'),
		},
		{
			name: STORAGE_CREDENTIALS.mysql,
			displayName: 'MySQL Token Storage',
			required: true,
			testedBy: 'mySqlStoreTest',
			displayOptions: shownOnlyFor('mysql'),
		},
		{
			name: STORAGE_CREDENTIALS.embedded,
			displayName: 'Embedded (SQLite) Token Storage',
			required: true,
			testedBy: 'embeddedStoreTest',
			displayOptions: shownOnlyFor('embedded'),
		},
	],
	properties: [
		{
			displayName: 'Storage',
			name: 'storage',
			type: 'options',
			noDataExpression: true,
			options: [
				{ name: 'Embedded (SQLite)', value: 'embedded', description: 'A file beside n8n\'s own data; nothing to set up' },
				{ name: 'MySQL', value: 'mysql' },
				{ name: 'PostgreSQL', value: 'postgres' },
				{ name: 'Supabase', value: 'supabase' },
			],
			default: 'supabase',
			description: 'Where the encrypted tokens are kept. Each store has its own credential: pick it in the Token Storage field above.',
		},
		operationProperty,
		// One parameter, two descriptions: the callback advice only where a callback is handled.
		{
			...connectionIdProperty,
			description: 'Your name for one authorized account (one per customer or company); each connection ID has its own tokens',
			displayOptions: { hide: { operation: ['exchangeAuthorizationCode'] } },
		},
		{
			...connectionIdProperty,
			required: false,
			description:
				'Leave empty, or map it to the state query parameter of the callback: the node then reads the connection from the signed state. A connection ID given here must be the one the state was issued for.',
			displayOptions: { show: { operation: ['exchangeAuthorizationCode'] } },
		},
		...Object.values(operations).flatMap((operation) => operation.description),
	],
};
