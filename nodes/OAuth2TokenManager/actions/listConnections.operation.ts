import type { IDataObject, INodeProperties } from 'n8n-workflow';
import {
	connectionPage,
	listConnections as readConnections,
	REPORTED_STATUSES,
	type ReportedStatus,
} from '../../../engine';
import { defineOperation } from './node.type';
import { summaryFields } from './output';

const show = { show: { operation: ['listConnections'] } };

const STATUS_NAMES: { [S in ReportedStatus]: string } = {
	active: 'Active',
	failing: 'Failing (Refreshes Keep Failing)',
	needs_reauth: 'Needs Re-Authorization',
	revoked: 'Revoked',
};

const properties: INodeProperties[] = [
	{
		displayName: 'Return All',
		name: 'returnAll',
		type: 'boolean',
		default: false,
		description: 'Whether to return all results or only up to a given limit',
		displayOptions: show,
	},
	{
		displayName: 'Limit',
		name: 'limit',
		type: 'number',
		typeOptions: { minValue: 1 },
		default: 50,
		description: 'Max number of results to return',
		displayOptions: { show: { ...show.show, returnAll: [false] } },
	},
	{
		displayName: 'After Connection ID',
		name: 'afterConnectionId',
		type: 'string',
		default: '',
		placeholder: 'pipedrive:acme',
		description:
			"Continues a list: only connections whose ID comes after this one in the list's order (the last ID of the previous page). Empty: from the start.",
		displayOptions: { show: { ...show.show, returnAll: [false] } },
	},
	{
		displayName: 'Filters',
		name: 'filters',
		type: 'collection',
		placeholder: 'Add Filter',
		default: {},
		displayOptions: show,
		options: [
			{
				displayName: 'Connection ID Starts With',
				name: 'idPrefix',
				type: 'string',
				default: '',
				placeholder: 'pipedrive:',
				description:
					'Only connections whose ID starts with this text (letter case counts, no wildcards)',
			},
			{
				displayName: 'Provider',
				name: 'provider',
				type: 'string',
				default: '',
				placeholder: 'pipedrive',
				description: "Only connections of this provider, as the output's provider field names it",
			},
			{
				displayName: 'Status',
				name: 'status',
				type: 'options',
				options: REPORTED_STATUSES.map((status) => ({ name: STATUS_NAMES[status], value: status })),
				default: 'active',
			},
		],
	},
];

export const listConnections = defineOperation({
	value: 'listConnections',
	name: 'List Connections',
	description:
		'List the stored connections, filtered by status, provider or ID prefix; never a token',
	action: 'List connections',
	since: 1.2,
	agentTool: false,
	needsApp: false,
	connectionId: 'none',
	properties,
	async execute({ engine, itemIndex }) {
		const returnAll = this.getNodeParameter('returnAll', itemIndex, false) as boolean;
		const limit = returnAll ? undefined : (this.getNodeParameter('limit', itemIndex, 50) as number);
		const after =
			limit === undefined
				? ''
				: (this.getNodeParameter('afterConnectionId', itemIndex, '') as string);
		const filters = this.getNodeParameter('filters', itemIndex, {}) as IDataObject;
		const store = await engine.store();
		const query = {
			// Empty (an expression that yields no status): every status, as an empty prefix or provider means every one.
			status: (filters.status as ReportedStatus | '' | undefined) || undefined,
			provider: typeof filters.provider === 'string' ? filters.provider.trim() : undefined,
			idPrefix: typeof filters.idPrefix === 'string' ? filters.idPrefix : undefined,
		};
		// A continued list is one keyset page of the store, read by one query however deep it lies.
		if (limit !== undefined && after)
			return (await connectionPage(store, query, { after, size: limit })).connections;
		return readConnections(store, query, limit);
	},
	output: (rule, connections) => connections.map((connection) => summaryFields(rule, connection)),
});
