import type { IExecuteFunctions, INodeProperties } from 'n8n-workflow';
import type { AuthorizationStart, ConnectionSummary, KeepAliveOutcome, RevokeResult, TokenResult, ValidTokenResult } from '../../../engine';
import type { Engine } from '../transport/engine';

/** What each operation returns from the engine, keyed by the Operation parameter's value. */
export interface OperationResults {
	buildAuthorizationUrl: AuthorizationStart;
	exchangeAuthorizationCode: TokenResult;
	getValidToken: ValidTokenResult;
	refreshToken: TokenResult;
	revoke: RevokeResult;
	getConnection: ConnectionSummary;
	listConnections: ConnectionSummary[];
	keepAlive: KeepAliveOutcome[];
	connectClientCredentials: TokenResult;
}

export type Operation = keyof OperationResults;

/** Returned by a `connectionId` reader when the connection id comes from the provider's answer: the operation then gets ''. */
export const DERIVED_FROM_PROVIDER = Symbol('connection id derived from the provider\'s answer');

/** What every operation gets for its item: the engine (built on first use) and the item's index. */
export interface OperationInput {
	engine: Engine;
	itemIndex: number;
}

/** What an operation on one connection gets besides: its connection id, checked. */
export interface ConnectionOperationInput extends OperationInput {
	connectionId: string;
}

/** An operation on one connection, named by the Connection ID parameter (or by `connectionId` when given). */
export interface ConnectionOperation<K extends Operation> {
	/** The operation's own parameters, shown for it alone. */
	description: INodeProperties[];
	/** Where the operation takes its connection id from, before the engine checks it: the Connection ID parameter when absent. */
	connectionId?: (this: IExecuteFunctions, itemIndex: number) => unknown;
	execute: (this: IExecuteFunctions, input: ConnectionOperationInput) => Promise<OperationResults[K]>;
}

/** An operation over the store's connections: it has no Connection ID. */
export interface StoreOperation<K extends Operation> {
	description: INodeProperties[];
	scope: 'store';
	execute: (this: IExecuteFunctions, input: OperationInput) => Promise<OperationResults[K]>;
}

export type OperationModule<K extends Operation> = ConnectionOperation<K> | StoreOperation<K>;

export function isStoreOperation<K extends Operation>(module: OperationModule<K>): module is StoreOperation<K> {
	return 'scope' in module && module.scope === 'store';
}
