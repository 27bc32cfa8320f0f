import type { IDataObject, INodeProperties } from 'n8n-workflow';
import { listConnections as readConnections, REPORTED_STATUSES, type ReportedStatus } from '../../../engine';
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
				description: 'Only connections whose ID starts with this text (letter case counts, no wildcards)',
			},
			{
				displayName: 'Provider',
				name: 'provider',
				type: 'string',
				default: '',
				placeholder: 'pipedrive',
				description: 'Only connections of this provider, as the output\'s provider field names it',
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
	description: 'List the stored connections, filtered by status, provider or ID prefix; never a token',
	action: 'List connections',
	since: 1.2,
	agentTool: false,
	needsApp: false,
	connectionId: 'none',
	properties,
	async execute({ engine, itemIndex }) {
		const returnAll = this.getNodeParameter('returnAll', itemIndex, false) as boolean;
		const limit = returnAll ? undefined : (this.getNodeParameter('limit', itemIndex, 50) as number);
		const filters = this.getNodeParameter('filters', itemIndex, {}) as IDataObject;
		return readConnections(
			await engine.store(),
			{
				status: filters.status as ReportedStatus | undefined,
				provider: typeof filters.provider === 'string' ? filters.provider.trim() : undefined,
				idPrefix: typeof filters.idPrefix === 'string' ? filters.idPrefix : undefined,
			},
			limit,
		);
	},
	output: (rule, connections) => connections.map((connection) => summaryFields(rule, connection)),
});
