import { TokenEndpointError } from '../errors';
import { failureDescription, type EndpointAnswer } from './http';

/** Longest text quoted from an answer: the message also lands in last_error, and a provider may send anything. */
const EXCERPT_LENGTH = 200;

/**
 * The error for an answer that is not a success: the RFC 6749 §5.2 fields when the body has them (Pipedrive puts
 * its explanation in `message`), else the status and a short excerpt of the body, secrets redacted.
 * `hint` says what to check for a given error code; `errorCodes` maps a provider's own codes to RFC 6749 ones (the
 * message keeps the provider's).
 */
export function refusal(
	answer: EndpointAnswer,
	hint: (error: string) => string | undefined = () => undefined,
	errorCodes: Readonly<Record<string, string>> = {},
): TokenEndpointError {
	const { endpoint, status } = answer;
	let body: Record<string, unknown> | undefined;
	try {
		const parsed: unknown = JSON.parse(answer.body);
		if (parsed && typeof parsed === 'object') body = parsed as Record<string, unknown>;
	} catch {
		// not JSON: described by its excerpt below
	}
	const field = (name: string) => {
		const value = body?.[name];
		return typeof value === 'string' && value !== ''
			? answer.redact(value).slice(0, EXCERPT_LENGTH)
			: undefined;
	};
	const given = field('error');
	if (given) {
		const detail = field('error_description') ?? field('message');
		const error = Object.hasOwn(errorCodes, given) ? errorCodes[given] : given;
		return new TokenEndpointError(
			`The ${endpoint.name} refused the request (HTTP ${status}): ${given}${detail ? ` – ${detail}` : ''}`,
			{ error, error_description: detail, httpStatus: status },
			failureDescription(endpoint, hint(error)),
			endpoint.consequence,
		);
	}
	const excerpt = answer.redact(answer.body).replace(/\s+/g, ' ').trim().slice(0, EXCERPT_LENGTH);
	return new TokenEndpointError(
		`The ${endpoint.name} answered HTTP ${status}${body ? ' without an OAuth error code' : ' with a non-JSON body'}${excerpt ? `: ${excerpt}` : ''}`,
		{ httpStatus: status },
		failureDescription(endpoint),
	);
}
