import { createHash } from 'node:crypto';
import type { ICredentialDataDecryptedObject, IExecuteFunctions, ILoadOptionsFunctions } from 'n8n-workflow';
import { tlsFromCredentials } from '../../../credentials/databaseServerFields';
import { type ClientAuthentication, MissingInputError, MySqlTokenStore, type OAuthClient, parseExtraParameters, PostgresTokenStore, resolveOAuthClient, SqliteTokenStore, SupabaseTokenStore, TokenCipher, TokenManager, type TokenStore } from '../../../engine';

/**
 * Turns the node's credentials (and its Storage parameter) into engine objects: the OAuth client, the token store,
 * the cipher and the TokenManager over them. Used by the router and by the credential tests beside it.
 */

export type Storage = 'supabase' | 'postgres' | 'mysql' | 'embedded';

/** What a node saved without a Storage value uses (Supabase was the only store at first). */
export const DEFAULT_STORAGE: Storage = 'supabase';

export const APP_CREDENTIAL = 'oAuth2TokenManagerAppApi';

export const STORAGE_CREDENTIALS: Record<Storage, string> = {
	supabase: 'oAuth2TokenManagerSupabaseApi',
	postgres: 'oAuth2TokenManagerPostgresApi',
	mysql: 'oAuth2TokenManagerMySqlApi',
	embedded: 'oAuth2TokenManagerEmbeddedApi',
};

const text = (value: unknown) => (typeof value === 'string' ? value.trim() : '');
const list = (value: unknown, separator: RegExp) =>
	text(value)
		.split(separator)
		.map((s) => s.trim())
		.filter(Boolean);

export function oauthClientFromCredentials(credentials: ICredentialDataDecryptedObject): OAuthClient {
	return resolveOAuthClient({
		preset: text(credentials.preset) || 'pipedrive',
		clientId: text(credentials.clientId),
		clientSecret: typeof credentials.clientSecret === 'string' ? credentials.clientSecret : '',
		redirectUri: text(credentials.redirectUri),
		scopes: list(credentials.scopes, /[\s,]+/),
		authorizationUrl: text(credentials.authorizationUrl),
		tokenUrl: text(credentials.tokenUrl),
		revocationUrl: text(credentials.revocationUrl),
		clientAuthentication: (text(credentials.clientAuthentication) || undefined) as ClientAuthentication | undefined,
		keepResponseFields: list(credentials.keepResponseFields, /,/),
		keepCallbackFields: list(credentials.keepCallbackFields, /,/),
		placeholderValues: { tenant: text(credentials.tenant), accountsServer: text(credentials.accountsServer), environment: text(credentials.environment) },
		authorizationParameters: parseExtraParameters('authorizationParameters', text(credentials.authorizationParameters)),
		tokenParameters: parseExtraParameters('tokenParameters', text(credentials.codeExchangeParameters)),
		refreshParameters: parseExtraParameters('refreshParameters', text(credentials.refreshParameters)),
		// Only the Custom preset shows the PKCE switch; a preset's own support applies otherwise.
		pkce: text(credentials.preset) === 'custom' && typeof credentials.pkce === 'boolean' ? credentials.pkce : undefined,
	});
}

/** Builds a store from its credential. Pure: the caller decides about caching. */
export function storeFromCredentials(storage: Storage, c: ICredentialDataDecryptedObject): TokenStore {
	const ssl = tlsFromCredentials(c);
	switch (storage) {
		case 'supabase':
			return new SupabaseTokenStore({ url: text(c.host), serviceRoleKey: String(c.serviceRole ?? ''), tableName: text(c.tableName), schema: text(c.schema) });
		case 'postgres':
			return new PostgresTokenStore({
				pool: { host: text(c.host), port: Number(c.port) || 5432, database: text(c.database), user: text(c.user), password: String(c.password ?? ''), ssl },
				tableName: text(c.tableName),
				createTableIfMissing: c.createTableIfMissing === true,
			});
		case 'mysql':
			if (!text(c.database)) throw new MissingInputError('database');
			return new MySqlTokenStore({
				host: text(c.host),
				port: Number(c.port) || 3306,
				database: text(c.database),
				user: text(c.user),
				password: String(c.password ?? ''),
				ssl: ssl ?? false,
				tableName: text(c.tableName),
				createTableIfMissing: c.createTableIfMissing === true,
			});
		case 'embedded':
			return new SqliteTokenStore({ filePath: text(c.filePath) || undefined, tableName: text(c.tableName) || undefined });
		default:
			throw new Error(`Unknown storage "${String(storage)}"`);
	}
}

/*
 * Stores hold connection pools: one per distinct credential for the life of the n8n process, so Get
 * Valid Token costs one query, not a new connection. Keyed by a hash of the settings (never kept in clear).
 */
const stores = new Map<string, TokenStore>();

const settingsHash = (...settings: unknown[]) => createHash('sha256').update(JSON.stringify(settings)).digest('hex');

function cachedStore(storage: Storage, credentials: ICredentialDataDecryptedObject): TokenStore {
	const { encryptionKey: _key, previousEncryptionKeys: _old, ...settings } = credentials;
	const key = settingsHash(storage, settings);
	let store = stores.get(key);
	if (!store) {
		store = storeFromCredentials(storage, credentials);
		stores.set(key, store);
	}
	return store;
}

export function cipherFromCredentials(credentials: ICredentialDataDecryptedObject): TokenCipher {
	// Keys may contain spaces (passphrases): old keys are separated by commas or line breaks only.
	return new TokenCipher(String(credentials.encryptionKey ?? ''), list(credentials.previousEncryptionKeys, /[\n,]+/));
}

/*
 * Managers: one per distinct pair of store and app credentials (keys included), so an item costs a hash instead of
 * a cipher, an app fingerprint and a coordinator built anew. Keyed like the stores. A manager holds settings and
 * keys, never a token: every call reads the connection's row. The oldest goes first past MAX_MANAGERS.
 */
const managers = new Map<string, TokenManager>();
const MAX_MANAGERS = 100;

function cachedManager(storage: Storage, storeCredentials: ICredentialDataDecryptedObject, appCredentials: ICredentialDataDecryptedObject): TokenManager {
	const key = settingsHash(storage, storeCredentials, appCredentials);
	let manager = managers.get(key);
	if (!manager) {
		manager = new TokenManager({
			store: cachedStore(storage, storeCredentials),
			cipher: cipherFromCredentials(storeCredentials),
			client: oauthClientFromCredentials(appCredentials),
		});
		if (managers.size >= MAX_MANAGERS) managers.delete(managers.keys().next().value!);
		managers.set(key, manager);
	}
	return manager;
}

/** The node's engine for one item, built on first use: operations that only read connections need no App credential. */
export interface Engine {
	store(): Promise<TokenStore>;
	manager(): Promise<TokenManager>;
}

export function engineFor(ctx: IExecuteFunctions, itemIndex: number): Engine {
	const storage = () => ctx.getNodeParameter('storage', itemIndex) as Storage;
	const storeCredentials = () => ctx.getCredentials(STORAGE_CREDENTIALS[storage()], itemIndex);
	return {
		store: async () => cachedStore(storage(), await storeCredentials()),
		manager: async () => cachedManager(storage(), await storeCredentials(), await ctx.getCredentials(APP_CREDENTIAL, itemIndex)),
	};
}

/** The store the node's panel lists connections from: the one its Storage and storage credential select. */
export async function storeForPanel(ctx: ILoadOptionsFunctions): Promise<TokenStore> {
	const storage = (ctx.getCurrentNodeParameter('storage') ?? DEFAULT_STORAGE) as Storage;
	return cachedStore(storage, await ctx.getCredentials(STORAGE_CREDENTIALS[storage]));
}
