import { InvalidInputError } from '../../../engine/errors';

/** The node's "Additional Parameters" fields: a query string (name=value&name2=value2) as name → value; empty when blank. */
export function parseParameters(value: unknown): Record<string, string> {
	if (typeof value !== 'string' || value.trim() === '') return {};
	const params = new URLSearchParams(value.trim().replace(/^\?/, ''));
	const out: Record<string, string> = {};
	for (const [name, v] of params) {
		if (!name) throw new InvalidInputError('additionalParameters', 'contain an empty name: use name=value&name2=value2');
		out[name] = v;
	}
	return out;
}

/** A list of scopes typed with spaces or commas between them. */
export function parseScopes(value: unknown): string[] {
	return typeof value === 'string' ? value.split(/[\s,]+/).filter(Boolean) : [];
}
