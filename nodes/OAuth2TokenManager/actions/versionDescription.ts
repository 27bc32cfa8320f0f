/* eslint-disable n8n-nodes-base/node-filename-against-convention -- the description lives apart from the node class, as in n8n's versioned nodes */
import {
	NodeConnectionTypes,
	type ICredentialsDisplayOptions,
	type IDisplayOptions,
	type INodeProperties,
	type INodePropertyOptions,
	type INodeTypeDescription,
} from 'n8n-workflow';
import { APP_CREDENTIAL, STORAGE_CREDENTIALS, type Storage } from '../transport/credentials';
import { FROM_INPUT_FIELD } from './connectionId';
import type { OperationDefinition } from './node.type';
import { operations, operationValues } from './operations';
import {
	type NodeVersion,
	CONNECTION_ID_LOCATOR_SINCE,
	DEFAULT_NODE_VERSION,
	defaultStorage,
	EDITOR_FIRST_DEFAULTS_SINCE,
	inVersionsBefore,
	inVersionsSince,
	NODE_VERSIONS,
} from './versions';

/** An operation's option: offered from its version on, and to an AI agent's tool only where it says so. */
function operationOption({
	name,
	value,
	description,
	action,
	since,
	agentTool,
}: OperationDefinition): INodePropertyOptions {
	const displayOptions: IDisplayOptions = {
		...(since === undefined ? {} : { show: inVersionsSince(since) }),
		...(agentTool ? {} : { hide: { '@tool': [true] } }),
	};
	return {
		name,
		value,
		description,
		action,
		...(Object.keys(displayOptions).length > 0 ? { displayOptions } : {}),
	};
}

const operationProperty: INodeProperties = {
	displayName: 'Operation',
	name: 'operation',
	type: 'options',
	noDataExpression: true,
	// n8n lists options by name (its lint rule for nodes asks so).
	options: [...operations].sort((a, b) => (a.name < b.name ? -1 : 1)).map(operationOption),
	default: 'getValidToken',
};

/**
 * The canvas names the operation and the connection. A mapped connection ID has no value before a run (n8n's
 * editor then drops a subtitle that throws), so the operation's name stands alone there. From version 1.2 the
 * Connection ID is a resource locator: its value sits in the locator's `value`.
 */
const OPERATION_NAMES = Object.fromEntries(
	operationProperty.options!.map((o) => [
		(o as { value: string }).value,
		(o as { name: string }).name,
	]),
);
const SUBTITLE = `={{ (() => { const operation = ${JSON.stringify(OPERATION_NAMES)}[$parameter["operation"]]; try { const given = $parameter["connectionId"]; const id = given !== null && typeof given === "object" ? given.value : given; return typeof id === "string" && id !== "" && !id.startsWith("=") ? operation + " · " + id : operation; } catch (error) { return operation; } })() }}`;

/**
 * A token storage slot is hidden for the other stores rather than shown for its own: n8n's editor takes a
 * parameter that credentials are shown *by* for the node's authentication. It would then hide Storage from the
 * panel, list every store's credentials in every slot (the App's too) and rewrite Storage when one is picked.
 */
function shownOnlyFor(storage: Storage): ICredentialsDisplayOptions {
	return {
		hide: {
			storage: (Object.keys(STORAGE_CREDENTIALS) as Storage[]).filter((other) => other !== storage),
		},
	};
}

const CONNECTION_ID_DESCRIPTION =
	'Your name for one authorized account (one per customer or company); each connection ID has its own tokens';
const CALLBACK_CONNECTION_ID_DESCRIPTION =
	'Leave empty, or map it to the state query parameter of the callback: the node then reads the connection from the signed state. A connection ID given here must be the one the state was issued for.';

/** Operations that take no Connection ID: they work on the store's connections. */
const OVER_MANY_CONNECTIONS = operationValues((operation) => operation.connectionId === 'none');
/** Operations that make a connection: its ID is typed (or mapped) rather than picked. */
const MAKING_CONNECTIONS = operationValues((operation) => operation.connectionId === 'new');
/** Operations on an OAuth callback: the signed state names the connection. */
const ON_CALLBACK = operationValues((operation) => operation.connectionId === 'fromCallback');

const textConnectionIdVersions = inVersionsBefore(CONNECTION_ID_LOCATOR_SINCE);
const locatorConnectionIdVersions = inVersionsSince(CONNECTION_ID_LOCATOR_SINCE);

/** Before CONNECTION_ID_LOCATOR_SINCE: a plain text field (saved nodes keep their value as it is). */
const connectionIdText: INodeProperties = {
	displayName: 'Connection ID',
	name: 'connectionId',
	type: 'string',
	default: '',
	required: true,
	placeholder: 'pipedrive:acme',
};

/**
 * From CONNECTION_ID_LOCATOR_SINCE: a resource locator, as n8n's own nodes pick a record: from a searchable list of
 * the selected store's connections (each with its status), by ID (typed or mapped), or, where a connection is named,
 * from a field of each input item (connectionId.ts).
 */
function connectionIdLocator(defaultMode: 'list' | 'id', fromInputField = true): INodeProperties {
	return {
		displayName: 'Connection ID',
		name: 'connectionId',
		type: 'resourceLocator',
		default: { mode: defaultMode, value: '' },
		required: true,
		modes: [
			{
				displayName: 'From List',
				name: 'list',
				type: 'list',
				placeholder: 'Select a connection…',
				typeOptions: { searchListMethod: 'searchConnections', searchable: true },
			},
			{
				displayName: 'By ID',
				name: 'id',
				type: 'string',
				placeholder: 'pipedrive:acme',
			},
			...(fromInputField
				? [
						{
							displayName: 'From Input Field',
							name: FROM_INPUT_FIELD,
							type: 'string' as const,
							placeholder: 'query.connectionId',
							hint: "The input items' field holding each one's connection ID (dots for a nested field). The node reads it itself: faster over many items than an expression, which n8n evaluates per item.",
						},
					]
				: []),
		],
	};
}

/**
 * One parameter, several descriptions: the callback advice only where a callback is handled, and a new
 * connection's ID typed rather than picked where one is created.
 */
const connectionIdProperties: INodeProperties[] = [
	{
		...connectionIdText,
		description: CONNECTION_ID_DESCRIPTION,
		displayOptions: {
			show: textConnectionIdVersions,
			hide: { operation: [...ON_CALLBACK, ...OVER_MANY_CONNECTIONS] },
		},
	},
	{
		...connectionIdText,
		required: false,
		description: CALLBACK_CONNECTION_ID_DESCRIPTION,
		displayOptions: { show: { ...textConnectionIdVersions, operation: ON_CALLBACK } },
	},
	{
		...connectionIdLocator('list'),
		description: CONNECTION_ID_DESCRIPTION,
		displayOptions: {
			show: locatorConnectionIdVersions,
			hide: { operation: [...ON_CALLBACK, ...MAKING_CONNECTIONS, ...OVER_MANY_CONNECTIONS] },
		},
	},
	{
		...connectionIdLocator('id'),
		description: `${CONNECTION_ID_DESCRIPTION}. Pick an existing one to authorize it again.`,
		displayOptions: { show: { ...locatorConnectionIdVersions, operation: MAKING_CONNECTIONS } },
	},
	{
		...connectionIdLocator('id', false),
		required: false,
		description: CALLBACK_CONNECTION_ID_DESCRIPTION,
		displayOptions: { show: { ...locatorConnectionIdVersions, operation: ON_CALLBACK } },
	},
];

/**
 * Storage, one per default: nodes saved before EDITOR_FIRST_DEFAULTS_SINCE keep Supabase (their saved parameters
 * hold no Storage when it was the default); new nodes start on the embedded store, which needs nothing set up, so
 * n8n pre-selects the embedded credential when exactly one exists.
 */
function storageProperty(
	typeVersion: NodeVersion,
	displayOptions: IDisplayOptions,
): INodeProperties {
	return {
		displayName: 'Storage',
		name: 'storage',
		type: 'options',
		noDataExpression: true,
		options: [
			{
				name: 'Embedded (SQLite)',
				value: 'embedded',
				description: "A file beside n8n's own data; nothing to set up",
			},
			{ name: 'MySQL', value: 'mysql' },
			{ name: 'PostgreSQL', value: 'postgres' },
			{ name: 'Supabase', value: 'supabase' },
		],
		default: defaultStorage(typeVersion),
		description:
			'Where the encrypted tokens are kept. Each store has its own credential: pick it in the Token Storage field above.',
		displayOptions,
	};
}

const storageProperties: INodeProperties[] = [
	storageProperty(1, { show: inVersionsBefore(EDITOR_FIRST_DEFAULTS_SINCE) }),
	storageProperty(EDITOR_FIRST_DEFAULTS_SINCE, {
		show: inVersionsSince(EDITOR_FIRST_DEFAULTS_SINCE),
	}),
];

/** The node's description for all its versions (see versions.ts for what each changed). */
export const versionDescription: INodeTypeDescription = {
	displayName: 'OAuth2 Token Manager',
	name: 'oAuth2TokenManager',
	icon: 'file:oauth2TokenManager.svg',
	group: ['transform'],
	version: [...NODE_VERSIONS],
	defaultVersion: DEFAULT_NODE_VERSION,
	subtitle: SUBTITLE,
	description:
		'Keep OAuth2 access tokens valid: exchange codes, refresh once before expiry, store tokens encrypted in your database',
	defaults: { name: 'OAuth2 Token Manager' },
	inputs: [NodeConnectionTypes.Main],
	outputs: [NodeConnectionTypes.Main],
	usableAsTool: true,
	credentials: [
		{
			name: APP_CREDENTIAL,
			displayName: 'OAuth App',
			required: true,
			testedBy: 'oAuthAppTest',
			// Reading connections needs the store alone. Hidden, not shown by operation: see shownOnlyFor.
			displayOptions: { hide: { operation: operationValues((operation) => !operation.needsApp) } },
		},
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
		...storageProperties,
		operationProperty,
		...connectionIdProperties,
		...operations.flatMap((operation) => operation.properties),
	],
};
