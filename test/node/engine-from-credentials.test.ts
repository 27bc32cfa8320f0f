/**
 * The TokenManagers the node builds from its credentials: one per distinct pair of store and app credentials,
 * reused across items and executions, never shared between credentials that differ in any setting or key, and
 * holding no token (every call reads the connection's row).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nock from 'nock';
import type { ICredentialDataDecryptedObject } from 'n8n-workflow';
import {
	cipherFromCredentials,
	oauthClientFromCredentials,
	storeFromCredentials,
} from '../../nodes/OAuth2TokenManager/transport/credentials';
import { withEngine } from '../../nodes/OAuth2TokenManager/transport/engine';
import { TokenManager } from '../../engine/token-manager';
import { executeContext, NOCK_APP_CREDENTIAL } from '../helpers/node-context';
import { rotatingTokenEndpoint } from '../helpers/provider';

let dir: string;
beforeAll(() => {
	nock.disableNetConnect();
	dir = mkdtempSync(join(tmpdir(), 'oauth2tm-managers-'));
});
afterAll(() => {
	nock.cleanAll();
	nock.enableNetConnect();
	rmSync(dir, { recursive: true, force: true });
});

type Changes = { app?: ICredentialDataDecryptedObject; store?: ICredentialDataDecryptedObject };

function credentials(changes: Changes = {}): Record<string, ICredentialDataDecryptedObject> {
	return {
		oAuth2TokenManagerAppApi: { ...NOCK_APP_CREDENTIAL, ...changes.app },
		oAuth2TokenManagerEmbeddedApi: {
			filePath: join(dir, 'tokens.sqlite'),
			encryptionKey: 'managers-test-encryption-key',
			previousEncryptionKeys: '',
			...changes.store,
		},
	};
}

const managerFor = (c: Record<string, ICredentialDataDecryptedObject>) =>
	withEngine(executeContext({ parameters: { storage: 'embedded' }, credentials: c }), 0, (engine) =>
		engine.manager(),
	);

/** Every string reachable from `root` through own properties, Maps and Sets. */
function reachableStrings(root: unknown): string[] {
	const strings: string[] = [];
	const seen = new Set<object>();
	const visit = (value: unknown) => {
		if (typeof value === 'string') return void strings.push(value);
		if (!value || typeof value !== 'object' || seen.has(value)) return;
		seen.add(value);
		if (value instanceof Map) {
			for (const [k, v] of value) {
				visit(k);
				visit(v);
			}
		}
		if (value instanceof Set) for (const v of value) visit(v);
		for (const name of Object.getOwnPropertyNames(value)) {
			const descriptor = Object.getOwnPropertyDescriptor(value, name);
			if (descriptor && 'value' in descriptor) visit(descriptor.value);
		}
	};
	visit(root);
	return strings;
}

it('builds one manager per distinct pair of credentials: reused for equal ones, never shared when a setting or key differs, holding no token', async () => {
	const manager = await managerFor(credentials());
	// Compared by identity only: a failing toBe would print the manager, client secret included.
	expect((await managerFor(credentials())) === manager).toBe(true);
	const variants: Changes[] = [
		{ store: { encryptionKey: 'another-encryption-key-0123' } },
		{ store: { previousEncryptionKeys: 'an-older-encryption-key-0123' } },
		{ store: { tableName: 'other_tokens' } },
		{ app: { clientSecret: 'another-client-secret' } },
		{ app: { clientId: 'another-client-id' } },
	];
	const others = await Promise.all(variants.map((changes) => managerFor(credentials(changes))));
	expect(new Set([manager, ...others]).size).toBe(variants.length + 1);

	// A token written by another manager on the same table is what the cached manager answers with next.
	const c = credentials();
	const other = new TokenManager({
		store: storeFromCredentials('embedded', c.oAuth2TokenManagerEmbeddedApi),
		cipher: cipherFromCredentials(c.oAuth2TokenManagerEmbeddedApi),
		client: oauthClientFromCredentials(c.oAuth2TokenManagerAppApi),
	});
	rotatingTokenEndpoint();
	await manager.exchangeAuthorizationCode('managers:a', {
		code: 'code-1',
		allowMissingState: true,
	});
	expect((await manager.getValidToken('managers:a')).connection.accessToken).toBe(
		'SENTINEL-access-1',
	);
	await other.exchangeAuthorizationCode('managers:a', { code: 'code-2', allowMissingState: true });
	expect((await manager.getValidToken('managers:a')).connection.accessToken).toBe(
		'SENTINEL-access-2',
	);
	expect(
		reachableStrings(manager).filter(
			(s) => s.includes('SENTINEL-access') || s.includes('SENTINEL-refresh'),
		),
	).toEqual([]);
});
