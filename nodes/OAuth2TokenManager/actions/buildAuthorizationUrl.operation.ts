import type { IDataObject, INodeProperties } from 'n8n-workflow';
import {
	DEFAULT_STATE_TTL_SECONDS,
	InvalidInputError,
	parseExtraParameters,
} from '../../../engine';
import { defineOperation } from './node.type';

const show = { show: { operation: ['buildAuthorizationUrl'] } };

const properties: INodeProperties[] = [
	{
		displayName: 'Options',
		name: 'authorizationOptions',
		type: 'collection',
		placeholder: 'Add option',
		default: {},
		displayOptions: show,
		options: [
			{
				displayName: 'Link Validity (Minutes)',
				name: 'expiresInMinutes',
				type: 'number',
				typeOptions: { minValue: 1, maxValue: 43200 },
				default: 10,
				description:
					'How long the authorization link (its state) can be completed. Each link works once.',
			},
			{
				displayName: 'Additional Parameters',
				name: 'additionalParameters',
				type: 'string',
				default: '',
				placeholder: 'prompt=consent&access_type=offline',
				description: "Extra query parameters for the provider's authorize URL, as a query string",
			},
		],
	},
];

export const buildAuthorizationUrl = defineOperation({
	value: 'buildAuthorizationUrl',
	name: 'Build Authorization URL',
	description:
		"Start an authorization: the provider's consent URL with a signed, single-use state (and PKCE where supported)",
	action: 'Build an authorization URL',
	agentTool: false,
	needsApp: true,
	connectionId: 'new',
	properties,
	async execute({ engine, connectionId, itemIndex }) {
		const options = this.getNodeParameter('authorizationOptions', itemIndex, {}) as IDataObject;
		const minutes =
			options.expiresInMinutes === undefined
				? DEFAULT_STATE_TTL_SECONDS / 60
				: Number(options.expiresInMinutes);
		if (!Number.isFinite(minutes) || minutes <= 0) {
			throw new InvalidInputError('expiresInMinutes', 'must be a number of minutes, more than 0');
		}
		return (await engine.manager()).startAuthorization(connectionId, {
			expiresInSeconds: minutes * 60,
			extraParameters: parseExtraParameters(
				'additionalParameters',
				typeof options.additionalParameters === 'string' ? options.additionalParameters : '',
			),
		});
	},
	output: ({ names }, start) => ({
		connectionId: start.connectionId,
		authorizationUrl: start.authorizationUrl,
		state: start.state,
		[names.expiresAt]: start.expiresAt.toISOString(),
		pkce: start.pkce,
	}),
});
