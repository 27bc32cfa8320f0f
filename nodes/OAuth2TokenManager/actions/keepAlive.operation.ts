import type { IDataObject, INodeProperties } from 'n8n-workflow';
import { DEFAULT_KEEP_ALIVE_CONCURRENCY, MAX_KEEP_ALIVE_CONCURRENCY } from '../../../engine';
import { defineOperation } from './node.type';
import { keepAliveFields } from './output';

const show = { show: { operation: ['keepAlive'] } };

/**
 * Pipedrive's refresh tokens die after 60 days unused: refreshing connections idle for 30 days keeps every one of
 * them alive even if a sweep or two fails, and costs one refresh per connection a month.
 */
export const DEFAULT_IDLE_AFTER_DAYS = 30;
export const DEFAULT_EXPIRES_WITHIN_SECONDS = 600;

const properties: INodeProperties[] = [
	{
		displayName:
			"Run this from a Schedule Trigger (e.g. every 15 minutes). Each connection of the App credential's provider that is due is refreshed under its lease, one item per connection touched. Bundled workflow 4 sends the ones that need re-authorization or are failing to an alert endpoint.",
		name: 'keepAliveNotice',
		type: 'notice',
		default: '',
		displayOptions: show,
	},
	{
		displayName: 'Expires Within (Seconds)',
		name: 'expiresWithinSeconds',
		type: 'number',
		typeOptions: { minValue: 0 },
		default: DEFAULT_EXPIRES_WITHIN_SECONDS,
		description:
			"Refresh every connection whose access token expires within this many seconds. Longer than the schedule's interval, so no token expires between two runs.",
		displayOptions: show,
	},
	{
		displayName: 'Idle After (Days)',
		name: 'idleAfterDays',
		type: 'number',
		typeOptions: { minValue: 1 },
		default: DEFAULT_IDLE_AFTER_DAYS,
		description:
			"Refresh every connection not refreshed for this many days, so its refresh token does not expire unused. Pipedrive's die after 60 days without use: 30 leaves room for failed runs. Set it below your provider's idle limit.",
		displayOptions: show,
	},
	{
		displayName: 'Options',
		name: 'keepAliveOptions',
		type: 'collection',
		placeholder: 'Add option',
		default: {},
		displayOptions: show,
		options: [
			{
				displayName: 'Concurrency',
				name: 'concurrency',
				type: 'number',
				typeOptions: { minValue: 1, maxValue: MAX_KEEP_ALIVE_CONCURRENCY },
				default: DEFAULT_KEEP_ALIVE_CONCURRENCY,
				description:
					'How many connections are refreshed at once. Keep it low for providers with tight rate limits.',
			},
			{
				displayName: 'Max Connections',
				name: 'maxConnections',
				type: 'number',
				typeOptions: { minValue: 1 },
				default: 1000,
				description:
					'Touch at most this many connections per run, in connection ID order from where the previous run stopped (after the last one, the first again), so the rest get their turn in the next runs. Connections in their cooldown are skipped and not counted. Leave the option out to touch every connection that is due.',
			},
		],
	},
];

export const keepAlive = defineOperation({
	value: 'keepAlive',
	name: 'Keep Alive',
	description:
		'For a Schedule Trigger: refresh every connection that expires soon or has been idle, one item per connection touched',
	action: 'Keep connections alive',
	since: 1.2,
	agentTool: false,
	needsApp: true,
	connectionId: 'none',
	properties,
	async execute({ engine, itemIndex }) {
		const options = this.getNodeParameter('keepAliveOptions', itemIndex, {}) as IDataObject;
		return (await engine.manager()).keepAlive({
			expiresWithinSeconds: this.getNodeParameter(
				'expiresWithinSeconds',
				itemIndex,
				DEFAULT_EXPIRES_WITHIN_SECONDS,
			) as number,
			idleAfterDays: this.getNodeParameter(
				'idleAfterDays',
				itemIndex,
				DEFAULT_IDLE_AFTER_DAYS,
			) as number,
			concurrency: options.concurrency === undefined ? undefined : (options.concurrency as number),
			maxConnections:
				options.maxConnections === undefined ? undefined : (options.maxConnections as number),
		});
	},
	output: (rule, outcomes) => outcomes.map((outcome) => keepAliveFields(rule, outcome)),
});
