import type { IDataObject, INodeProperties } from 'n8n-workflow';
import { parseExtraParameters } from '../../../engine';
import { defineOperation } from './node.type';
import { connectionFields } from './output';

const show = { show: { operation: ['connectClientCredentials'] } };

const properties: INodeProperties[] = [
	{
		displayName: 'Scopes',
		name: 'clientCredentialsScopes',
		type: 'string',
		default: '',
		placeholder: 'read write',
		description:
			'The scopes to ask for, separated by spaces or commas. Leave empty for the Scopes of the App credential. Every renewal asks for the same.',
		displayOptions: show,
	},
	{
		displayName: 'Options',
		name: 'clientCredentialsOptions',
		type: 'collection',
		placeholder: 'Add option',
		default: {},
		displayOptions: show,
		options: [
			{
				displayName: 'Additional Parameters',
				name: 'additionalParameters',
				type: 'string',
				default: '',
				placeholder: 'audience=https://api.example.com',
				description:
					'Extra form parameters of the token request, as a query string or a JSON object (e.g. audience or resource). Stored with the connection, so never put a secret here.',
			},
		],
	},
];

/** Scopes typed with spaces or commas between them. */
function parseScopes(value: unknown): string[] {
	return typeof value === 'string' ? value.split(/[\s,]+/).filter(Boolean) : [];
}

export const connectClientCredentials = defineOperation({
	value: 'connectClientCredentials',
	name: 'Connect with Client Credentials',
	description:
		'Connect the OAuth app itself (client credentials grant, no user): get a token and store it; Get Valid Token renews it',
	action: 'Connect with client credentials',
	since: 1.2,
	agentTool: false,
	needsApp: true,
	connectionId: 'new',
	properties,
	async execute({ engine, connectionId, itemIndex }) {
		const scopes = parseScopes(this.getNodeParameter('clientCredentialsScopes', itemIndex, ''));
		const options = this.getNodeParameter('clientCredentialsOptions', itemIndex, {}) as IDataObject;
		return (await engine.manager()).connectClientCredentials(connectionId, {
			scopes: scopes.length > 0 ? scopes : undefined,
			extraParameters: parseExtraParameters(
				'additionalParameters',
				typeof options.additionalParameters === 'string' ? options.additionalParameters : '',
			),
		});
	},
	output: (rule, result) => connectionFields(rule, result, false),
});
