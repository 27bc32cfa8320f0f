import type { INodeProperties } from 'n8n-workflow';
import * as buildAuthorizationUrl from './buildAuthorizationUrl.operation';
import * as connectClientCredentials from './connectClientCredentials.operation';
import * as exchangeAuthorizationCode from './exchangeAuthorizationCode.operation';
import * as getConnection from './getConnection.operation';
import * as getValidToken from './getValidToken.operation';
import * as keepAlive from './keepAlive.operation';
import * as listConnections from './listConnections.operation';
import type { Operation, OperationModule } from './node.type';
import * as refreshToken from './refreshToken.operation';
import * as revoke from './revoke.operation';

/** Every operation: its parameters and what it does. The node's operation options are listed below. */
export const operations: { [K in Operation]: OperationModule<K> } = {
	buildAuthorizationUrl,
	exchangeAuthorizationCode,
	getValidToken,
	refreshToken,
	revoke,
	getConnection,
	listConnections,
	keepAlive,
	connectClientCredentials,
};

export function isOperation(value: unknown): value is Operation {
	return typeof value === 'string' && Object.hasOwn(operations, value);
}

/**
 * What an AI agent may run when the node is its tool: a bearer token handed to an agent goes to the model's
 * vendor, so as a tool the node reports status and expiry only, and offers neither the authorization steps
 * nor Revoke. n8n runs a tool under the node type name with a "Tool" suffix.
 */
export const AGENT_TOOL_OPERATIONS: readonly Operation[] = ['getValidToken', 'refreshToken'];
const notForAgents = { hide: { '@tool': [true] } };
/** Operations added with node version 1.2 (whose Connection ID is a resource locator and whose output follows 1.1's rule); not for agents. */
const fromVersion12 = { show: { '@version': [{ _cnd: { gte: 1.2 } }] }, ...notForAgents };

/** Operations that read connections from the store only: no App credential, no provider, never a token. */
export const STORE_ONLY_OPERATIONS: readonly Operation[] = ['getConnection', 'listConnections'];

export const operationProperty: INodeProperties = {
	displayName: 'Operation',
	name: 'operation',
	type: 'options',
	noDataExpression: true,
	options: [
		{
			name: 'Build Authorization URL',
			value: 'buildAuthorizationUrl',
			description: 'Start an authorization: the provider\'s consent URL with a signed, single-use state (and PKCE where supported)',
			action: 'Build an authorization URL',
			displayOptions: notForAgents,
		},
		{
			name: 'Connect with Client Credentials',
			value: 'connectClientCredentials',
			description: 'Connect the OAuth app itself (client credentials grant, no user): get a token and store it; Get Valid Token renews it',
			action: 'Connect with client credentials',
			displayOptions: fromVersion12,
		},
		{
			name: 'Exchange Authorization Code',
			value: 'exchangeAuthorizationCode',
			description: 'Trade the code from the OAuth callback for tokens and store them',
			action: 'Exchange an authorization code',
			displayOptions: notForAgents,
		},
		{
			name: 'Get Connection',
			value: 'getConnection',
			description: 'Inspect a connection: status, expiry, last refresh, last error, failures; never a token',
			action: 'Get a connection',
			displayOptions: fromVersion12,
		},
		{
			name: 'Get Valid Token',
			value: 'getValidToken',
			description: 'Return an access token that stays valid, refreshing it first when it is about to expire',
			action: 'Get a valid access token',
		},
		{
			name: 'Keep Alive',
			value: 'keepAlive',
			description: 'For a Schedule Trigger: refresh every connection that expires soon or has been idle, one item per connection touched',
			action: 'Keep connections alive',
			displayOptions: fromVersion12,
		},
		{
			name: 'List Connections',
			value: 'listConnections',
			description: 'List the stored connections, filtered by status, provider or ID prefix; never a token',
			action: 'List connections',
			displayOptions: fromVersion12,
		},
		{
			name: 'Refresh Token',
			value: 'refreshToken',
			description: 'Refresh the access token now, or only if a failed token is still the stored one',
			action: 'Refresh an access token',
		},
		{
			name: 'Revoke / Disconnect',
			value: 'revoke',
			description: 'Revoke the tokens at the provider (RFC 7009), then mark the connection revoked and erase them',
			action: 'Revoke a connection',
			displayOptions: notForAgents,
		},
	],
	default: 'getValidToken',
};
