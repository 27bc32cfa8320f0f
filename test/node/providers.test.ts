/**
 * The App credential's provider settings through the node: a Pipedrive Marketplace install with Connection ID left
 * empty, and Intuit's realmId kept from the Callback Query. Embedded storage in a temporary file; nock stands for
 * the providers' token endpoints.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nock from 'nock';
import type { ICredentialDataDecryptedObject } from 'n8n-workflow';
import { OAuth2TokenManager } from '../../nodes/OAuth2TokenManager/OAuth2TokenManager.node';
import { executeContext } from '../helpers/node-context';

const node = new OAuth2TokenManager();
const dir = mkdtempSync(join(tmpdir(), 'oauth2tm-providers-'));
const storage = {
	oAuth2TokenManagerEmbeddedApi: {
		filePath: join(dir, 'tokens.sqlite'),
		encryptionKey: 'providers-node-test-key-0001',
	},
};
const app = (fields: ICredentialDataDecryptedObject) => ({
	...storage,
	oAuth2TokenManagerAppApi: {
		clientId: 'client-id',
		clientSecret: 'client-secret',
		redirectUri: 'https://n8n.test/webhook/oauth/callback',
		...fields,
	},
});

beforeAll(() => nock.disableNetConnect());
afterEach(() => nock.cleanAll());
afterAll(() => {
	nock.enableNetConnect();
	rmSync(dir, { recursive: true, force: true });
});

function answers(origin: string, path: string, body: Record<string, unknown>) {
	nock(origin)
		.post(path)
		.reply(200, {
			access_token: 'access',
			token_type: 'Bearer',
			expires_in: 3600,
			refresh_token: 'refresh',
			...body,
		});
}

const exchange = (parameters: Record<string, unknown>) => ({
	storage: 'embedded',
	operation: 'exchangeAuthorizationCode',
	code: 'the-code',
	state: '',
	providerError: '',
	...parameters,
});

describe('a Pipedrive Marketplace install (no state, Connection ID empty)', () => {
	it('is stored under "pipedrive:" and the company subdomain, with Allow Missing State on', async () => {
		answers('https://oauth.pipedrive.com', '/oauth/token', {
			api_domain: 'https://acme.pipedrive.com',
		});
		const [[item]] = await node.execute.call(
			executeContext({
				parameters: exchange({ connectionId: '', exchangeOptions: { allowMissingState: true } }),
				credentials: app({ preset: 'pipedrive' }),
				typeVersion: 1.1,
			}),
		);
		expect(item.json).toMatchObject({
			connectionId: 'pipedrive:acme',
			status: 'active',
			api_domain: 'https://acme.pipedrive.com',
		});
	});

	it('is refused with Allow Missing State off, before anything is sent', async () => {
		const call = node.execute.call(
			executeContext({
				parameters: exchange({ connectionId: '' }),
				credentials: app({ preset: 'pipedrive' }),
			}),
		);
		await expect(call).rejects.toThrow('The Connection ID is empty');
	});

	it('is refused for a preset that derives no connection id, naming the field', async () => {
		const call = node.execute.call(
			executeContext({
				parameters: exchange({ connectionId: '', exchangeOptions: { allowMissingState: true } }),
				credentials: app({ preset: 'google' }),
			}),
		);
		await expect(call).rejects.toThrow(
			"The Connection ID is empty, and the Google preset derives none from the provider's answer: set one per authorized account",
		);
	});
});

describe('Intuit QuickBooks', () => {
	it('keeps realmId from the Callback Query', async () => {
		answers('https://oauth.platform.intuit.com', '/oauth2/v1/tokens/bearer', {});
		const [[item]] = await node.execute.call(
			executeContext({
				parameters: exchange({
					connectionId: 'qbo:acme',
					exchangeOptions: { allowMissingState: true },
					callbackQuery: { code: 'the-code', realmId: '9130357992' },
				}),
				credentials: app({ preset: 'quickbooks' }),
				typeVersion: 1.1,
			}),
		);
		expect(item.json).toMatchObject({ connectionId: 'qbo:acme', realmId: '9130357992' });
	});
});

describe('App credential settings the engine refuses', () => {
	it.each([
		[
			{ preset: 'microsoft', tenant: '' },
			'The Tenant is empty: set it in the App credential (common for multi-tenant apps, or the tenant ID)',
		],
		[
			{ preset: 'zoho', accountsServer: 'https://accounts.zoho.eu' },
			'The Accounts Server must be a plain name or host, such as accounts.zoho.eu',
		],
		[
			{ preset: 'google', codeExchangeParameters: 'client_secret=x' },
			'The Code Exchange Parameters cannot set "client_secret": the token manager sets it itself',
		],
	])('%o', async (fields, message) => {
		const call = node.execute.call(
			executeContext({
				parameters: exchange({ connectionId: 'x:1', exchangeOptions: { allowMissingState: true } }),
				credentials: app(fields),
			}),
		);
		await expect(call).rejects.toThrow(message);
	});
});
