import { NodeApiError, NodeOperationError, type INode, type JsonObject } from 'n8n-workflow';
import {
	ApiRequestError,
	AppMismatchError,
	ConnectionNotFoundError,
	ConnectionRevokedError,
	DecryptionError,
	InvalidInputError,
	InvalidStateError,
	type InvalidStateReason,
	MissingInputError,
	NeedsReauthorizationError,
	ProviderFailingError,
	TokenEndpointError,
	TokenManagerError,
} from '../../../engine';

/*
 * The one place where engine errors get n8n's words: the engine names its settings by their keys and speaks of
 * clients, connections and states; here they become the fields, credentials and operations a user sees.
 */

type Place = 'node' | 'App credential' | 'storage credential' | 'MySQL storage credential';

/** Each engine input key: the field that holds it, where, and (when it can be empty) how to fill it. */
const INPUT_FIELDS = new Map<string, { label: string; place: Place; whenEmpty?: string }>(
	Object.entries({
		connectionId: {
			label: 'Connection ID',
			place: 'node',
			whenEmpty: 'set one per authorized account, e.g. "pipedrive:acme"',
		},
		code: {
			label: 'Authorization Code',
			place: 'node',
			whenEmpty: 'map it from the callback, e.g. {{ $json.query.code }}',
		},
		minValiditySeconds: { label: 'Minimum Validity (Seconds)', place: 'node' },
		expiresInMinutes: { label: 'Link Validity (Minutes)', place: 'node' },
		stateTtlSeconds: { label: 'Link Validity (Minutes)', place: 'node' },
		additionalParameters: { label: 'Additional Parameters', place: 'node' },
		limit: { label: 'Limit', place: 'node' },
		status: { label: 'Status', place: 'node' },
		expiresWithinSeconds: { label: 'Expires Within (Seconds)', place: 'node' },
		idleAfterDays: { label: 'Idle After (Days)', place: 'node' },
		concurrency: { label: 'Concurrency', place: 'node' },
		maxConnections: { label: 'Max Connections', place: 'node' },
		scopes: { label: 'Scopes', place: 'node' },
		clientId: {
			label: 'Client ID',
			place: 'App credential',
			whenEmpty: "enter the client ID from the provider's app settings",
		},
		clientSecret: {
			label: 'Client Secret',
			place: 'App credential',
			whenEmpty: "enter the client secret from the provider's app settings",
		},
		extraParameters: { label: 'Additional Parameters', place: 'node' },
		redirectUri: {
			label: 'Redirect URI',
			place: 'App credential',
			whenEmpty:
				'set it in the App credential to the exact callback URL registered with the provider',
		},
		authorizationUrl: {
			label: 'Authorization URL',
			place: 'App credential',
			whenEmpty: 'set it in the App credential (needed for the Custom preset)',
		},
		tokenUrl: {
			label: 'Token URL',
			place: 'App credential',
			whenEmpty: 'set it in the App credential (needed for the Custom preset)',
		},
		revocationUrl: { label: 'Revocation URL', place: 'App credential' },
		tenant: {
			label: 'Tenant',
			place: 'App credential',
			whenEmpty: 'set it in the App credential (common for multi-tenant apps, or the tenant ID)',
		},
		accountsServer: { label: 'Accounts Server', place: 'App credential' },
		environment: { label: 'Environment', place: 'App credential' },
		authorizationParameters: { label: 'Authorization Parameters', place: 'App credential' },
		tokenParameters: { label: 'Code Exchange Parameters', place: 'App credential' },
		refreshParameters: { label: 'Refresh Request Parameters', place: 'App credential' },
		callbackFields: { label: 'Callback Query', place: 'node' },
		encryptionKey: { label: 'Token Encryption Key', place: 'storage credential' },
		previousEncryptionKeys: {
			label: 'Previous Token Encryption Keys',
			place: 'storage credential',
		},
		tableName: { label: 'Table Name', place: 'storage credential' },
		database: {
			label: 'Database',
			place: 'MySQL storage credential',
			whenEmpty: 'enter the database of the token table',
		},
		supabaseUrl: { label: 'Supabase Host', place: 'storage credential' },
		apiUrl: {
			label: 'URL',
			place: 'node',
			whenEmpty: "give a path under the connection's API base, e.g. /api/v1/users/me",
		},
		apiHeaders: { label: 'Headers', place: 'node' },
		jsonBody: { label: 'JSON Body', place: 'node' },
	}),
);

/** The label of the field that holds an engine input key, if the node knows it. */
export function inputFieldLabel(key: string): string | undefined {
	return INPUT_FIELDS.get(key)?.label;
}

const RESTART_AUTHORIZATION =
	'Start the authorization again (Build Authorization URL) and complete it within its validity; each link works once.';

const INVALID_STATE_HINTS: { [R in InvalidStateReason]: string } = {
	missing:
		'Start the authorization with "Build Authorization URL" (it adds a signed state). Only for Pipedrive Marketplace installs, which arrive without state, turn on "Allow Missing State".',
	malformed: RESTART_AUTHORIZATION,
	tampered: RESTART_AUTHORIZATION,
	outdated: RESTART_AUTHORIZATION,
	expired: RESTART_AUTHORIZATION,
	replayed: RESTART_AUTHORIZATION,
	issued_in_future:
		'Synchronize the clocks of every n8n host (NTP), then start the authorization again (Build Authorization URL).',
	other_connection:
		'Use the connection id the authorization was started for (leave Connection ID empty to take it from the state).',
	other_store:
		'Give Exchange Authorization Code the storage credential that Build Authorization URL used (same table and database), then start the authorization again.',
};

/** Token endpoint refusals whose fix lies in the App credential. */
const TOKEN_ENDPOINT_HINTS = new Map([
	[
		'invalid_client',
		'Check the Client ID and Client Secret in the OAuth2 Token Manager App credential, and its Client Authentication setting.',
	],
	['invalid_scope', 'Check the Scopes in the OAuth2 Token Manager App credential.'],
]);

export interface UserFacingError {
	message: string;
	description?: string;
	/** A setting to fix in the workflow or its credentials (NodeOperationError), not a failure of a provider or a store. */
	isSetting: boolean;
}

/** An engine error in the words of n8n's editor: the field, credential or operation to look at. */
export function describeEngineError(error: TokenManagerError): UserFacingError {
	if (error instanceof InvalidInputError) {
		const field = INPUT_FIELDS.get(error.field);
		const label = field?.label ?? error.field;
		const howToFill =
			error instanceof MissingInputError && field?.whenEmpty ? `: ${field.whenEmpty}` : '';
		const where = !field || field.place === 'node' ? '' : ` in the ${field.place}`;
		return {
			message: `The ${label} ${error.problem}${howToFill}`,
			description: `Check the "${label}" field${where}.`,
			isSetting: true,
		};
	}
	if (error instanceof InvalidStateError) {
		return {
			message: error.message,
			description: INVALID_STATE_HINTS[error.reason],
			isSetting: true,
		};
	}
	if (error instanceof AppMismatchError) {
		return {
			message: `Connection "${error.connectionId}" was authorized through ${error.authorizedApp}, but this App credential is ${error.configuredApp}. Nothing was sent to any provider and the connection is unchanged.`,
			description:
				'Use the App credential the connection was authorized with; or, to move it to this app, authorize it again with this App credential (Build Authorization URL, then Exchange Authorization Code); or give connections of this app their own Connection IDs.',
			isSetting: true,
		};
	}
	return {
		message: error.message,
		description: operationalHint(error) ?? error.description,
		isSetting: false,
	};
}

function operationalHint(error: TokenManagerError): string | undefined {
	if (error instanceof ConnectionNotFoundError)
		return 'Connect the account first: start with "Build Authorization URL" for this connection ID (the Connect workflow) and complete the authorization, or check the connection ID for typos.';
	if (error instanceof NeedsReauthorizationError) {
		return 'Send the account owner through the authorization flow again (workflow "Connect"); until then this connection is not refreshed.';
	}
	if (error instanceof ConnectionRevokedError)
		return 'Connect the account again to use it: start with "Build Authorization URL" (the Connect workflow) and complete the authorization.';
	if (error instanceof ProviderFailingError) {
		return `The node does not call the provider again before ${error.nextAttemptAt.toISOString()}, and the stored access token has expired. Retry after that time (e.g. with the node's Retry On Fail and a wait between tries); the account does not need to be authorized again.`;
	}
	if (error instanceof DecryptionError) {
		return 'Use the Token Encryption Key the connection was stored with (put it in Previous Token Encryption Keys to rotate), or authorize the connection again.';
	}
	if (error instanceof TokenEndpointError && error.error && TOKEN_ENDPOINT_HINTS.has(error.error)) {
		return [error.consequence, TOKEN_ENDPOINT_HINTS.get(error.error)].filter(Boolean).join(' ');
	}
	return undefined;
}

/**
 * Input mistakes become NodeOperationError (naming the field); provider and store failures NodeApiError. The
 * re-authorization link is added only where the caller may see it.
 */
export function toNodeError(
	node: INode,
	error: unknown,
	itemIndex: number,
	withReauthorizationLink: boolean,
): NodeOperationError | NodeApiError {
	if (error instanceof NodeOperationError || error instanceof NodeApiError) return error;
	if (!(error instanceof TokenManagerError))
		return new NodeOperationError(node, error as Error, { itemIndex });
	const { message, description, isSetting } = describeEngineError(error);
	if (isSetting) return new NodeOperationError(node, message, { itemIndex, description });
	const link =
		withReauthorizationLink &&
		error instanceof NeedsReauthorizationError &&
		error.reauthorizationUrl;
	return new NodeApiError(node, { message, code: error.code } as JsonObject, {
		message,
		description: link
			? `${description} Re-authorization link: ${error.reauthorizationUrl}`
			: description,
		httpCode:
			(error instanceof TokenEndpointError || error instanceof ApiRequestError) && error.httpStatus
				? String(error.httpStatus)
				: undefined,
		itemIndex,
	});
}
