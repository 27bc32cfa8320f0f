import { getConnection as readConnection } from '../../../engine';
import { defineOperation } from './node.type';
import { summaryFields } from './output';

/** The stored connection without its tokens: the storage credential is all it needs. */
export const getConnection = defineOperation({
	value: 'getConnection',
	name: 'Get Connection',
	description:
		'Inspect a connection: status, expiry, last refresh, last error, failures; never a token',
	action: 'Get a connection',
	since: 1.2,
	agentTool: false,
	needsApp: false,
	connectionId: 'existing',
	properties: [],
	async execute({ engine, connectionId }) {
		return readConnection(await engine.store(), connectionId);
	},
	output: summaryFields,
});
