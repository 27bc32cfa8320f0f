/*
 * The SSL setting of the PostgreSQL and MySQL storage credentials: one model for both, what a saved credential
 * (also one saved by an earlier version) means for the driver, and the real servers, which run without TLS here:
 * Disable connects, Require is refused with a message that names SSL.
 */
import {
	NodeHelpers,
	type ICredentialDataDecryptedObject,
	type ICredentialsDecrypted,
	type ICredentialTestFunctions,
	type INodeParameters,
} from 'n8n-workflow';
import { tlsFromCredentials } from '../../credentials/databaseServerFields';
import { OAuth2TokenManagerMySqlApi } from '../../credentials/OAuth2TokenManagerMySqlApi.credentials';
import { OAuth2TokenManagerPostgresApi } from '../../credentials/OAuth2TokenManagerPostgresApi.credentials';
import { InvalidInputError } from '../../engine/errors';
import { storeCredentialTest } from '../../nodes/OAuth2TokenManager/methods/credentialTest';
import { STORAGE_CREDENTIALS } from '../../nodes/OAuth2TokenManager/transport/credentials';
import {
	createTemporaryMySqlDatabase,
	createTemporaryPostgresDatabase,
	type TemporaryMySqlDatabase,
	type TemporaryPostgresDatabase,
} from '../../tools/temporary-database';
import { describeMySql, describePostgres } from './servers';

const KEY = 'ssl-test-encryption-key-0123456789';
const credentialTypes = {
	postgres: new OAuth2TokenManagerPostgresApi(),
	mysql: new OAuth2TokenManagerMySqlApi(),
};
type DatabaseStorage = keyof typeof credentialTypes;

/** What the node receives for a saved credential: n8n adds the defaults and drops the values of hidden fields. */
function asN8nGivesIt(
	storage: DatabaseStorage,
	saved: INodeParameters,
): ICredentialDataDecryptedObject {
	return NodeHelpers.getNodeParameters(
		credentialTypes[storage].properties,
		saved,
		true,
		false,
		null,
		null,
	) as ICredentialDataDecryptedObject;
}

/** The value the credential saves when the user picks this SSL option in the editor. */
function sslOption(storage: DatabaseStorage, name: string): string {
	const options = credentialTypes[storage].properties.find((p) => p.name === 'ssl')?.options ?? [];
	const option = options.find((o) => o.name === name);
	if (!option || !('value' in option))
		throw new Error(`the ${storage} credential offers no SSL option "${name}"`);
	return String(option.value);
}

const sslFieldsOf = (storage: DatabaseStorage) =>
	credentialTypes[storage].properties.filter((p) =>
		['ssl', 'allowUnauthorizedCerts'].includes(p.name),
	);

test('PostgreSQL and MySQL credentials have the same SSL fields: Disable (the default) or Require, and Ignore SSL Issues', () => {
	expect(sslFieldsOf('mysql')).toEqual(sslFieldsOf('postgres'));
	const [ssl, ignoreIssues] = sslFieldsOf('postgres');
	expect(ssl).toMatchObject({ displayName: 'SSL', type: 'options', default: 'disable' });
	expect(ssl.options?.map((o) => ('value' in o ? [o.name, o.value] : null))).toEqual([
		['Disable', 'disable'],
		['Require', 'require'],
	]);
	expect(ignoreIssues).toMatchObject({
		displayName: 'Ignore SSL Issues (Insecure)',
		type: 'boolean',
		default: false,
	});
});

describe.each(['postgres', 'mysql'] as const)(
	'what a saved %s credential means for the driver',
	(storage) => {
		test.each([
			['a new credential (nothing saved)', {}, undefined],
			['Disable', { ssl: 'disable' }, undefined],
			[
				'Disable, with Ignore SSL Issues left on from before (hidden, so dropped)',
				{ ssl: 'disable', allowUnauthorizedCerts: true },
				undefined,
			],
			['Require: the certificate is verified', { ssl: 'require' }, { rejectUnauthorized: true }],
			[
				'Require and Ignore SSL Issues',
				{ ssl: 'require', allowUnauthorizedCerts: true },
				{ rejectUnauthorized: false },
			],
		])('%s', (_label, saved, expected) => {
			expect(tlsFromCredentials(asN8nGivesIt(storage, saved as INodeParameters))).toEqual(expected);
		});

		test('an SSL value this version does not know is refused naming the field, never read as "no TLS"', () => {
			for (const ssl of ['verify-full', 'allow', 'on']) {
				let error: unknown;
				try {
					tlsFromCredentials(asN8nGivesIt(storage, { ssl }));
				} catch (e) {
					error = e;
				}
				expect(error).toBeInstanceOf(InvalidInputError);
				expect(error).toMatchObject({ field: 'SSL', message: expect.stringContaining(`"${ssl}"`) });
				expect((error as Error).message).toMatch(/choose Disable or Require/);
			}
		});
	},
);

test('a MySQL credential saved when SSL was an on/off switch keeps its meaning', () => {
	expect(tlsFromCredentials(asN8nGivesIt('mysql', { ssl: false }))).toBeUndefined();
	expect(
		tlsFromCredentials(asN8nGivesIt('mysql', { ssl: false, allowUnauthorizedCerts: true })),
	).toBeUndefined();
	expect(tlsFromCredentials(asN8nGivesIt('mysql', { ssl: true }))).toEqual({
		rejectUnauthorized: true,
	});
	expect(
		tlsFromCredentials(asN8nGivesIt('mysql', { ssl: true, allowUnauthorizedCerts: true })),
	).toEqual({ rejectUnauthorized: false });
});

async function credentialTest(storage: DatabaseStorage, data: ICredentialDataDecryptedObject) {
	const credential: ICredentialsDecrypted = {
		id: '1',
		name: 'ssl test',
		type: STORAGE_CREDENTIALS[storage],
		data,
	};
	return storeCredentialTest(storage).call({} as ICredentialTestFunctions, credential);
}

describePostgres()('PostgreSQL without TLS (the server here)', () => {
	let db: TemporaryPostgresDatabase;
	const saved = (ssl: INodeParameters) => {
		const url = new URL(db.url);
		return asN8nGivesIt('postgres', {
			host: url.hostname,
			port: Number(url.port) || 5432,
			database: db.name,
			user: decodeURIComponent(url.username),
			encryptionKey: KEY,
			...ssl,
		});
	};
	beforeAll(async () => {
		db = await createTemporaryPostgresDatabase('oauth2tm_ssl');
	});
	afterAll(async () => db?.drop());

	test('SSL Disable connects; Require, with or without Ignore SSL Issues, is refused naming SSL', async () => {
		expect(
			await credentialTest('postgres', saved({ ssl: sslOption('postgres', 'Disable') })),
		).toMatchObject({ status: 'OK' });
		const requireTls = sslOption('postgres', 'Require');
		for (const ssl of [{ ssl: requireTls }, { ssl: requireTls, allowUnauthorizedCerts: true }]) {
			const result = await credentialTest('postgres', saved(ssl));
			expect(result.status).toBe('Error');
			expect(result.message).toMatch(
				/^PostgreSQL table .*: The server does not support SSL connections/,
			);
		}
	});
});

describeMySql()('MySQL without TLS (the server here)', () => {
	let db: TemporaryMySqlDatabase;
	const saved = (ssl: INodeParameters) => {
		const url = new URL(db.url);
		return asN8nGivesIt('mysql', {
			host: url.hostname,
			port: Number(url.port) || 3306,
			database: db.name,
			user: decodeURIComponent(url.username),
			encryptionKey: KEY,
			...ssl,
		});
	};
	beforeAll(async () => {
		db = await createTemporaryMySqlDatabase('oauth2tm_ssl');
	});
	afterAll(async () => db?.drop());

	test('SSL Disable connects; Require, and the old switch turned on, are refused naming SSL', async () => {
		expect(
			await credentialTest('mysql', saved({ ssl: sslOption('mysql', 'Disable') })),
		).toMatchObject({ status: 'OK' });
		expect(await credentialTest('mysql', saved({ ssl: false }))).toMatchObject({ status: 'OK' });
		const requireTls = sslOption('mysql', 'Require');
		for (const ssl of [
			{ ssl: requireTls },
			{ ssl: requireTls, allowUnauthorizedCerts: true },
			{ ssl: true },
		]) {
			const result = await credentialTest('mysql', saved(ssl));
			expect(result.status).toBe('Error');
			expect(result.message).toMatch(
				/^MySQL table .*: Server does not support secure connection \(HANDSHAKE_NO_SSL_SUPPORT\)\. Check .*SSL/,
			);
		}
	});
});
