import type { IDataObject, IExecuteFunctions, INodeProperties } from 'n8n-workflow';
import { connectionIdFromState } from '../../../engine';
import { DERIVED_FROM_PROVIDER, defineOperation } from './node.type';
import { connectionFields } from './output';

const show = { show: { operation: ['exchangeAuthorizationCode'] } };

const properties: INodeProperties[] = [
	{
		displayName: 'Authorization Code',
		name: 'code',
		type: 'string',
		default: '={{ $json.query.code }}',
		required: true,
		description: 'The code the provider appended to the redirect URI',
		displayOptions: show,
	},
	{
		displayName: 'State',
		name: 'state',
		type: 'string',
		default: '={{ $json.query.state }}',
		description:
			'The state the provider sent back. It must be one "Build Authorization URL" issued for this connection with the same storage credential, unexpired and unused. Map Connection ID to the same state (the state query parameter of the callback) to take the connection from it.',
		displayOptions: show,
	},
	{
		displayName: 'Provider Error',
		name: 'providerError',
		type: 'string',
		default: '={{ $json.query.error }}',
		description:
			'The error the provider sent back instead of a code (e.g. access_denied when the account owner declined). When set, nothing is exchanged.',
		displayOptions: show,
	},
	{
		displayName: 'Callback Query',
		name: 'callbackQuery',
		type: 'json',
		default: '={{ $json.query }}',
		description:
			"The query of the callback. The fields the provider preset or the App credential keeps (e.g. Intuit's realmId) are stored with the connection.",
		displayOptions: show,
	},
	{
		displayName: 'Options',
		name: 'exchangeOptions',
		type: 'collection',
		placeholder: 'Add option',
		default: {},
		displayOptions: show,
		options: [
			{
				displayName: 'Allow Missing State',
				name: 'allowMissingState',
				type: 'boolean',
				default: false,
				description:
					'Whether to accept a callback without state. Only for Pipedrive Marketplace installs, which arrive without one; a state that is present is still checked. With Connection ID empty, the connection ID is derived from the provider\'s answer (Pipedrive: "pipedrive:" and the company\'s subdomain).',
			},
			{
				displayName: 'Provider Error Description',
				name: 'providerErrorDescription',
				type: 'string',
				default: '={{ $json.query.error_description }}',
				description: "The provider's explanation of its error, shown in the error message",
			},
		],
	},
];

const optionalString = (value: unknown) =>
	typeof value === 'string' && value.trim() !== '' ? value : undefined;

/**
 * The callback of an authorization names its connection in the signed state: with Connection ID empty (or
 * mapped to the raw state), the connection is taken from there. The engine then verifies the state. A callback
 * without state, allowed to lack one, leaves an empty Connection ID to the provider's answer.
 */
function connectionIdFromCallback(this: IExecuteFunctions, itemIndex: number): unknown {
	const given = this.getNodeParameter('connectionId', itemIndex, '', { extractValue: true });
	const state = this.getNodeParameter('state', itemIndex, '');
	const empty = given === '' || given === undefined || given === null;
	if (typeof state === 'string' && state !== '' && (empty || given === state)) {
		return connectionIdFromState(state) ?? given;
	}
	const options = this.getNodeParameter('exchangeOptions', itemIndex, {}) as IDataObject;
	return empty && !optionalString(state) && options.allowMissingState === true
		? DERIVED_FROM_PROVIDER
		: given;
}

export const exchangeAuthorizationCode = defineOperation({
	value: 'exchangeAuthorizationCode',
	name: 'Exchange Authorization Code',
	description: 'Trade the code from the OAuth callback for tokens and store them',
	action: 'Exchange an authorization code',
	agentTool: false,
	needsApp: true,
	connectionId: 'fromCallback',
	readConnectionId: connectionIdFromCallback,
	properties,
	async execute({ engine, connectionId, itemIndex }) {
		const code = this.getNodeParameter('code', itemIndex, '') as string;
		const state = optionalString(this.getNodeParameter('state', itemIndex, ''));
		const providerError = optionalString(this.getNodeParameter('providerError', itemIndex, ''));
		const options = this.getNodeParameter('exchangeOptions', itemIndex, {}) as IDataObject;
		const callbackQuery = this.getNodeParameter('callbackQuery', itemIndex, {});
		return (await engine.manager()).exchangeAuthorizationCode(
			connectionId === '' ? null : connectionId,
			{
				code,
				state,
				providerError,
				providerErrorDescription: optionalString(options.providerErrorDescription),
				allowMissingState: options.allowMissingState === true,
				callbackFields:
					callbackQuery && typeof callbackQuery === 'object' && !Array.isArray(callbackQuery)
						? (callbackQuery as IDataObject)
						: {},
			},
		);
	},
	output: (rule, result) => connectionFields(rule, result, false),
});
