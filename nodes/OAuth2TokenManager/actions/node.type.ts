import type { IExecuteFunctions, INodeProperties } from 'n8n-workflow';
import type { AuthorizationStart, RevokeResult, TokenManager, TokenResult, ValidTokenResult } from '../../../engine/token-manager';

/** What each operation returns from the engine, keyed by the Operation parameter's value. */
export interface OperationResults {
	buildAuthorizationUrl: AuthorizationStart;
	exchangeAuthorizationCode: TokenResult;
	getValidToken: ValidTokenResult;
	refreshToken: TokenResult;
	revoke: RevokeResult;
}

export type Operation = keyof OperationResults;

/** Returned by a `connectionId` reader when the connection id comes from the provider's answer: the operation then gets ''. */
export const DERIVED_FROM_PROVIDER = Symbol('connection id derived from the provider\'s answer');

export interface OperationInput {
	manager: TokenManager;
	connectionId: string;
	itemIndex: number;
}

export interface OperationModule<K extends Operation> {
	/** The operation's own parameters, shown for it alone. */
	description: INodeProperties[];
	/** Where the operation takes its connection id from, before the engine checks it: the Connection ID parameter when absent. */
	connectionId?: (this: IExecuteFunctions, itemIndex: number) => unknown;
	execute: (this: IExecuteFunctions, input: OperationInput) => Promise<OperationResults[K]>;
}
