import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import nock from 'nock';
import type { ICredentialDataDecryptedObject, ICredentialTestFunctions } from 'n8n-workflow';
import {
	storeCredentialTest,
	testOAuthApp,
} from '../../nodes/OAuth2TokenManager/methods/credentialTest';
import {
	createTemporaryPostgresDatabase,
	type TemporaryPostgresDatabase,
} from '../../tools/temporary-database';
import { postgrestOverPostgres } from '../helpers/postgrest';
import { CLIENT_SECRET, PROVIDER_ORIGIN } from '../helpers/provider';

const test = (fn: typeof testOAuthApp, data: ICredentialDataDecryptedObject) =>
	fn.call({} as ICredentialTestFunctions, { id: 'c', name: 'credential', type: 'test', data });

const app = {
	preset: 'custom',
	clientId: 'client-id',
	clientSecret: CLIENT_SECRET,
	redirectUri: 'https://n8n.test/callback',
	tokenUrl: `${PROVIDER_ORIGIN}/oauth/token`,
	clientAuthentication: 'basic',
};

beforeAll(() => nock.disableNetConnect());

describe('OAuth2 Token Manager App credential test', () => {
	afterEach(() => nock.cleanAll());

	it('passes when the provider refuses only the made-up refresh token (invalid_grant)', async () => {
		nock(PROVIDER_ORIGIN)
			.post('/oauth/token', /grant_type=refresh_token/)
			.reply(400, { error: 'invalid_grant' });
		expect(await test(testOAuthApp, app)).toEqual({
			status: 'OK',
			message:
				'The provider accepted the client credentials (it refused only the test refresh token, as expected)',
		});
	});

	it('fails on invalid_client, naming the credential fields and never the secret', async () => {
		nock(PROVIDER_ORIGIN)
			.post('/oauth/token')
			.reply(401, {
				error: 'invalid_client',
				error_description: `unknown client ${CLIENT_SECRET}`,
			});
		const result = await test(testOAuthApp, app);
		expect(result.status).toBe('Error');
		expect(result.message).toMatch(/invalid_client.*Check the Client ID and Client Secret/);
		expect(result.message).not.toContain(CLIENT_SECRET);
	});

	it('fails before any request when the Custom preset has no Token URL', async () => {
		expect(await test(testOAuthApp, { ...app, tokenUrl: '' })).toEqual({
			status: 'Error',
			message: "The Token URL is empty: enter the provider's token endpoint",
		});
	});
});

describe('OAuth2 Token Manager Supabase credential test', () => {
	const origin = 'https://credential.supabase.test';
	const serviceRole = 'SENTINEL-service-role';
	let db: TemporaryPostgresDatabase;
	let rest: ReturnType<typeof postgrestOverPostgres>;
	const supabase = (data: ICredentialDataDecryptedObject) =>
		test(storeCredentialTest('supabase'), {
			host: origin,
			serviceRole,
			tableName: 'oauth2_tokens',
			schema: 'public',
			encryptionKey: 'a key of sixteen+ characters',
			...data,
		});

	beforeAll(async () => {
		db = await createTemporaryPostgresDatabase('oauth2tm_supabase_cred');
		rest = postgrestOverPostgres(origin, db, { serviceRoleKey: serviceRole });
	});
	afterAll(async () => {
		rest.stop();
		await db.drop();
	});

	it('says the table is missing and which SQL files create it', async () => {
		const result = await supabase({});
		expect(result.status).toBe('Error');
		expect(result.message).toBe(
			`Supabase table public.oauth2_tokens at ${origin} does not exist. Run sql/postgres.sql and then sql/supabase.sql (shipped with the package) in Supabase's SQL editor.`,
		);
	});

	it('passes once the shipped SQL has run, and refuses a short encryption key', async () => {
		const sql = (name: string) => readFileSync(join(__dirname, '..', '..', 'sql', name), 'utf8');
		await db.sql(sql('postgres.sql'));
		await db.sql(sql('supabase.sql'));
		expect(await supabase({})).toEqual({
			status: 'OK',
			message: `Connected; Supabase table public.oauth2_tokens at ${origin} is ready`,
		});
		const short = await supabase({ encryptionKey: 'short' });
		expect(short).toMatchObject({
			status: 'Error',
			message: expect.stringMatching(/Token Encryption Key must be at least 16 characters/),
		});
	});
});
