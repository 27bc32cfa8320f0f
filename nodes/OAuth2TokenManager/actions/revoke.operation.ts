import type { IDataObject, IExecuteFunctions, INodeProperties } from 'n8n-workflow';
import type { TokenManager } from '../../../engine/token-manager';
import { connectionOutput } from './output';

export const description: INodeProperties[] = [
	{
		displayName: 'Revoke at Provider',
		name: 'revokeAtProvider',
		type: 'boolean',
		default: true,
		description:
			'Whether to revoke the refresh token at the provider (RFC 7009) before erasing it here. For Pipedrive this uninstalls the app from the company. Turn off to only erase the tokens stored here.',
		displayOptions: { show: { operation: ['revoke'] } },
	},
	{
		displayName:
			'Revoke at Provider ends the grant at the provider, not only here: the account has to be connected again (through the Connect workflow) before tokens can be had. For Pipedrive it uninstalls the app from the company.',
		name: 'revokeAtProviderNotice',
		type: 'notice',
		default: '',
		displayOptions: { show: { operation: ['revoke'], revokeAtProvider: [true] } },
	},
];

export async function execute(this: IExecuteFunctions, manager: TokenManager, connectionId: string, i: number): Promise<IDataObject> {
	const atProvider = this.getNodeParameter('revokeAtProvider', i, true) as boolean;
	const { connection, revokedAtProvider } = await manager.revoke(connectionId, { atProvider });
	return { ...connectionOutput({ connection, refreshed: false }, false), revoked_at_provider: revokedAtProvider !== null, revoked_token_type: revokedAtProvider };
}
