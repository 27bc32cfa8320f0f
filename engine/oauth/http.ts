import axios, { type AxiosResponse } from 'axios';
import { EndpointUnreachableError, TokenEndpointError } from '../errors';
import { requireSecureUrl } from '../urls';
import { clientAuthenticationMethod, type ClientCredentials } from './client-authentication';
import { Redactor } from './redaction';
import { isTransientStatus, retryDelayMs, type RequestPolicy } from './retry-policy';

/** Largest answer read from any endpoint: a token response is a few kilobytes. */
export const MAX_RESPONSE_BYTES = 1024 * 1024;

/** An endpoint of the authorization server, named as the user knows it. */
export interface Endpoint {
	/** As messages name it: "The token endpoint answered …". */
	name: string;
	/** The engine's key for the setting that holds its URL (e.g. `tokenUrl`): input errors name it. */
	urlKey: string;
	url: string;
	/** What a failure of this endpoint means for the user, said before any hint (e.g. that nothing was erased). */
	consequence?: string;
}

/** The answer an endpoint gave to the last attempt of a request (any status). */
export interface EndpointAnswer {
	endpoint: Endpoint;
	status: number;
	/** Media type only, lower case, '' when absent. */
	contentType: string;
	body: string;
	/** When the attempt that got this answer was sent: a token's lifetime starts no earlier. */
	sentAt: Date;
	/** Removes every form of the request's secrets from text taken from the answer. */
	redact: (text: string) => string;
}

export interface RequestLimits {
	/** Epoch ms by which every attempt, body included, must be over. */
	deadline?: number;
}

/** An endpoint failure's description: its consequence for the user, then what to check. */
export const failureDescription = (endpoint: Endpoint, hint?: string) =>
	[endpoint.consequence, hint].filter(Boolean).join(' ') || undefined;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The one way the engine talks to the authorization server: POSTs the form with the client's authentication,
 * retrying network errors and transient answers under `policy`. Each attempt is limited to the policy's timeout
 * and all of them to the deadline, body download included; a body is read up to MAX_RESPONSE_BYTES. Returns
 * the last answer whatever its status; throws TokenEndpointError when none came.
 */
export async function authenticatedRequest(
	credentials: ClientCredentials,
	policy: RequestPolicy,
	endpoint: Endpoint,
	parameters: URLSearchParams,
	secretParameters: Array<string | undefined>,
	limits: RequestLimits = {},
): Promise<EndpointAnswer> {
	requireSecureUrl(endpoint.urlKey, endpoint.url);
	const deadline = limits.deadline ?? Infinity;
	const body = new URLSearchParams(parameters);
	const headers: Record<string, string> = {
		'Content-Type': 'application/x-www-form-urlencoded',
		Accept: 'application/json',
	};
	clientAuthenticationMethod(credentials.clientAuthentication)(credentials, body, headers);
	const redactor = new Redactor(credentials, secretParameters);

	for (let attempt = 0; ; attempt++) {
		const sentAt = Date.now();
		const attemptMs = Math.min(policy.timeoutMs, deadline - sentAt);
		if (attemptMs <= 0)
			throw unreachable(endpoint, 'did not finish before the refresh deadline', attempt);
		let response: AxiosResponse<string>;
		try {
			response = await axios.post<string>(endpoint.url, body.toString(), {
				headers,
				// axios's timeout stops counting once the headers arrive; the signal also covers the body.
				timeout: attemptMs,
				signal: AbortSignal.timeout(attemptMs),
				responseType: 'text',
				transformResponse: (data: string) => data,
				validateStatus: () => true,
				maxRedirects: 0,
				// Stops reading (and sending) beyond the cap while the body streams.
				maxContentLength: MAX_RESPONSE_BYTES,
				maxBodyLength: MAX_RESPONSE_BYTES,
			});
		} catch (error) {
			if (isResponseTooLarge(error)) throw responseTooLarge(endpoint);
			const wait = retryDelayMs(policy, attempt, deadline);
			if (wait !== null) {
				await sleep(wait);
				continue;
			}
			const code = (error as { code?: string }).code;
			const timedOut = code === 'ECONNABORTED' || code === 'ETIMEDOUT' || code === 'ERR_CANCELED';
			const reason = !timedOut
				? `failed (${code ?? 'network error'})`
				: attemptMs < policy.timeoutMs
					? 'did not finish before the refresh deadline'
					: `timed out after ${policy.timeoutMs} ms`;
			throw unreachable(endpoint, reason, attempt + 1);
		}
		if (isTransientStatus(response.status)) {
			const wait = retryDelayMs(policy, attempt, deadline, header(response, 'retry-after'));
			if (wait !== null) {
				await sleep(wait);
				continue;
			}
		}
		return {
			endpoint,
			status: response.status,
			contentType: (header(response, 'content-type') ?? '').split(';')[0].trim().toLowerCase(),
			body: String(response.data ?? ''),
			sentAt: new Date(sentAt),
			redact: (text) => redactor.redact(text),
		};
	}
}

function header(response: AxiosResponse, name: string): string | undefined {
	const value: unknown = response.headers[name];
	return typeof value === 'string' ? value : undefined;
}

/** axios's message for a body it stopped reading at maxContentLength. */
const isResponseTooLarge = (error: unknown) =>
	/^maxContentLength size of \d+ exceeded/.test((error as Error | undefined)?.message ?? '');

function responseTooLarge(endpoint: Endpoint): TokenEndpointError {
	return new TokenEndpointError(
		`The ${endpoint.name} sent a response larger than ${MAX_RESPONSE_BYTES / (1024 * 1024)} MB; it was not read further`,
		{},
		failureDescription(
			endpoint,
			`An answer of the ${endpoint.name} is a few kilobytes: check that the ${endpoint.name} URL points at the provider's ${endpoint.name}.`,
		),
	);
}

function unreachable(
	endpoint: Endpoint,
	reason: string,
	attempts: number,
): EndpointUnreachableError {
	return new EndpointUnreachableError(
		`The request to the ${endpoint.name} ${reason}, ${attempts} attempt(s)`,
		{},
		failureDescription(endpoint, `Check that ${safeOrigin(endpoint)} is reachable from this host.`),
	);
}

function safeOrigin(endpoint: Endpoint): string {
	try {
		return new URL(endpoint.url).origin;
	} catch {
		return `the ${endpoint.name} URL`;
	}
}
