import type { INodeProperties } from 'n8n-workflow';
import { DEFAULT_MIN_VALIDITY_SECONDS } from '../../../engine';
import { parameterOfItems } from './itemParameters';
import { minValidityOf, minValidityProperty } from './minValidity';
import { defineOperation } from './node.type';
import { connectionFields, healthFields } from './output';

const properties: INodeProperties[] = [
	minValidityProperty(
		'getValidToken',
		"Refresh first when the stored token expires within this many seconds, so it outlives the calls that use it. Capped to half the token's lifetime (the output says when), so a fresh token is never refreshed.",
	),
];

export const getValidToken = defineOperation({
	value: 'getValidToken',
	name: 'Get Valid Token',
	description:
		'Return an access token that stays valid, refreshing it first when it is about to expire',
	action: 'Get a valid access token',
	agentTool: true,
	needsApp: true,
	connectionId: 'existing',
	properties,
	async execute({ engine, connectionId, itemIndex }) {
		const minValiditySeconds = minValidityOf(this, itemIndex);
		return (await engine.manager()).getValidToken(connectionId, { minValiditySeconds });
	},
	async executeMany({ engine, items }) {
		const minValiditySecondsOf = parameterOfItems(
			this,
			'minValiditySeconds',
			DEFAULT_MIN_VALIDITY_SECONDS,
		);
		const requests = items.map(({ connectionId, itemIndex }) => ({
			connectionId,
			minValiditySeconds: minValiditySecondsOf(itemIndex),
		}));
		return (await engine.manager()).getValidTokens(requests);
	},
	output: (rule, result) =>
		connectionFields(rule, result, true, {
			[rule.names.minValiditySeconds]: result.minValidity.effectiveSeconds,
			[rule.names.minValidityCapped]: result.minValidity.capped,
			...healthFields(result),
		}),
});
