import type { INodeProperties } from 'n8n-workflow';
import { defineOperation } from './node.type';
import { connectionFields, healthFields } from './output';

const show = { show: { operation: ['refreshToken'] } };

const properties: INodeProperties[] = [
	{
		displayName: 'Failed Access Token',
		name: 'failedAccessToken',
		type: 'string',
		typeOptions: { password: true },
		default: '',
		description:
			'The access token an API call just refused (e.g. with 401). If the stored token is already a different one, another execution has refreshed and it is returned without calling the provider. Leave empty to always refresh.',
		displayOptions: show,
	},
	{
		displayName: 'Force',
		name: 'force',
		type: 'boolean',
		default: false,
		description: 'Whether to refresh even when the stored token differs from the failed one',
		displayOptions: show,
	},
];

export const refreshToken = defineOperation({
	value: 'refreshToken',
	name: 'Refresh Token',
	description: 'Refresh the access token now, or only if a failed token is still the stored one',
	action: 'Refresh an access token',
	agentTool: true,
	needsApp: true,
	connectionId: 'existing',
	properties,
	async execute({ engine, connectionId, itemIndex }) {
		const failedAccessToken =
			(this.getNodeParameter('failedAccessToken', itemIndex, '') as string) || undefined;
		const force = this.getNodeParameter('force', itemIndex, false) as boolean;
		return (await engine.manager()).refreshToken(connectionId, { failedAccessToken, force });
	},
	output: (rule, result) => connectionFields(rule, result, true, healthFields(result)),
});
