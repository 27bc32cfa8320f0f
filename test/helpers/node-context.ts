import axios from 'axios';
import type {
	ICredentialDataDecryptedObject,
	IExecuteFunctions,
	IGetNodeParameterOptions,
	IHttpRequestOptions,
	ILoadOptionsFunctions,
	INodeExecutionData,
} from 'n8n-workflow';
import nock from 'nock';
import {
	createTemporaryPostgresDatabase,
	type TemporaryPostgresDatabase,
} from '../../tools/temporary-database';
import { CLIENT_SECRET, PROVIDER_ORIGIN } from './provider';

/**
 * The slice of n8n's execution context the node reads, for running OAuth2TokenManager.execute in a test
 * (real n8n runs it in the end-to-end suite). Parameters may differ per item: pass a function.
 */
export function executeContext(options: {
	items?: INodeExecutionData[];
	parameters: Record<string, unknown> | ((itemIndex: number) => Record<string, unknown>);
	credentials: Record<string, ICredentialDataDecryptedObject>;
	continueOnFail?: boolean;
	/** n8n runs the node as an AI agent's tool under its type name with a "Tool" suffix. */
	asAgentTool?: boolean;
	/** The node's type version in the saved workflow: 1 unless given (1.1 names its own output fields in camelCase). */
	typeVersion?: number;
	/** The n8n id of each credential type's credential, as the saved node names it (n8n keeps it across edits). */
	credentialIds?: Record<string, string>;
}): IExecuteFunctions {
	const parametersFor = (i: number) =>
		typeof options.parameters === 'function' ? options.parameters(i) : options.parameters;
	return {
		getInputData: () => options.items ?? [{ json: {} }],
		getNodeParameter: (
			name: string,
			i: number,
			fallback?: unknown,
			parameterOptions?: IGetNodeParameterOptions,
		) => {
			// Parameters given per item stand for expressions, the only parameters n8n lets differ between items.
			if (parameterOptions?.rawExpressions && typeof options.parameters === 'function')
				return '={{ a value per item }}';
			const parameters = parametersFor(i);
			const value = name in parameters ? parameters[name] : fallback;
			return parameterOptions?.extractValue ? extractValue(value) : value;
		},
		getCredentials: async (name: string) => {
			const credential = options.credentials[name];
			if (!credential) throw new Error(`Node does not have credentials of type "${name}"`);
			return credential;
		},
		getNode: () => ({
			id: 'node-under-test',
			name: 'OAuth2 Token Manager',
			type: `n8n-nodes-oauth2-token-manager.oAuth2TokenManager${options.asAgentTool ? 'Tool' : ''}`,
			typeVersion: options.typeVersion ?? 1,
			position: [0, 0],
			parameters: {},
			...(options.credentialIds && {
				credentials: Object.fromEntries(
					Object.entries(options.credentialIds).map(([type, id]) => [
						type,
						{ id, name: `${type} ${id}` },
					]),
				),
			}),
		}),
		continueOnFail: () => options.continueOnFail ?? false,
		helpers: { httpRequest },
	} as unknown as IExecuteFunctions;
}

/**
 * The slice of n8n's `helpers.httpRequest` (axios underneath, as in n8n) that API Request uses: JSON in and out,
 * `qs`, the full response, and HTTP error statuses answered rather than thrown when asked. nock plays the remote side.
 */
async function httpRequest(request: IHttpRequestOptions): Promise<unknown> {
	const response = await axios.request({
		url: request.url,
		method: request.method ?? 'GET',
		params: request.qs,
		headers: request.headers as Record<string, string>,
		data: request.body,
		responseType: request.json ? 'json' : 'text',
		validateStatus: request.ignoreHttpStatusErrors ? () => true : undefined,
		...(request.disableFollowRedirect ? { maxRedirects: 0 } : {}),
	});
	return request.returnFullResponse
		? {
				body: response.data,
				headers: response.headers,
				statusCode: response.status,
				statusMessage: response.statusText,
			}
		: response.data;
}

/** What n8n's extractValue gives for a resource locator without a mode's own extractValue: its value; other values as they are. */
function extractValue(value: unknown): unknown {
	return value !== null && typeof value === 'object' && '__rl' in value
		? (value as unknown as { value: unknown }).value
		: value;
}

/** A resource locator value as n8n saves it (version 1.2's Connection ID). */
export function locator(value: string, mode: 'list' | 'id' | 'field' = 'id') {
	return { __rl: true, mode, value };
}

/** Exchange Authorization Code's parameters for a state-less callback (Allow Missing State), the code named after the id. */
export function stateLessExchange(connectionId: string, options: { asLocator?: boolean } = {}) {
	return {
		operation: 'exchangeAuthorizationCode',
		connectionId: options.asLocator ? locator(connectionId) : connectionId,
		code: `code-${connectionId}`,
		state: '',
		providerError: '',
		exchangeOptions: { allowMissingState: true },
	};
}

/** The slice of n8n's load-options context a list search reads: the panel's current parameters and its credentials. */
export function loadOptionsContext(options: {
	parameters: Record<string, unknown>;
	credentials: Record<string, ICredentialDataDecryptedObject>;
}): ILoadOptionsFunctions {
	return {
		getCurrentNodeParameter: (name: string) => options.parameters[name],
		getCredentials: async (name: string) => {
			const credential = options.credentials[name];
			if (!credential) throw new Error(`Node does not have credentials of type "${name}"`);
			return credential;
		},
		getNode: () => ({
			id: 'node-under-test',
			name: 'OAuth2 Token Manager',
			type: 'n8n-nodes-oauth2-token-manager.oAuth2TokenManager',
			typeVersion: 1.2,
			position: [0, 0],
			parameters: {},
		}),
	} as unknown as ILoadOptionsFunctions;
}

/** The App credential of a Custom app on the nock provider (test/helpers/provider.ts); frozen, as tests share it. */
export const NOCK_APP_CREDENTIAL: ICredentialDataDecryptedObject = Object.freeze({
	preset: 'custom',
	clientId: 'client-id',
	clientSecret: CLIENT_SECRET,
	redirectUri: 'https://n8n.test/webhook/oauth/callback',
	authorizationUrl: `${PROVIDER_ORIGIN}/oauth/authorize`,
	tokenUrl: `${PROVIDER_ORIGIN}/oauth/token`,
	revocationUrl: `${PROVIDER_ORIGIN}/oauth/revoke`,
	clientAuthentication: 'basic',
	keepResponseFields: 'api_domain',
});

/** The node's credentials for a sandbox-less run: a Custom App on the nock provider, tokens in `db`. */
export function nodeCredentials(
	db: TemporaryPostgresDatabase,
	encryptionKey: string,
): Record<string, ICredentialDataDecryptedObject> {
	const url = new URL(db.url);
	return {
		oAuth2TokenManagerAppApi: NOCK_APP_CREDENTIAL,
		oAuth2TokenManagerPostgresApi: {
			host: url.hostname,
			port: Number(url.port) || 5432,
			database: url.pathname.slice(1),
			user: decodeURIComponent(url.username) || 'postgres',
			password: '',
			tableName: 'oauth2_tokens',
			createTableIfMissing: true,
			encryptionKey,
		},
	};
}

/**
 * The node tests' set-up: a temporary PostgreSQL database named after `name`, the node's credentials for it
 * (`ready` receives both), and nock letting only local connections through; the database is dropped after the file.
 */
export function useNodeTestDatabase(
	name: string,
	encryptionKey: string,
	ready: (
		db: TemporaryPostgresDatabase,
		credentials: Record<string, ICredentialDataDecryptedObject>,
	) => void,
): void {
	let db: TemporaryPostgresDatabase | undefined;
	beforeAll(async () => {
		nock.disableNetConnect();
		nock.enableNetConnect(/127\.0\.0\.1|localhost/);
		db = await createTemporaryPostgresDatabase(name);
		ready(db, nodeCredentials(db, encryptionKey));
	});
	afterEach(() => nock.cleanAll());
	afterAll(async () => {
		nock.enableNetConnect();
		await db?.drop();
	});
}
