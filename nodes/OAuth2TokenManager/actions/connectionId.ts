import type { IDataObject, IExecuteFunctions } from 'n8n-workflow';
import { InvalidInputError, validateConnectionId } from '../../../engine';
import { DERIVED_FROM_PROVIDER, type OperationDefinition } from './node.type';

/**
 * The Connection ID's "From Input Field" mode: its value names a field of each input item (`connectionId`,
 * `query.connectionId`), which the node reads itself. An expression such as `{{ $json.connectionId }}` gives the
 * same value, but n8n evaluates it for every item, which over many items costs far more than the node's own work.
 */
export const FROM_INPUT_FIELD = 'field';

function isLocator(value: unknown): value is { mode: string; value: unknown } {
	return value !== null && typeof value === 'object' && 'mode' in value && 'value' in value;
}

/** The item's field at `path` (dots separate nested fields), as text. */
function fieldOfItem(ctx: IExecuteFunctions, itemIndex: number, path: unknown): string {
	const name = typeof path === 'string' ? path.trim() : '';
	if (name === '')
		throw new InvalidInputError(
			'connectionId',
			'names no input field: give the field that holds each item\'s connection ID, e.g. "connectionId" or "query.connectionId"',
		);
	let value: unknown = ctx.getInputData()[itemIndex]?.json;
	for (const key of name.split('.'))
		value = value !== null && typeof value === 'object' ? (value as IDataObject)[key] : undefined;
	if (typeof value === 'number') return String(value);
	if (typeof value !== 'string')
		throw new InvalidInputError(
			'connectionId',
			`comes from the input field "${name}", which item ${itemIndex + 1} does not have as text${value === undefined ? '' : ` (it holds ${value === null ? 'null' : typeof value})`}: check the field name, or the node before this one`,
		);
	return value;
}

/**
 * The item's connection id, checked before any credential is read or any store is reached; '' when the provider's
 * answer names the connection, undefined for an operation on the whole store. From version 1.2 the parameter is a
 * resource locator: its value as given (From List, By ID), or the input field it names (From Input Field).
 */
export function connectionIdOf(
	ctx: IExecuteFunctions,
	operation: OperationDefinition,
	itemIndex: number,
): string | undefined {
	if (operation.connectionId === 'none') return undefined;
	if (operation.connectionId === 'fromCallback') {
		const given = operation.readConnectionId.call(ctx, itemIndex);
		return given === DERIVED_FROM_PROVIDER ? '' : validateConnectionId(given);
	}
	const parameter = ctx.getNodeParameter('connectionId', itemIndex, '');
	const given = !isLocator(parameter)
		? parameter
		: parameter.mode === FROM_INPUT_FIELD
			? fieldOfItem(ctx, itemIndex, parameter.value)
			: parameter.value;
	return validateConnectionId(given);
}
