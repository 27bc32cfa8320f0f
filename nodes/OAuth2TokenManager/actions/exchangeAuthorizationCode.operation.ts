import type { IDataObject, IExecuteFunctions, INodeProperties } from 'n8n-workflow';
import type { TokenManager } from '../../../engine/token-manager';
import { connectionOutput } from './output';

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
];

export async function execute(this: IExecuteFunctions, manager: TokenManager, connectionId: string, i: number): Promise<IDataObject> {
	const code = this.getNodeParameter('code', i) as string;
	return connectionOutput(await manager.exchangeAuthorizationCode(connectionId, { code }), false);
}
