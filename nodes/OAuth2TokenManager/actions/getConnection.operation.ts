import type { INodeProperties } from 'n8n-workflow';
import { getConnection } from '../../../engine';
import type { ConnectionOperation } from './node.type';

/** Needs only the storage credential: the output is the stored connection without its tokens. */
export const description: INodeProperties[] = [];

export const execute: ConnectionOperation<'getConnection'>['execute'] = async function ({ engine, connectionId }) {
	return getConnection(await engine.store(), connectionId);
};
