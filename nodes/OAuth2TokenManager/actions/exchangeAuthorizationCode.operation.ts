import type { IDataObject, IExecuteFunctions, INodeProperties } from 'n8n-workflow';
import { connectionIdFromState } from '../../../engine/authorization';
import type { ConnectionOperation } from './node.type';

const show = { show: { operation: ['exchangeAuthorizationCode'] } };

export const description: INodeProperties[] = [
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
			'The state the provider sent back. It must be one "Build Authorization URL" issued for this connection, unexpired and unused. Map Connection ID to the same state (the state query parameter of the callback) to take the connection from it.',
		displayOptions: show,
	},
	{
		displayName: 'Provider Error',
		name: 'providerError',
		type: 'string',
		default: '={{ $json.query.error }}',
		description: 'The error the provider sent back instead of a code (e.g. access_denied when the account owner declined). When set, nothing is exchanged.',
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
					'Whether to accept a callback without state. Only for Pipedrive Marketplace installs, which arrive without one; a state that is present is still checked.',
			},
			{
				displayName: 'Provider Error Description',
				name: 'providerErrorDescription',
				type: 'string',
				default: '={{ $json.query.error_description }}',
				description: 'The provider\'s explanation of its error, shown in the error message',
			},
		],
	},
];

const optionalString = (value: unknown) => (typeof value === 'string' && value.trim() !== '' ? value : undefined);

/**
 * The callback of an authorization names its connection in the signed state: with Connection ID empty (or
 * mapped to the raw state), the connection is taken from there. The engine then verifies the state.
 */
export function connectionId(this: IExecuteFunctions, itemIndex: number): unknown {
	const given = this.getNodeParameter('connectionId', itemIndex, '', { extractValue: true });
	const state = this.getNodeParameter('state', itemIndex, '');
	if (typeof state === 'string' && state !== '' && (given === '' || given === undefined || given === null || given === state)) {
		return connectionIdFromState(state) ?? given;
	}
	return given;
}

export const execute: ConnectionOperation<'exchangeAuthorizationCode'>['execute'] = async function ({ engine, connectionId, itemIndex }) {
	const code = this.getNodeParameter('code', itemIndex, '') as string;
	const state = optionalString(this.getNodeParameter('state', itemIndex, ''));
	const providerError = optionalString(this.getNodeParameter('providerError', itemIndex, ''));
	const options = this.getNodeParameter('exchangeOptions', itemIndex, {}) as IDataObject;
	return (await engine.manager()).exchangeAuthorizationCode(connectionId, {
		code,
		state,
		providerError,
		providerErrorDescription: optionalString(options.providerErrorDescription),
		allowMissingState: options.allowMissingState === true,
	});
};
