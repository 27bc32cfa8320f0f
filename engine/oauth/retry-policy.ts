import { EndpointUnreachableError, TokenEndpointError } from '../errors';

/** Timeouts and retries of every request to the authorization server. */
export interface RequestPolicy {
	/** Limit of one attempt, response body included. */
	timeoutMs: number;
	/** Retries after network errors, 5xx and 429; never after another answer. */
	maxRetries: number;
	/** First pause between attempts; it doubles after each, with jitter. */
	retryBaseDelayMs: number;
	/** Longest Retry-After honoured; an answer asking for a longer wait fails at once. */
	maxRetryAfterMs: number;
}

export const DEFAULT_REQUEST_POLICY: RequestPolicy = {
	timeoutMs: 10_000,
	maxRetries: 2,
	retryBaseDelayMs: 250,
	maxRetryAfterMs: 10_000,
};

/** Whether an answer with this status may succeed if sent again. */
export const isTransientStatus = (status: number) => status >= 500 || status === 429;

/**
 * Whether a failed request may succeed later without anything changing on this side: the endpoint was unreachable or
 * timed out, or answered 5xx or 429 (after the retries above). Any other answer (a 4xx such as invalid_grant or
 * invalid_client, a 2xx the engine could not use, a body over the size cap) says something is wrong with the
 * request, the client or the provider's configuration: asking again later would get the same answer.
 */
export function isTransientFailure(error: unknown): boolean {
	if (error instanceof EndpointUnreachableError) return true;
	return (
		error instanceof TokenEndpointError &&
		error.httpStatus !== undefined &&
		isTransientStatus(error.httpStatus)
	);
}

/** The pause before retry number `attempt + 1`: exponential, jittered by ±25 % so that callers spread out. */
export const backoffMs = (policy: RequestPolicy, attempt: number) =>
	policy.retryBaseDelayMs * 2 ** attempt * (0.75 + Math.random() * 0.5);

/** RFC 9110 §10.2.3 Retry-After: seconds or an HTTP-date; null when absent or unreadable. */
export function retryAfterMs(header: string | undefined, now = Date.now()): number | null {
	if (header === undefined || header.trim() === '') return null;
	const seconds = Number(header);
	if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
	const date = Date.parse(header);
	return Number.isNaN(date) ? null : Math.max(0, date - now);
}

/**
 * How long to wait before sending again after a transient answer, or null to stop: the server's Retry-After
 * when it gives one within the policy's cap, else the backoff; never past the deadline.
 */
export function retryDelayMs(
	policy: RequestPolicy,
	attempt: number,
	deadline: number,
	retryAfterHeader?: string,
): number | null {
	if (attempt >= policy.maxRetries) return null;
	const asked = retryAfterMs(retryAfterHeader);
	if (asked !== null && asked > policy.maxRetryAfterMs) return null;
	const wait = asked ?? backoffMs(policy, attempt);
	return Date.now() + wait < deadline ? wait : null;
}
