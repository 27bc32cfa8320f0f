/*
 * The node's credential tests for the database storages (nodes/.../transport/credentialTests.ts), with the
 * credentials' own field names, against the real servers: good settings pass, and a wrong password, a missing
 * table or a table of the wrong shape each fail with a message that says what is wrong (and no password).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {
	ICredentialDataDecryptedObject,
	ICredentialsDecrypted,
	ICredentialTestFunctions,
} from 'n8n-workflow';
import { OAuth2TokenManagerEmbeddedApi } from '../../credentials/OAuth2TokenManagerEmbeddedApi.credentials';
import { OAuth2TokenManagerMySqlApi } from '../../credentials/OAuth2TokenManagerMySqlApi.credentials';
import { OAuth2TokenManagerPostgresApi } from '../../credentials/OAuth2TokenManagerPostgresApi.credentials';
import { storeCredentialTest } from '../../nodes/OAuth2TokenManager/methods/credentialTest';
import {
	STORAGE_CREDENTIALS,
	type Storage,
} from '../../nodes/OAuth2TokenManager/transport/credentials';
import {
	createTemporaryMySqlDatabase,
	createTemporaryPostgresDatabase,
	type TemporaryMySqlDatabase,
	type TemporaryPostgresDatabase,
} from '../../tools/temporary-database';
import { describeMySql, describePostgres } from './servers';

const KEY = 'credential-test-key-0123456789abcdef';
const SENTINEL_PASSWORD = 'SENTINEL-db-password-93b1';

/** The credential's defaults, as n8n saves them, overlaid with `data`. */
function credentialData(
	type: { properties: Array<{ name: string; default: unknown }> },
	data: ICredentialDataDecryptedObject,
): ICredentialDataDecryptedObject {
	return {
		...(Object.fromEntries(
			type.properties.map((p) => [p.name, p.default]),
		) as ICredentialDataDecryptedObject),
		...data,
	};
}

async function runTest(storage: Storage, data: ICredentialDataDecryptedObject) {
	const credential: ICredentialsDecrypted = {
		id: '1',
		name: 'test',
		type: STORAGE_CREDENTIALS[storage],
		data,
	};
	return storeCredentialTest(storage).call({} as ICredentialTestFunctions, credential);
}

test('the credential type names are the ones the node asks for', () => {
	expect(new OAuth2TokenManagerPostgresApi().name).toBe(STORAGE_CREDENTIALS.postgres);
	expect(new OAuth2TokenManagerMySqlApi().name).toBe(STORAGE_CREDENTIALS.mysql);
	expect(new OAuth2TokenManagerEmbeddedApi().name).toBe(STORAGE_CREDENTIALS.embedded);
	for (const type of [
		new OAuth2TokenManagerPostgresApi(),
		new OAuth2TokenManagerMySqlApi(),
		new OAuth2TokenManagerEmbeddedApi(),
	]) {
		for (const secret of ['encryptionKey', 'previousEncryptionKeys', 'password']) {
			const property = type.properties.find((p) => p.name === secret);
			if (property) expect(property.typeOptions?.password).toBe(true);
		}
	}
});

describePostgres()('PostgreSQL credential test', () => {
	let db: TemporaryPostgresDatabase;
	const base = () => {
		const url = new URL(db.url);
		return credentialData(new OAuth2TokenManagerPostgresApi(), {
			host: url.hostname,
			port: Number(url.port) || 5432,
			database: db.name,
			user: decodeURIComponent(url.username),
			password: decodeURIComponent(url.password),
			encryptionKey: KEY,
		});
	};
	beforeAll(async () => {
		db = await createTemporaryPostgresDatabase('oauth2tm_credtest');
	});
	afterAll(async () => db?.drop());

	test('good settings pass and, with Create Table If Missing (the default), create the table', async () => {
		expect(await runTest('postgres', base())).toMatchObject({ status: 'OK' });
		expect(
			await db.sql("select 1 from information_schema.tables where table_name = 'oauth2_tokens'"),
		).toHaveLength(1);
	});

	test('a missing table with creation off, and a table of the wrong shape, fail naming the problem', async () => {
		const missing = await runTest('postgres', {
			...base(),
			tableName: 'absent_table',
			createTableIfMissing: false,
		});
		expect(missing).toMatchObject({ status: 'Error' });
		expect(missing.message).toMatch(/absent_table does not exist.*sql\/postgres\.sql/);
		await db.sql('create table odd_shape (connection_id text primary key, provider text)');
		const wrong = await runTest('postgres', { ...base(), tableName: 'odd_shape' });
		expect(wrong.message).toMatch(/odd_shape lacks the columns access_token, refresh_token/);
	});

	test('a wrong server fails without echoing the password; a short encryption key fails', async () => {
		const result = await runTest('postgres', { ...base(), port: 1, password: SENTINEL_PASSWORD });
		expect(result.status).toBe('Error');
		expect(result.message).not.toContain(SENTINEL_PASSWORD);
		expect(await runTest('postgres', { ...base(), encryptionKey: 'short' })).toMatchObject({
			status: 'Error',
		});
	});
});

describeMySql()('MySQL credential test', () => {
	let db: TemporaryMySqlDatabase;
	const base = () => {
		const url = new URL(db.url);
		return credentialData(new OAuth2TokenManagerMySqlApi(), {
			host: url.hostname,
			port: Number(url.port) || 3306,
			database: db.name,
			user: decodeURIComponent(url.username),
			password: decodeURIComponent(url.password),
			encryptionKey: KEY,
		});
	};
	beforeAll(async () => {
		db = await createTemporaryMySqlDatabase('oauth2tm_credtest');
	});
	afterAll(async () => db?.drop());

	test('good settings pass and, with Create Table If Missing (the default), create the table', async () => {
		expect(await runTest('mysql', base())).toMatchObject({ status: 'OK' });
		expect(
			await db.sql(
				"select 1 from information_schema.tables where table_schema = database() and table_name = 'oauth2_tokens'",
			),
		).toHaveLength(1);
	});

	test('a missing table with creation off, and a table of the wrong shape, fail naming the problem', async () => {
		const missing = await runTest('mysql', {
			...base(),
			tableName: 'absent_table',
			createTableIfMissing: false,
		});
		expect(missing).toMatchObject({ status: 'Error' });
		expect(missing.message).toMatch(/absent_table does not exist.*sql\/mysql\.sql/);
		await db.sql('create table odd_shape (connection_id varchar(255) primary key, provider text)');
		const wrong = await runTest('mysql', { ...base(), tableName: 'odd_shape' });
		expect(wrong.message).toMatch(/odd_shape lacks the columns access_token, refresh_token/);
	});

	test('a wrong password fails without echoing it', async () => {
		const result = await runTest('mysql', {
			...base(),
			user: 'nobody_here',
			password: SENTINEL_PASSWORD,
		});
		expect(result.status).toBe('Error');
		expect(result.message).toMatch(/Access denied|could not/);
		expect(result.message).not.toContain(SENTINEL_PASSWORD);
	});

	test('no database by default (not the system database "mysql"): the test asks for one', async () => {
		const field = new OAuth2TokenManagerMySqlApi().properties.find((p) => p.name === 'database');
		expect(field?.default).toBe('');
		const result = await runTest('mysql', { ...base(), database: '' });
		expect(result).toEqual({
			status: 'Error',
			message:
				'The Database is empty: enter the database of the token table. Check the "Database" field in the MySQL storage credential.',
		});
	});
});

describe('Embedded (SQLite) credential test', () => {
	let dir: string;
	beforeAll(() => {
		dir = mkdtempSync(join(tmpdir(), 'oauth2tm-credtest-'));
	});
	afterAll(() => rmSync(dir, { recursive: true, force: true }));

	test('a file path passes and the file is created; an unusable path fails naming it', async () => {
		const filePath = join(dir, 'sub', 'tokens.sqlite');
		const ok = await runTest(
			'embedded',
			credentialData(new OAuth2TokenManagerEmbeddedApi(), { filePath, encryptionKey: KEY }),
		);
		expect(ok).toMatchObject({ status: 'OK' });
		expect(ok.message).toContain(filePath);
		const bad = await runTest(
			'embedded',
			credentialData(new OAuth2TokenManagerEmbeddedApi(), {
				filePath: join(filePath, 'nested.sqlite'),
				encryptionKey: KEY,
			}),
		);
		expect(bad.status).toBe('Error');
		expect(bad.message).toContain('nested.sqlite');
	});
});
