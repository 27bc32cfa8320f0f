import type {
	IDataObject,
	IExecuteFunctions,
	IHttpRequestMethods,
	IN8nHttpFullResponse,
	INodeProperties,
} from 'n8n-workflow';
import {
	apiBaseUrl,
	ApiRequestError,
	apiError,
	authorizationHeader,
	getConnection,
	InvalidInputError,
	isUnderBase,
	redactSecrets,
	redactValue,
	reportedStatus,
	mapWithConcurrency,
	MANY_ITEMS_CONCURRENCY,
	resolveApiUrl,
	tokenRefused,
	type Settled,
	type TokenManager,
	type TokenResult,
	type ValidTokenResult,
} from '../../../engine';
import { minValidityOf, minValidityProperty } from './minValidity';
import { defineOperation } from './node.type';

const show = { show: { operation: ['apiRequest'] } };
const METHODS: IHttpRequestMethods[] = ['DELETE', 'GET', 'PATCH', 'POST', 'PUT'];

/** The most of an answer an AI agent gets (characters of its JSON); beyond, it is cut with a note. */
export const AGENT_RESPONSE_LIMIT = 20_000;

const nameValuePairs = (
	displayName: string,
	name: string,
	description: string,
): INodeProperties => ({
	displayName,
	name,
	type: 'fixedCollection',
	typeOptions: { multipleValues: true },
	placeholder: `Add ${displayName.replace(/s$/, '')}`,
	default: {},
	description,
	displayOptions: show,
	options: [
		{
			displayName: 'Parameter',
			name: 'parameters',
			values: [
				{ displayName: 'Name', name: 'name', type: 'string', default: '' },
				{ displayName: 'Value', name: 'value', type: 'string', default: '' },
			],
		},
	],
});

const properties: INodeProperties[] = [
	{
		displayName: 'Method',
		name: 'method',
		type: 'options',
		options: METHODS.map((method) => ({ name: method, value: method })),
		default: 'GET',
		description: 'The HTTP method of the API call',
		displayOptions: show,
	},
	{
		displayName: 'URL',
		name: 'url',
		type: 'string',
		default: '',
		required: true,
		placeholder: '/api/v1/users/me',
		description:
			"A path under the connection's API base (its provider's API, e.g. Pipedrive's api_domain), or an absolute https:// URL. The node adds the connection's token itself.",
		displayOptions: show,
	},
	nameValuePairs('Query Parameters', 'queryParameters', "Added to the URL's query string"),
	nameValuePairs(
		'Headers',
		'headerParameters',
		"Sent with the call. Authorization is the node's own: it sends the connection's token.",
	),
	{
		displayName: 'JSON Body',
		name: 'jsonBody',
		type: 'json',
		default: '',
		description: "Sent as the request's JSON body; leave empty to send none",
		displayOptions: {
			show: { operation: ['apiRequest'], method: ['DELETE', 'PATCH', 'POST', 'PUT'] },
		},
	},
	minValidityProperty(
		'apiRequest',
		'Refresh first when the stored token expires within this many seconds. If the API still answers 401, the node refreshes once and retries once.',
	),
	{
		displayName: 'Options',
		name: 'apiOptions',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		displayOptions: show,
		options: [
			{
				displayName: 'Include Response Headers and Status',
				name: 'fullResponse',
				type: 'boolean',
				default: false,
				description:
					'Whether to return the status code, status message and headers beside the body',
			},
			{
				displayName: 'Include Connection Status',
				name: 'connectionStatus',
				type: 'boolean',
				default: false,
				description:
					"Whether to return, beside the body, the connection's ID, status and token expiry, whether its token was refreshed before the call, and whether the call was retried after a 401 (never a token)",
			},
		],
	},
];

/** What Include Connection Status adds: the call's connection, never its token. */
interface CallConnection {
	connectionId: string;
	status: string;
	expiresAt: string | null;
	refreshedBeforeCall: boolean;
	retriedAfter401: boolean;
}

interface ApiCallResult {
	response: IN8nHttpFullResponse;
	fullResponse: boolean;
	connection: CallConnection | null;
	/** An AI agent gets the answer whole in one item; a workflow gets one item per object of a JSON array. */
	splitArrays: boolean;
}

function pairs(ctx: IExecuteFunctions, name: string, itemIndex: number): Record<string, string> {
	const collection = ctx.getNodeParameter(name, itemIndex, {}) as {
		parameters?: Array<{ name?: string; value?: string }>;
	};
	const out: Record<string, string> = {};
	for (const { name: key = '', value = '' } of collection.parameters ?? [])
		if (key.trim() !== '') out[key.trim()] = String(value);
	return out;
}

function jsonBodyOf(ctx: IExecuteFunctions, method: string, itemIndex: number): unknown {
	if (method === 'GET') return undefined;
	const given = ctx.getNodeParameter('jsonBody', itemIndex, '') as unknown;
	if (typeof given !== 'string') return given ?? undefined;
	if (given.trim() === '') return undefined;
	try {
		return JSON.parse(given);
	} catch {
		throw new InvalidInputError('jsonBody', 'is not valid JSON');
	}
}

/** An agent may call only under the connection's API base: refused before any request otherwise. */
function requireUnderBase(url: string, base: string | null): void {
	if (base !== null && isUnderBase(url, base)) return;
	throw new ApiRequestError(
		base === null
			? "As an AI agent's tool, API Request needs the connection's API base URL, and this connection has none"
			: `As an AI agent's tool, API Request calls only URLs under the connection's API base ${base}`,
		'api_url_refused',
		undefined,
		'Nothing was sent. Give a path under the API base (e.g. /api/v1/users/me).',
	);
}

/** One item's call, as its parameters give it. */
interface ApiCall {
	method: IHttpRequestMethods;
	/** The URL or path as given, resolved against the connection's API base once its token is read. */
	given: string;
	qs: Record<string, string>;
	headers: Record<string, string>;
	body: unknown;
	minValiditySeconds: number;
	fullResponse: boolean;
	connectionStatus: boolean;
}

function readCall(ctx: IExecuteFunctions, itemIndex: number): ApiCall {
	const method = ctx.getNodeParameter('method', itemIndex, 'GET') as IHttpRequestMethods;
	const given = ctx.getNodeParameter('url', itemIndex, '') as string;
	const qs = pairs(ctx, 'queryParameters', itemIndex);
	const headers = pairs(ctx, 'headerParameters', itemIndex);
	if (Object.keys(headers).some((name) => name.toLowerCase() === 'authorization')) {
		throw new InvalidInputError(
			'apiHeaders',
			"cannot set Authorization: the node sends the connection's token itself",
		);
	}
	const body = jsonBodyOf(ctx, method, itemIndex);
	const minValiditySeconds = minValidityOf(ctx, itemIndex);
	const { fullResponse = false, connectionStatus = false } = ctx.getNodeParameter(
		'apiOptions',
		itemIndex,
		{},
	) as { fullResponse?: boolean; connectionStatus?: boolean };
	return { method, given, qs, headers, body, minValiditySeconds, fullResponse, connectionStatus };
}

/**
 * Sends the call with the connection's valid token; on a 401 (or the preset's "token invalid" answer) refreshes if
 * stale with the refused token, and retries once.
 */
async function callApi(
	ctx: IExecuteFunctions,
	manager: TokenManager,
	connectionId: string,
	{ method, given, qs, headers, body, fullResponse, connectionStatus }: ApiCall,
	valid: ValidTokenResult,
	asAgentTool: boolean,
): Promise<ApiCallResult> {
	const settings = manager.apiSettings();
	let { connection }: TokenResult = valid;
	let retried = false;
	const base = apiBaseUrl(settings, connection.metadata);
	const url = resolveApiUrl(given, base);
	if (asAgentTool) requireUnderBase(url, base);
	const tokens: string[] = [];
	const send = async (): Promise<IN8nHttpFullResponse> => {
		const token = connection.accessToken ?? '';
		tokens.push(token);
		try {
			return (await ctx.helpers.httpRequest({
				method,
				url,
				qs,
				headers: {
					Accept: 'application/json',
					...headers,
					Authorization: authorizationHeader(settings, connection.tokenType, token),
				},
				...(body === undefined ? {} : { body }),
				json: true,
				returnFullResponse: true,
				ignoreHttpStatusErrors: true,
				// An agent's call stays under the API base: a redirect elsewhere is answered, not followed.
				...(asAgentTool ? { disableFollowRedirect: true } : {}),
			})) as IN8nHttpFullResponse;
		} catch (error) {
			const reason = redactSecrets(
				error instanceof Error ? error.message : String(error),
				tokens,
			).slice(0, 300);
			throw new ApiRequestError(
				`The API could not be reached: ${reason}`,
				'api_error',
				undefined,
				`Connection "${connectionId}"; nothing was answered.`,
			);
		}
	};

	let response = await send();
	if (tokenRefused(settings, response.statusCode, response.body)) {
		// "Refresh if stale": when another execution has refreshed already, its token is taken without a token request.
		({ connection } = await manager.refreshToken(connectionId, {
			failedAccessToken: connection.accessToken ?? undefined,
		}));
		retried = true;
		response = await send();
		if (tokenRefused(settings, response.statusCode, response.body))
			throw apiError(connection, response.statusCode, response.body, tokens, true);
	}
	if (response.statusCode >= 400)
		throw apiError(connection, response.statusCode, response.body, tokens, false);
	const called: CallConnection = {
		connectionId,
		status: reportedStatus(connection),
		expiresAt: connection.expiresAt ? connection.expiresAt.toISOString() : null,
		refreshedBeforeCall: valid.refreshed,
		retriedAfter401: retried,
	};
	return {
		response: redactValue({ ...response, headers: response.headers ?? {} }, tokens),
		fullResponse,
		connection: connectionStatus ? called : null,
		splitArrays: !asAgentTool,
	};
}

export const apiRequest = defineOperation({
	value: 'apiRequest',
	name: 'API Request',
	description:
		"Call the provider's API with the connection's token: refreshed ahead of expiry, and once more (one retry) if the API answers 401",
	action: 'Call the provider API with a valid token',
	since: 1.2,
	agentTool: true,
	needsApp: true,
	connectionId: 'existing',
	properties,
	async execute({ engine, connectionId, itemIndex, asAgentTool }): Promise<ApiCallResult> {
		const call = readCall(this, itemIndex);
		const manager = await engine.manager();
		if (asAgentTool) {
			// Checked on the stored connection first, so a refused URL costs no token request either.
			const stored = await getConnection(await engine.store(), connectionId);
			const base = apiBaseUrl(manager.apiSettings(), stored.metadata);
			requireUnderBase(resolveApiUrl(call.given, base), base);
		}
		const valid = await manager.getValidToken(connectionId, {
			minValiditySeconds: call.minValiditySeconds,
		});
		return callApi(this, manager, connectionId, call, valid, asAgentTool);
	},
	async executeMany({ engine, items }) {
		const manager = await engine.manager();
		const results: Array<Settled<ApiCallResult>> = [];
		const ready: Array<{ k: number; connectionId: string; call: ApiCall }> = [];
		for (const [k, { connectionId, itemIndex }] of items.entries()) {
			try {
				ready.push({ k, connectionId, call: readCall(this, itemIndex) });
			} catch (error) {
				results[k] = { ok: false, error };
			}
		}
		// One store read for every item's connection; then the calls, at most MANY_ITEMS_CONCURRENCY at once.
		const tokens = await manager.getValidTokens(
			ready.map(({ connectionId, call }) => ({
				connectionId,
				minValiditySeconds: call.minValiditySeconds,
			})),
		);
		await mapWithConcurrency(
			ready,
			MANY_ITEMS_CONCURRENCY,
			async ({ k, connectionId, call }, j) => {
				const token = tokens[j];
				if (!token.ok) results[k] = token;
				else
					results[k] = await callApi(this, manager, connectionId, call, token.value, false).then(
						(value) => ({ ok: true, value }),
						(error: unknown) => ({ ok: false, error }),
					);
			},
		);
		return results;
	},
	output: (_rule, { response, fullResponse, connection, splitArrays }) => {
		const { body } = response;
		if (fullResponse || connection) {
			return {
				body: (body ?? null) as IDataObject,
				...(fullResponse
					? {
							headers: response.headers as IDataObject,
							statusCode: response.statusCode,
							statusMessage: response.statusMessage ?? null,
						}
					: {}),
				...(connection ? { connection: { ...connection } } : {}),
			};
		}
		const isObject = (value: unknown): value is IDataObject =>
			value !== null && typeof value === 'object' && !Array.isArray(value);
		if (isObject(body)) return body;
		if (splitArrays && Array.isArray(body) && body.length > 0 && body.every(isObject)) return body;
		return { data: (body ?? null) as IDataObject };
	},
	toolOutput: (json) => {
		const text = JSON.stringify(json);
		if (text.length <= AGENT_RESPONSE_LIMIT) return json;
		return {
			truncated: true,
			note: `The answer has ${text.length} characters of JSON; the first ${AGENT_RESPONSE_LIMIT} follow. Ask for less (a filter, a smaller page) to get it whole.`,
			partialResponse: text.slice(0, AGENT_RESPONSE_LIMIT),
		};
	},
});
