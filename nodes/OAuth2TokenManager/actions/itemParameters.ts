import type { IExecuteFunctions } from 'n8n-workflow';

/**
 * A parameter as each item sees it. Only an expression can differ between items: a parameter that is none is read
 * once, as n8n resolves a parameter anew on every read, which over many items adds up.
 */
export function parameterOfItems<T>(
	ctx: IExecuteFunctions,
	name: string,
	fallback?: T,
): (itemIndex: number) => T {
	const raw: unknown = ctx.getNodeParameter(name, 0, fallback, { rawExpressions: true });
	const fixed =
		raw === undefined || raw === null || (typeof raw !== 'object' && !String(raw).startsWith('='));
	if (!fixed) return (itemIndex) => ctx.getNodeParameter(name, itemIndex, fallback) as T;
	const value = ctx.getNodeParameter(name, 0, fallback) as T;
	return () => value;
}
