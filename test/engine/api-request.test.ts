import {
	apiBaseUrl,
	authorizationHeader,
	isUnderBase,
	providerMessage,
	redactSecrets,
	resolveApiUrl,
	tokenRefused,
} from '../../engine/api-request';
import { PROVIDER_PRESETS } from '../../engine/presets';

describe('the API base of a connection', () => {
	it("comes from the preset, with a kept field filled in (Pipedrive's api_domain); none without the field", () => {
		expect(
			apiBaseUrl(PROVIDER_PRESETS.pipedrive, { api_domain: 'https://acme.pipedrive.com/' }),
		).toBe('https://acme.pipedrive.com');
		expect(apiBaseUrl(PROVIDER_PRESETS.pipedrive, {})).toBeNull();
		expect(
			apiBaseUrl(PROVIDER_PRESETS.salesforce, { instance_url: 'https://acme.my.salesforce.com' }),
		).toBe('https://acme.my.salesforce.com');
		expect(apiBaseUrl(PROVIDER_PRESETS.slack, {})).toBe('https://slack.com/api');
		// A kept field that is not an https URL gives no base, so no path resolves against it.
		expect(
			apiBaseUrl(PROVIDER_PRESETS.pipedrive, { api_domain: 'http://acme.pipedrive.com' }),
		).toBeNull();
		expect(apiBaseUrl(PROVIDER_PRESETS.custom, { api_domain: 'https://api.example.com/v2' })).toBe(
			'https://api.example.com/v2',
		);
	});

	it('resolves paths under it; dot segments cannot climb out unseen', () => {
		const base = 'https://api.example.com/v2';
		expect(resolveApiUrl('/users/me', base)).toBe('https://api.example.com/v2/users/me');
		expect(resolveApiUrl('users/me?x=1', base)).toBe('https://api.example.com/v2/users/me?x=1');
		expect(isUnderBase(resolveApiUrl('/users/../../admin', base), base)).toBe(false);
		expect(isUnderBase('https://api.example.com/v2', base)).toBe(true);
		expect(isUnderBase('https://api.example.com/v20/x', base)).toBe(false);
		expect(isUnderBase('https://api.example.com.evil.test/v2/x', base)).toBe(false);
		expect(isUnderBase('https://user:pw@api.example.com/v2/x', base)).toBe(false);
		expect(() => resolveApiUrl('/users/me', null)).toThrow(/has no API base URL/);
		expect(() => resolveApiUrl('http://api.example.com/x', base)).toThrow(/plain http/);
		expect(resolveApiUrl('https://other.example.com/x', base)).toBe('https://other.example.com/x');
	});
});

describe('the token on the wire', () => {
	it('goes as <token_type> <token>, Bearer for bearer types and when none is stored', () => {
		expect(authorizationHeader(PROVIDER_PRESETS.pipedrive, 'bearer', 'T0KEN-123')).toBe(
			'Bearer T0KEN-123',
		);
		expect(authorizationHeader(PROVIDER_PRESETS.pipedrive, null, 'T0KEN-123')).toBe(
			'Bearer T0KEN-123',
		);
		expect(authorizationHeader(PROVIDER_PRESETS.slack, 'bot', 'T0KEN-123')).toBe(
			'Bearer T0KEN-123',
		);
		expect(authorizationHeader(PROVIDER_PRESETS.custom, 'MAC', 'T0KEN-123')).toBe('MAC T0KEN-123');
	});

	it('a 401, or the preset\'s own "token not valid" answer, means refused', () => {
		expect(tokenRefused(PROVIDER_PRESETS.pipedrive, 401, {})).toBe(true);
		expect(tokenRefused(PROVIDER_PRESETS.pipedrive, 403, {})).toBe(false);
		expect(tokenRefused(PROVIDER_PRESETS.slack, 200, { ok: false, error: 'invalid_auth' })).toBe(
			true,
		);
		expect(
			tokenRefused(PROVIDER_PRESETS.slack, 200, { ok: false, error: 'channel_not_found' }),
		).toBe(false);
		expect(
			tokenRefused(PROVIDER_PRESETS.pipedrive, 200, { ok: false, error: 'invalid_auth' }),
		).toBe(false);
	});

	it("the provider's message never carries the token, in any encoding, and is cut to an excerpt", () => {
		const token = 'SENTINEL-tok/en+1=';
		const echoed = { message: `bad ${token} ${encodeURIComponent(token)} ${'y'.repeat(400)}` };
		const said = providerMessage(echoed, [token]);
		expect(said).not.toContain('SENTINEL');
		expect(said.startsWith('bad [redacted] [redacted] y')).toBe(true);
		expect(said.length).toBeLessThanOrEqual(301);
		expect(providerMessage({ error: { message: 'nested' } }, [])).toBe('nested');
		expect(redactSecrets(`{"a":"${JSON.stringify(token).slice(1, -1)}"}`, [token])).toBe(
			'{"a":"[redacted]"}',
		);
	});
});
