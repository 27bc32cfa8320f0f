import type { INodeProperties } from 'n8n-workflow';
import { PROVIDER_PRESETS, type ProviderPreset } from '../../../engine';
import { defineOperation } from './node.type';
import { connectionFields } from './output';

/**
 * What the switch does depends on the App credential's provider, which the panel cannot read: the notice lists
 * the effect for every provider preset.
 */
function revokeEffect(preset: ProviderPreset): string {
	if (!preset.tokenUrl) {
		return `${preset.name}: revokes the refresh token at the Revocation URL of the App credential; with no Revocation URL set, the switch has no effect and the tokens are only erased here.`;
	}
	if (!preset.revocationUrl) return `${preset.name}: no standard revocation endpoint, the tokens are only erased here.`;
	return `${preset.name}: ${preset.revocationEffect ?? 'revokes the refresh token at the provider'}.`;
}

const REVOKE_AT_PROVIDER_EFFECT = [
	'Revoke at Provider ends the grant at the provider, not only here: the account has to be connected again (through the Connect workflow) before tokens can be had.',
	...Object.values(PROVIDER_PRESETS).map(revokeEffect),
].join(' ');

const properties: INodeProperties[] = [
	{
		displayName: 'Revoke at Provider',
		name: 'revokeAtProvider',
		type: 'boolean',
		default: true,
		description:
			'Whether to revoke the refresh token at the provider (RFC 7009) before erasing it here. For Pipedrive this uninstalls the app from the company. Turn off to only erase the tokens stored here.',
		displayOptions: { show: { operation: ['revoke'] } },
	},
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
	description: 'Revoke the tokens at the provider (RFC 7009), then mark the connection revoked and erase them',
	action: 'Revoke a connection',
	agentTool: false,
	needsApp: true,
	connectionId: 'existing',
	properties,
	async execute({ engine, connectionId, itemIndex }) {
		const atProvider = this.getNodeParameter('revokeAtProvider', itemIndex, true) as boolean;
		return (await engine.manager()).revoke(connectionId, { atProvider });
	},
	output: (rule, { connection, revokedAtProvider }) =>
		connectionFields(rule, { connection, refreshed: false, recovered: false }, false, {
			[rule.names.revokedAtProvider]: revokedAtProvider !== null,
			[rule.names.revokedTokenType]: revokedAtProvider,
		}),
});
