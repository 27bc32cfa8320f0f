import type { IDataObject, IExecuteFunctions, INodeProperties } from 'n8n-workflow';
import { DEFAULT_MIN_VALIDITY_SECONDS, type TokenManager } from '../../../engine/token-manager';
import { connectionOutput } from './output';

export const description: INodeProperties[] = [
	{
		displayName: 'Minimum Validity (Seconds)',
		name: 'minValiditySeconds',
		type: 'number',
		typeOptions: { minValue: 0 },
		default: DEFAULT_MIN_VALIDITY_SECONDS,
		description:
			'Refresh first when the stored token expires within this many seconds, so it outlives the calls that use it. Capped to half the token\'s lifetime (output: min_validity_capped), so a fresh token is never refreshed.',
		displayOptions: { show: { operation: ['getValidToken'] } },
	},
];

export async function execute(this: IExecuteFunctions, manager: TokenManager, connectionId: string, i: number): Promise<IDataObject> {
	const minValiditySeconds = this.getNodeParameter('minValiditySeconds', i, DEFAULT_MIN_VALIDITY_SECONDS) as number;
	const result = await manager.getValidToken(connectionId, { minValiditySeconds });
	return {
		...connectionOutput(result, true),
		min_validity_seconds: result.minValidity.effectiveSeconds,
		min_validity_capped: result.minValidity.capped,
	};
}
