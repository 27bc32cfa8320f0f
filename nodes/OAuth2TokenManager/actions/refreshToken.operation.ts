import type { INodeProperties } from 'n8n-workflow';
import type { ConnectionOperation } from './node.type';

const show = { show: { operation: ['refreshToken'] } };

export const description: INodeProperties[] = [
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

export const execute: ConnectionOperation<'refreshToken'>['execute'] = async function ({ engine, connectionId, itemIndex }) {
	const failedAccessToken = (this.getNodeParameter('failedAccessToken', itemIndex, '') as string) || undefined;
	const force = this.getNodeParameter('force', itemIndex, false) as boolean;
	return (await engine.manager()).refreshToken(connectionId, { failedAccessToken, force });
};
