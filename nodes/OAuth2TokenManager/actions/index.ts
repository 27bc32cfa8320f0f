import type { IDataObject, IExecuteFunctions, INodeProperties } from 'n8n-workflow';
import type { TokenManager } from '../../../engine/token-manager';
import * as exchangeAuthorizationCode from './exchangeAuthorizationCode.operation';
import * as getValidToken from './getValidToken.operation';
import * as refreshToken from './refreshToken.operation';

export type OperationExecute = (this: IExecuteFunctions, manager: TokenManager, connectionId: string, itemIndex: number) => Promise<IDataObject>;

/** Every operation: its parameters and what it does. The node's operation options are listed beside it. */
export const operations: Record<string, { description: INodeProperties[]; execute: OperationExecute }> = {
	exchangeAuthorizationCode,
	getValidToken,
	refreshToken,
};

export const operationProperty: INodeProperties = {
	displayName: 'Operation',
	name: 'operation',
	type: 'options',
	noDataExpression: true,
	options: [
		{
			name: 'Exchange Authorization Code',
			value: 'exchangeAuthorizationCode',
			description: 'Trade the code from the OAuth callback for tokens and store them',
			action: 'Exchange an authorization code',
		},
		{
			name: 'Get Valid Token',
			value: 'getValidToken',
			description: 'Return an access token that stays valid, refreshing it first when it is about to expire',
			action: 'Get a valid access token',
		},
		{
			name: 'Refresh Token',
			value: 'refreshToken',
			description: 'Refresh the access token now, or only if a failed token is still the stored one',
			action: 'Refresh an access token',
		},
	],
	default: 'getValidToken',
};
