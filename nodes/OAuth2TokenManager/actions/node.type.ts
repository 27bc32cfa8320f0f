import type { IDataObject, IExecuteFunctions, INodeProperties } from 'n8n-workflow';
import type { Settled } from '../../../engine';
import type { Engine } from '../transport/engine';
import type { OutputRule } from './output';
import type { NodeVersion } from './versions';

/** Returned by `readConnectionId` when the connection id comes from the provider's answer: the operation then gets ''. */
export const DERIVED_FROM_PROVIDER = Symbol("connection id derived from the provider's answer");

/** The TokenManager needs the App credential: an operation that only reads the store gets the store alone. */
export type EngineFor<NeedsApp extends boolean> = NeedsApp extends true
	? Engine
	: Pick<Engine, 'store'>;

/** What every operation gets for its item: the engine (built on first use) and the item's index. */
export interface OperationInput<NeedsApp extends boolean> {
	engine: EngineFor<NeedsApp>;
	itemIndex: number;
	/** Whether an AI agent runs the node as its tool (only operations with `agentTool` run then). */
	asAgentTool: boolean;
}

/** What an operation on one connection gets besides: its connection id, checked. */
export interface ConnectionOperationInput<
	NeedsApp extends boolean,
> extends OperationInput<NeedsApp> {
	connectionId: string;
}

/**
 * What an operation declares: its option in the panel, what it needs, its parameters and how its result becomes
 * items. The node's description and its router derive everything else from these declarations.
 */
interface OperationBase<NeedsApp extends boolean, Result> {
	/** The Operation parameter's value: saved workflows hold it. */
	value: string;
	/** The option's name, description and action, as n8n shows them. */
	name: string;
	description: string;
	action: string;
	/** The node version the operation came with; absent, every version offers it. */
	since?: NodeVersion;
	/** Whether an AI agent may run it: a token handed to an agent goes to the model's vendor, so only operations whose tool output is status and expiry. */
	agentTool: boolean;
	/** Whether it needs the App credential; reading the store needs the storage credential alone. */
	needsApp: NeedsApp;
	/** The operation's own parameters, shown for it alone. */
	properties: INodeProperties[];
	/** Its items: one, or one per connection for an operation over many. */
	output(rule: OutputRule, result: Result): IDataObject | IDataObject[];
	/** What an AI agent gets of each item; absent, status and expiry only (output.ts agentToolOutput). */
	toolOutput?(json: IDataObject): IDataObject;
}

/** An operation over the store's connections: it has no Connection ID. */
interface StoreOperation<NeedsApp extends boolean, Result> extends OperationBase<NeedsApp, Result> {
	connectionId: 'none';
	execute(this: IExecuteFunctions, input: OperationInput<NeedsApp>): Promise<Result>;
}

/** What an operation run over every item of an execution at once gets: one engine, and each item's checked connection id. */
export interface ManyItemsInput<NeedsApp extends boolean> {
	engine: EngineFor<NeedsApp>;
	items: Array<{ connectionId: string; itemIndex: number }>;
}

/** An operation on one connection: 'existing' picks a stored one, 'new' names the one it makes (typed rather than picked). */
interface ConnectionOperation<NeedsApp extends boolean, Result> extends OperationBase<
	NeedsApp,
	Result
> {
	connectionId: 'existing' | 'new';
	execute(this: IExecuteFunctions, input: ConnectionOperationInput<NeedsApp>): Promise<Result>;
	/**
	 * The operation over many items at once (manyItems.ts says when): one result or error per item, in the items' order.
	 * It reads their connections in one store query instead of one round trip per item.
	 */
	executeMany?(
		this: IExecuteFunctions,
		input: ManyItemsInput<NeedsApp>,
	): Promise<Array<Settled<Result>>>;
}

/** An operation on an OAuth callback: its Connection ID is optional, the callback's signed state names the connection. */
interface CallbackOperation<NeedsApp extends boolean, Result> extends OperationBase<
	NeedsApp,
	Result
> {
	connectionId: 'fromCallback';
	/** The connection id to check, from the Connection ID parameter and the callback. */
	readConnectionId(this: IExecuteFunctions, itemIndex: number): unknown;
	execute(this: IExecuteFunctions, input: ConnectionOperationInput<NeedsApp>): Promise<Result>;
}

export type OperationDefinition<NeedsApp extends boolean = boolean, Result = unknown> =
	| StoreOperation<NeedsApp, Result>
	| ConnectionOperation<NeedsApp, Result>
	| CallbackOperation<NeedsApp, Result>;

/** Checks an operation's declaration against what it does: its result feeds its output, and no App means no TokenManager. */
export function defineOperation<NeedsApp extends boolean, Result>(
	definition: OperationDefinition<NeedsApp, Result>,
): OperationDefinition<NeedsApp, Result> {
	return definition;
}
