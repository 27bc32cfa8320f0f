import type { IExecuteFunctions, INodeProperties } from 'n8n-workflow';
import { DEFAULT_MIN_VALIDITY_SECONDS } from '../../../engine';

/** The Minimum Validity field of an operation that uses the access token; `description` says what it means there. */
export function minValidityProperty(operation: string, description: string): INodeProperties {
	return {
		displayName: 'Minimum Validity (Seconds)',
		name: 'minValiditySeconds',
		type: 'number',
		typeOptions: { minValue: 0 },
		default: DEFAULT_MIN_VALIDITY_SECONDS,
		description,
		displayOptions: { show: { operation: [operation] } },
	};
}

export function minValidityOf(ctx: IExecuteFunctions, itemIndex: number): number {
	return ctx.getNodeParameter(
		'minValiditySeconds',
		itemIndex,
		DEFAULT_MIN_VALIDITY_SECONDS,
	) as number;
}
