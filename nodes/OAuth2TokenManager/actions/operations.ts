import { apiRequest } from './apiRequest.operation';
import { buildAuthorizationUrl } from './buildAuthorizationUrl.operation';
import { connectClientCredentials } from './connectClientCredentials.operation';
import { exchangeAuthorizationCode } from './exchangeAuthorizationCode.operation';
import { getConnection } from './getConnection.operation';
import { getValidToken } from './getValidToken.operation';
import { keepAlive } from './keepAlive.operation';
import { listConnections } from './listConnections.operation';
import type { OperationDefinition } from './node.type';
import { refreshToken } from './refreshToken.operation';
import { revoke } from './revoke.operation';

/**
 * Every operation, in the order they came: the node's parameters follow it (the panel lists the operations by
 * name). The description and the router take all they know of the operations from here.
 */
export const operations: readonly OperationDefinition[] = [
	buildAuthorizationUrl,
	exchangeAuthorizationCode,
	getValidToken,
	refreshToken,
	revoke,
	getConnection,
	listConnections,
	keepAlive,
	connectClientCredentials,
	apiRequest,
];

/** The operation a saved Operation parameter names, if the node has it. */
export function operationNamed(value: unknown): OperationDefinition | undefined {
	return operations.find((operation) => operation.value === value);
}

/** The values of the operations that match. */
export function operationValues(matches: (operation: OperationDefinition) => boolean): string[] {
	return operations.filter(matches).map((operation) => operation.value);
}
