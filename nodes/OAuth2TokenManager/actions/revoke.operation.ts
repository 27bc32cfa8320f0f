import type { INodeProperties } from 'n8n-workflow';
import { PROVIDER_PRESETS, type ProviderPreset } from '../../../engine';
import { defineOperation } from './node.type';
import { connectionFields } from './output';
import {
	defaultRevokeAtProvider,
	EDITOR_FIRST_DEFAULTS_SINCE,
	inVersionsBefore,
	inVersionsSince,
} from './versions';

/**
 * What the switch does depends on the App credential's provider, which the panel cannot read: the notice lists
 * the effect for every provider preset.
 */
function revokeEffect(preset: ProviderPreset): string {
	if (!preset.tokenUrl) {
		return `${preset.name}: revokes the refresh token at the Revocation URL of the App credential; with no Revocation URL set, the switch has no effect and the tokens are only erased here.`;
	}
	if (!preset.revocationUrl)
		return `${preset.name}: no standard revocation endpoint, the tokens are only erased here.`;
	return `${preset.name}: ${preset.revocationEffect ?? 'revokes the refresh token at the provider'}.`;
}

const REVOKE_AT_PROVIDER_EFFECT = [
	'Revoke at Provider ends the grant at the provider, not only here: the account has to be connected again (through the Connect workflow) before tokens can be had.',
	...Object.values(PROVIDER_PRESETS).map(revokeEffect),
].join(' ');

const REVOKE_AT_PROVIDER_DESCRIPTION =
	'Whether to revoke the refresh token at the provider (RFC 7009) before erasing it here. On: the grant ends at the provider too (for Pipedrive this uninstalls the app from the company) and the account must be connected again. Off: only the tokens stored here are erased.';

/** One per default: saved nodes before EDITOR_FIRST_DEFAULTS_SINCE keep "on"; new nodes start "off", so a test run erases only what is stored here. */
const revokeAtProviderProperties: INodeProperties[] = [
	{
		displayName: 'Revoke at Provider',
		name: 'revokeAtProvider',
		type: 'boolean',
		default: true,
		description: REVOKE_AT_PROVIDER_DESCRIPTION,
		displayOptions: {
			show: { operation: ['revoke'], ...inVersionsBefore(EDITOR_FIRST_DEFAULTS_SINCE) },
		},
	},
	{
		displayName: 'Revoke at Provider',
		name: 'revokeAtProvider',
		type: 'boolean',
		default: false,
		description: REVOKE_AT_PROVIDER_DESCRIPTION,
		displayOptions: {
			show: { operation: ['revoke'], ...inVersionsSince(EDITOR_FIRST_DEFAULTS_SINCE) },
		},
	},
];

const properties: INodeProperties[] = [
	...revokeAtProviderProperties,
	{
		displayName: REVOKE_AT_PROVIDER_EFFECT,
		name: 'revokeAtProviderNotice',
		type: 'notice',
		default: '',
		displayOptions: { show: { operation: ['revoke'], revokeAtProvider: [true] } },
	},
];

export const revoke = defineOperation({
	value: 'revoke',
	name: 'Revoke / Disconnect',
	description:
		'Revoke the tokens at the provider (RFC 7009), then mark the connection revoked and erase them',
	action: 'Revoke a connection',
	agentTool: false,
	needsApp: true,
	connectionId: 'existing',
	properties,
	async execute({ engine, connectionId, itemIndex }) {
		const atProvider = this.getNodeParameter(
			'revokeAtProvider',
			itemIndex,
			defaultRevokeAtProvider(this.getNode().typeVersion),
		) as boolean;
		return (await engine.manager()).revoke(connectionId, { atProvider });
	},
	output: (rule, { connection, revokedAtProvider }) =>
		connectionFields(rule, { connection, refreshed: false, recovered: false }, false, {
			[rule.names.revokedAtProvider]: revokedAtProvider !== null,
			[rule.names.revokedTokenType]: revokedAtProvider,
		}),
});
