import type { IDataObject, IExecuteFunctions } from 'n8n-workflow';
import type { Settled } from '../../../engine';
import { withEngine } from '../transport/engine';
import type { OperationDefinition } from './node.type';
import { operationNamed } from './operations';
import type { OutputRule } from './output';
import { defaultStorage } from './versions';
import { parameterOfItems } from './itemParameters';

/** One item's outputs or error, and the connection id it named once that was checked. */
export interface ItemOutcome {
	outputs: Settled<IDataObject[]>;
	connectionId?: string;
}

/** The item's checked connection id (router.ts). */
type ConnectionIdOf = (
	ctx: IExecuteFunctions,
	operation: OperationDefinition,
	itemIndex: number,
) => string | undefined;

/**
 * Runs the items of an execution at once when every item asks for the same operation that can (its executeMany) on
 * the same Storage: one engine for all (the node's credentials read once, as n8n's own database nodes read theirs) and
 * one store read for all their connections, instead of a round trip per item. Null when the items run one by one.
 */
export async function runManyItems(
	ctx: IExecuteFunctions,
	itemCount: number,
	rule: OutputRule,
	connectionIdOf: ConnectionIdOf,
): Promise<ItemOutcome[] | null> {
	if (itemCount < 2) return null;
	const operationOf = parameterOfItems<unknown>(ctx, 'operation');
	const operation = operationNamed(operationOf(0));
	if (!operation || !('executeMany' in operation) || !operation.executeMany) return null;
	const storageOf = parameterOfItems(ctx, 'storage', defaultStorage(ctx.getNode().typeVersion));
	for (let i = 1; i < itemCount; i++)
		if (operationOf(i) !== operationOf(0) || storageOf(i) !== storageOf(0)) return null;
	const outcomes: ItemOutcome[] = [];
	const items: Array<{ connectionId: string; itemIndex: number }> = [];
	for (let itemIndex = 0; itemIndex < itemCount; itemIndex++) {
		try {
			const connectionId = connectionIdOf(ctx, operation, itemIndex)!;
			items.push({ connectionId, itemIndex });
			outcomes.push({ connectionId, outputs: { ok: true, value: [] } });
		} catch (error) {
			outcomes.push({ outputs: { ok: false, error } });
		}
	}
	const { executeMany } = operation;
	let results: Array<Settled<unknown>>;
	try {
		results = await withEngine(ctx, 0, (engine) => executeMany.call(ctx, { engine, items }));
	} catch (error) {
		// No engine for them (a credential missing or wrong): every item fails alike.
		results = items.map(() => ({ ok: false, error }));
	}
	items.forEach(({ itemIndex }, k) => {
		const result = results[k];
		outcomes[itemIndex].outputs = result.ok
			? { ok: true, value: [operation.output(rule, result.value)].flat() }
			: result;
	});
	return outcomes;
}
