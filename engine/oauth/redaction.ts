import { basicAuthorization, formEncode, type ClientCredentials } from './client-authentication';

const REDACTED = '[redacted]';
/** Shorter values are not searched for: replacing them would garble the text and protect nothing. */
const MIN_SECRET_LENGTH = 4;

/**
 * Removes from what a provider sent back every form in which a request's secrets travelled: the client secret and
 * each secret parameter (token, code, verifier) raw, form-encoded (a body, the Basic scheme's pre-encoding),
 * percent-encoded and JSON-escaped; and the Basic header's base64 value (also of id and secret joined without
 * encoding, as a provider may echo it).
 */
export class Redactor {
	private readonly secrets: string[];

	constructor(
		credentials: Pick<ClientCredentials, 'clientId' | 'clientSecret'>,
		secretParameters: Array<string | undefined>,
	) {
		const { clientId, clientSecret } = credentials;
		const forms = [clientSecret, ...secretParameters]
			.filter((value): value is string => typeof value === 'string')
			.flatMap((value) => [
				value,
				formEncode(value),
				encodeURIComponent(value),
				JSON.stringify(value).slice(1, -1),
			]);
		forms.push(
			basicAuthorization(clientId, clientSecret).slice('Basic '.length),
			Buffer.from(`${clientId}:${clientSecret}`).toString('base64'),
		);
		// Longest first, so that a secret containing another is replaced whole.
		this.secrets = [...new Set(forms)]
			.filter((form) => form.length >= MIN_SECRET_LENGTH)
			.sort((a, b) => b.length - a.length);
	}

	redact(text: string): string {
		let out = text;
		for (const secret of this.secrets) out = out.split(secret).join(REDACTED);
		return out;
	}
}
