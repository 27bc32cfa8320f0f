import type { INodeProperties } from 'n8n-workflow';
import { DEFAULT_MIN_VALIDITY_SECONDS } from '../../../engine';
import type { ConnectionOperation } from './node.type';

export const description: INodeProperties[] = [
	{
		displayName: 'Minimum Validity (Seconds)',
		name: 'minValiditySeconds',
		type: 'number',
		typeOptions: { minValue: 0 },
		default: DEFAULT_MIN_VALIDITY_SECONDS,
		description:
			'Refresh first when the stored token expires within this many seconds, so it outlives the calls that use it. Capped to half the token\'s lifetime (the output says when), so a fresh token is never refreshed.',
		displayOptions: { show: { operation: ['getValidToken'] } },
	},
];

export const execute: ConnectionOperation<'getValidToken'>['execute'] = async function ({ engine, connectionId, itemIndex }) {
	const minValiditySeconds = this.getNodeParameter('minValiditySeconds', itemIndex, DEFAULT_MIN_VALIDITY_SECONDS) as number;
	return (await engine.manager()).getValidToken(connectionId, { minValiditySeconds });
};
