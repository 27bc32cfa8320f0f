import type { ILoadOptionsFunctions, INodeListSearchResult } from 'n8n-workflow';
import { connectionPage } from '../../../engine';
import { toNodeError } from '../actions/nodeErrors';
import { withPanelStore } from '../transport/engine';

/** Connections per page of the Connection ID list; n8n's list asks for the next page as the user scrolls. */
export const CONNECTION_LIST_PAGE_SIZE = 100;

/**
 * The Connection ID's "From List" mode: the selected store's connections in ID order, each with its status, those
 * whose ID contains what the user typed ("acme" finds "pipedrive:acme"), one bounded query a page. The page token is
 * the last ID shown.
 */
export async function searchConnections(
	this: ILoadOptionsFunctions,
	filter?: string,
	paginationToken?: string,
): Promise<INodeListSearchResult> {
	let page;
	try {
		page = await withPanelStore(this, (store) =>
			connectionPage(
				store,
				{ idContains: filter?.trim() || undefined },
				{ after: paginationToken || undefined, size: CONNECTION_LIST_PAGE_SIZE },
			),
		);
	} catch (error) {
		throw toNodeError(this.getNode(), error, 0, false);
	}
	const { connections, next } = page;
	return {
		results: connections.map((c) => ({
			name: `${c.connectionId} (${c.status})`,
			value: c.connectionId,
			description: c.provider,
		})),
		paginationToken: next,
	};
}
