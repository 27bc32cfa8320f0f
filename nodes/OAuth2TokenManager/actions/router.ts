import {
	NodeOperationError,
	type IDataObject,
	type IExecuteFunctions,
	type INodeExecutionData,
} from 'n8n-workflow';
import { NeedsReauthorizationError, TokenManagerError } from '../../../engine';
import { withEngine } from '../transport/engine';
import { connectionIdOf } from './connectionId';
import type { OperationDefinition } from './node.type';
import { runManyItems } from './manyItems';
import { toNodeError } from './nodeErrors';
import { operationNamed, operations } from './operations';
import { agentToolOutput, outputRuleFor, type OutputRule } from './output';

/** n8n runs the node as an AI agent's tool under its type name with a "Tool" suffix. */
function runsAsAgentTool(ctx: IExecuteFunctions): boolean {
	return ctx.getNode().type.endsWith('Tool');
}

/** Names as a sentence lists them: "A, B and C". */
function inWords(names: string[]): string {
	return names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names.at(-1)}` : names.join('');
}

const AGENT_TOOL_OPERATION_NAMES = inWords(
	operations.filter((operation) => operation.agentTool).map((operation) => operation.name),
);

/** One item, one or more outputs (an operation over many connections gives one per connection). */
async function runOperation(
	ctx: IExecuteFunctions,
	operation: OperationDefinition,
	connectionId: string | undefined,
	itemIndex: number,
	rule: OutputRule,
	asAgentTool: boolean,
): Promise<IDataObject[]> {
	const result = await withEngine(ctx, itemIndex, (engine) =>
		operation.connectionId === 'none'
			? operation.execute.call(ctx, { engine, itemIndex, asAgentTool })
			: operation.execute.call(ctx, {
					engine,
					connectionId: connectionId!,
					itemIndex,
					asAgentTool,
				}),
	);
	return [operation.output(rule, result)].flat();
}

/** Runs the operation of every item, pairs each output with its input, and turns failures into n8n errors. */
export async function router(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const items = this.getInputData();
	const returnData: INodeExecutionData[] = [];
	const asAgentTool = runsAsAgentTool(this);
	const rule = outputRuleFor(this.getNode().typeVersion);
	const failed = (error: unknown, itemIndex: number, connectionId: string | undefined) => {
		// The re-authorization link carries a signed state that can bind an account: never handed to an agent.
		const withLink = error instanceof NeedsReauthorizationError && !asAgentTool;
		const nodeError = toNodeError(this.getNode(), error, itemIndex, withLink);
		if (!this.continueOnFail()) throw nodeError;
		// n8n routes to the error output, and keeps intact, an item whose only fields are error, message and
		// details; an item carrying `error` beside its json would be cut down to the message alone.
		returnData.push({
			json: {
				error: nodeError.message,
				details: {
					description: nodeError.description ?? null,
					code: error instanceof TokenManagerError ? error.code : null,
					// Which connection failed, once its id was read and found valid: a run over many items says which.
					...(connectionId ? { connectionId } : {}),
					...(withLink ? { reauthorizationUrl: error.reauthorizationUrl ?? null } : {}),
				},
			},
			pairedItem: { item: itemIndex },
		});
	};

	// An agent's tool calls run one by one: each is checked on its own stored connection before any request.
	const together = asAgentTool
		? null
		: await runManyItems(this, items.length, rule, connectionIdOf);
	if (together) {
		together.forEach(({ outputs, connectionId }, i) => {
			if (!outputs.ok) return failed(outputs.error, i, connectionId);
			for (const json of outputs.value) returnData.push({ json, pairedItem: { item: i } });
		});
		return [returnData];
	}
	for (let i = 0; i < items.length; i++) {
		let connectionId: string | undefined;
		try {
			const value = this.getNodeParameter('operation', i);
			const operation = operationNamed(value);
			if (!operation)
				throw new NodeOperationError(
					this.getNode(),
					`The operation "${String(value)}" is not supported`,
					{ itemIndex: i },
				);
			if (asAgentTool && !operation.agentTool) {
				throw new NodeOperationError(
					this.getNode(),
					`The operation "${operation.value}" is not available to an AI agent`,
					{
						itemIndex: i,
						description: `As an agent's tool this node runs ${AGENT_TOOL_OPERATION_NAMES}, and never hands the agent a token. Run the other operations in a workflow without an agent.`,
					},
				);
			}
			connectionId = connectionIdOf(this, operation, i);
			for (const json of await runOperation(this, operation, connectionId, i, rule, asAgentTool)) {
				const toolJson = () =>
					operation.toolOutput ? operation.toolOutput(json) : agentToolOutput(rule, json);
				returnData.push({ json: asAgentTool ? toolJson() : json, pairedItem: { item: i } });
			}
		} catch (error) {
			failed(error, i, connectionId);
		}
	}
	return [returnData];
}
