import {
	NodeApiError,
	NodeConnectionTypes,
	NodeOperationError,
	type IDataObject,
	type IExecuteFunctions,
	type ICredentialsDisplayOptions,
	type INodeExecutionData,
	type INodeProperties,
	type INodeType,
	type INodeTypeDescription,
	type JsonObject,
} from 'n8n-workflow';
import { connectionIdFromState } from '../../engine/authorization';
import { AppMismatchError, InvalidInputError, InvalidStateError, NeedsReauthorizationError, TokenEndpointError, TokenManagerError } from '../../engine/errors';
import { validateConnectionId } from '../../engine/token-manager';
import { AGENT_TOOL_OPERATIONS, operationProperty, operations, runsAsAgentTool } from './actions';
import { agentToolOutput } from './actions/output';
import { storeCredentialTest, testOAuthApp } from './transport/credentialTests';
import { STORAGE_CREDENTIALS, tokenManagerFor, type Storage } from './transport/engine';

/**
 * The canvas names the operation and the connection. A mapped connection ID has no value before a run (n8n's
 * editor then drops a subtitle that throws), so the operation's name stands alone there.
 */
const OPERATION_NAMES = Object.fromEntries(operationProperty.options!.map((o) => [(o as { value: string }).value, (o as { name: string }).name]));
const SUBTITLE = `={{ (() => { const operation = ${JSON.stringify(OPERATION_NAMES)}[$parameter["operation"]]; try { return $parameter["connectionId"] ? operation + " · " + $parameter["connectionId"] : operation; } catch (error) { return operation; } })() }}`;

const connectionIdProperty: INodeProperties = {
	displayName: 'Connection ID',
	name: 'connectionId',
	type: 'string',
	default: '',
	required: true,
	placeholder: 'pipedrive:acme',
};

export class OAuth2TokenManager implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'OAuth2 Token Manager',
		name: 'oAuth2TokenManager',
		icon: 'file:oauth2TokenManager.svg',
		group: ['transform'],
		version: 1,
		subtitle: SUBTITLE,
		description: 'Keep OAuth2 access tokens valid: exchange codes, refresh once before expiry, store tokens encrypted in your database',
		defaults: { name: 'OAuth2 Token Manager' },
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		usableAsTool: true,
		credentials: [
			{ name: 'oAuth2TokenManagerAppApi', displayName: 'OAuth App', required: true, testedBy: 'oAuthAppTest' },
			{
				name: 'oAuth2TokenManagerSupabaseApi',
				displayName: 'Supabase Token Storage',
				required: true,
				testedBy: 'supabaseStoreTest',
				displayOptions: shownOnlyFor('supabase'),
			},
			{
				name: 'oAuth2TokenManagerPostgresApi',
				displayName: 'PostgreSQL Token Storage',
				required: true,
				testedBy: 'postgresStoreTest',
				displayOptions: shownOnlyFor('postgres'),
			},
			{
				name: 'oAuth2TokenManagerMySqlApi',
				displayName: 'MySQL Token Storage',
				required: true,
				testedBy: 'mySqlStoreTest',
				displayOptions: shownOnlyFor('mysql'),
			},
			{
				name: 'oAuth2TokenManagerEmbeddedApi',
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

	methods = {
		credentialTest: {
			oAuthAppTest: testOAuthApp,
			supabaseStoreTest: storeCredentialTest('supabase'),
			postgresStoreTest: storeCredentialTest('postgres'),
			mySqlStoreTest: storeCredentialTest('mysql'),
			embeddedStoreTest: storeCredentialTest('embedded'),
		},
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const items = this.getInputData();
		const returnData: INodeExecutionData[] = [];
		const asAgentTool = runsAsAgentTool(this);
		for (let i = 0; i < items.length; i++) {
			try {
				const operation = this.getNodeParameter('operation', i) as string;
				const run = operations[operation]?.execute;
				if (!run) throw new NodeOperationError(this.getNode(), `The operation "${operation}" is not supported`, { itemIndex: i });
				if (asAgentTool && !AGENT_TOOL_OPERATIONS.includes(operation)) {
					throw new NodeOperationError(this.getNode(), `The operation "${operation}" is not available to an AI agent`, {
						itemIndex: i,
						description: 'As an agent\'s tool this node runs Get Valid Token and Refresh Token and answers with status and expiry, never a token. Run the other operations in a workflow without an agent.',
					});
				}
				const connectionId = validateConnectionId(connectionIdFor(this, operation, i));
				const manager = await tokenManagerFor(this, i);
				const json: IDataObject = await run.call(this, manager, connectionId, i);
				returnData.push({ json: asAgentTool ? agentToolOutput(json) : json, pairedItem: { item: i } });
			} catch (error) {
				// The re-authorization link carries a signed state that can bind an account: never handed to an agent.
				const withLink = error instanceof NeedsReauthorizationError && !asAgentTool;
				const nodeError = toNodeError(this, error, i, withLink);
				if (this.continueOnFail()) {
					// n8n routes to the error output, and keeps intact, an item whose only fields are error, message and
					// details; an item carrying `error` beside its json would be cut down to the message alone.
					returnData.push({
						json: {
							error: nodeError.message,
							details: {
								description: nodeError.description ?? null,
								code: (error as TokenManagerError).code ?? null,
								...(withLink ? { reauthorizationUrl: error.reauthorizationUrl ?? null } : {}),
							},
						},
						pairedItem: { item: i },
					});
					continue;
				}
				throw nodeError;
			}
		}
		return [returnData];
	}
}

/**
 * A token storage slot is hidden for the other stores rather than shown for its own: n8n's editor takes a
 * parameter that credentials are shown *by* for the node's authentication. It would then hide Storage from the
 * panel, list every store's credentials in every slot (the App's too) and rewrite Storage when one is picked.
 */
function shownOnlyFor(storage: Storage): ICredentialsDisplayOptions {
	return { hide: { storage: (Object.keys(STORAGE_CREDENTIALS) as Storage[]).filter((other) => other !== storage) } };
}

/**
 * The callback of an authorization names its connection in the signed state: with Connection ID empty (or
 * mapped to the raw state), Exchange Authorization Code takes it from there. The engine then verifies the state.
 */
function connectionIdFor(ctx: IExecuteFunctions, operation: string, itemIndex: number): unknown {
	const given = ctx.getNodeParameter('connectionId', itemIndex, '');
	if (operation !== 'exchangeAuthorizationCode') return given;
	const state = ctx.getNodeParameter('state', itemIndex, '');
	if (typeof state === 'string' && state !== '' && (given === '' || given === undefined || given === null || given === state)) {
		return connectionIdFromState(state) ?? given;
	}
	return given;
}

/** Input mistakes become NodeOperationError (naming the field); provider and store failures NodeApiError. */
function toNodeError(ctx: IExecuteFunctions, error: unknown, itemIndex: number, withReauthorizationLink: boolean): NodeOperationError | NodeApiError {
	if (error instanceof NodeOperationError || error instanceof NodeApiError) return error;
	if (error instanceof InvalidInputError) {
		return new NodeOperationError(ctx.getNode(), error.message, { itemIndex, description: `Check the "${error.field}" field.` });
	}
	// Both are settings to fix in the workflow or its credentials, not failures of a provider or a store.
	if (error instanceof InvalidStateError || error instanceof AppMismatchError) {
		return new NodeOperationError(ctx.getNode(), error.message, { itemIndex, description: error.description });
	}
	if (withReauthorizationLink && error instanceof NeedsReauthorizationError && error.reauthorizationUrl) {
		return new NodeApiError(ctx.getNode(), { message: error.message, code: error.code } as JsonObject, {
			message: error.message,
			description: `${error.description} Re-authorization link: ${error.reauthorizationUrl}`,
			itemIndex,
		});
	}
	if (error instanceof TokenManagerError) {
		const httpCode = error instanceof TokenEndpointError && error.httpStatus ? String(error.httpStatus) : undefined;
		return new NodeApiError(ctx.getNode(), { message: error.message, code: error.code } as JsonObject, {
			message: error.message,
			description: error.description,
			httpCode,
			itemIndex,
		});
	}
	return new NodeOperationError(ctx.getNode(), error as Error, { itemIndex });
}
