import { InvalidInputError } from './errors';

/** Loopback hosts: plain http to them never crosses a network (the local sandbox, tests). */
function isLoopback(hostname: string): boolean {
	const host = hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
	return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * An endpoint that receives the client secret, tokens or a service key: https, or plain http to a loopback
 * address only. `field` is the engine's key for the setting (e.g. `tokenUrl`).
 */
export function requireSecureUrl(field: string, value: string): URL {
	let url: URL;
	try {
		url = new URL(value);
	} catch {
		throw new InvalidInputError(field, 'is not an absolute https:// URL');
	}
	if (url.protocol === 'https:' || (url.protocol === 'http:' && isLoopback(url.hostname)))
		return url;
	if (url.protocol === 'http:') {
		throw new InvalidInputError(
			field,
			`uses plain http://, so credentials or tokens would travel in clear text: use https:// (http:// is accepted only for loopback addresses: 127.0.0.0/8, ::1, localhost)`,
		);
	}
	throw new InvalidInputError(field, `must be an https:// URL, not ${url.protocol}`);
}
