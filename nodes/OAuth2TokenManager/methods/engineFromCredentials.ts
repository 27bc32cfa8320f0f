import { createHash } from 'node:crypto';
import type { ICredentialDataDecryptedObject, IExecuteFunctions, ILoadOptionsFunctions } from 'n8n-workflow';
import { DEFAULT_IDLE_TIMEOUT_SECONDS, tlsFromCredentials } from '../../../credentials/databaseServerFields';
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

/** Idle Connection Timeout in ms; a credential saved before the field existed has none. */
function idleTimeoutMs(c: ICredentialDataDecryptedObject): number {
	const seconds = Number(c.idleTimeoutSeconds);
	return (seconds > 0 ? seconds : DEFAULT_IDLE_TIMEOUT_SECONDS) * 1000;
}

/** Builds a store from its credential. Pure: the caller decides about caching. */
export function storeFromCredentials(storage: Storage, c: ICredentialDataDecryptedObject): TokenStore {
	const ssl = tlsFromCredentials(c);
	switch (storage) {
		case 'supabase':
			return new SupabaseTokenStore({ url: text(c.host), serviceRoleKey: String(c.serviceRole ?? ''), tableName: text(c.tableName), schema: text(c.schema) });
		case 'postgres':
			return new PostgresTokenStore({
				pool: {
					host: text(c.host),
					port: Number(c.port) || 5432,
					database: text(c.database),
					user: text(c.user),
					password: String(c.password ?? ''),
					ssl,
					idleTimeoutMillis: idleTimeoutMs(c),
				},
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
				idleTimeoutMs: idleTimeoutMs(c),
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
 * Stores hold connection pools, so Get Valid Token costs one query, not a new connection: one store per distinct
 * settings, keyed by a hash of them (never kept in clear). A store leaves the cache when the storage credential it
 * was built from is used with other settings (n8n keeps a credential's id across edits, so the old pool would stay
 * logged in with the old password), or as the least recently used past MAX_STORES. It is closed once no item still
 * uses it: an execution in flight finishes on the store it began with.
 */
interface CachedStore {
	store: TokenStore;
	/** Items (and panel searches) using the store now. */
	users: number;
	/** Out of the cache: closed when the last user releases it. */
	retired: boolean;
}

const stores = new Map<string, CachedStore>();
/** The settings key each storage credential, by its n8n id, was last used with. */
const storeKeyOfCredential = new Map<string, string>();
const MAX_STORES = 20;

const settingsHash = (...settings: unknown[]) => createHash('sha256').update(JSON.stringify(settings)).digest('hex');

function closeQuietly(store: TokenStore): void {
	// A pool that fails to close has nothing left to serve: its error concerns nobody.
	void store.close().catch(() => undefined);
}

function retireStore(key: string): void {
	const cached = stores.get(key);
	if (!cached) return;
	stores.delete(key);
	for (const [credentialId, storeKey] of storeKeyOfCredential) if (storeKey === key) storeKeyOfCredential.delete(credentialId);
	cached.retired = true;
	if (cached.users === 0) closeQuietly(cached.store);
}

/** The cached store of these settings, counted as in use until releaseStore; `credentialId` tells an edited credential. */
function acquireStore(storage: Storage, credentials: ICredentialDataDecryptedObject, credentialId: string | undefined): CachedStore {
	const { encryptionKey: _key, previousEncryptionKeys: _old, ...settings } = credentials;
	const key = settingsHash(storage, settings);
	const cached = stores.get(key) ?? { store: storeFromCredentials(storage, credentials), users: 0, retired: false };
	// Map order is use order: the first key is the least recently used.
	stores.delete(key);
	if (stores.size >= MAX_STORES) retireStore(stores.keys().next().value!);
	stores.set(key, cached);
	if (credentialId) {
		const previous = storeKeyOfCredential.get(credentialId);
		storeKeyOfCredential.set(credentialId, key);
		// Two credentials with the same settings share a store: it goes when neither uses those settings any more.
		if (previous && previous !== key && ![...storeKeyOfCredential.values()].includes(previous)) retireStore(previous);
	}
	cached.users++;
	return cached;
}

function releaseStore(cached: CachedStore): void {
	cached.users--;
	if (cached.retired && cached.users === 0) closeQuietly(cached.store);
}

/**
 * Takes every store out of the cache; each is closed once no item uses it. n8n gives a node no shutdown hook: this is
 * for tests, whose process would otherwise wait on the pools (a MySQL pool's idle check runs until it is closed).
 */
export function retireCachedStores(): void {
	for (const key of [...stores.keys()]) retireStore(key);
}

/** The n8n id of the storage credential the node selects (absent when n8n does not give it). */
function storageCredentialId(ctx: IExecuteFunctions | ILoadOptionsFunctions, storage: Storage): string | undefined {
	return ctx.getNode().credentials?.[STORAGE_CREDENTIALS[storage]]?.id ?? undefined;
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
const managers = new Map<string, { manager: TokenManager; store: TokenStore }>();
const MAX_MANAGERS = 100;

function cachedManager(storage: Storage, storeCredentials: ICredentialDataDecryptedObject, appCredentials: ICredentialDataDecryptedObject, store: TokenStore): TokenManager {
	const key = settingsHash(storage, storeCredentials, appCredentials);
	const cached = managers.get(key);
	// A manager built on a store that has left the cache would use a closed pool.
	if (cached?.store === store) return cached.manager;
	const manager = new TokenManager({ store, cipher: cipherFromCredentials(storeCredentials), client: oauthClientFromCredentials(appCredentials) });
	managers.delete(key);
	if (managers.size >= MAX_MANAGERS) managers.delete(managers.keys().next().value!);
	managers.set(key, { manager, store });
	return manager;
}

/** The node's engine for one item, built on first use: operations that only read connections need no App credential. */
export interface Engine {
	store(): Promise<TokenStore>;
	manager(): Promise<TokenManager>;
}

/** Runs `work` with the item's engine; the stores it took are released when `work` settles. */
export async function withEngine<T>(ctx: IExecuteFunctions, itemIndex: number, work: (engine: Engine) => Promise<T>): Promise<T> {
	const taken: CachedStore[] = [];
	const takeStore = async (storage: Storage) => {
		const credentials = await ctx.getCredentials(STORAGE_CREDENTIALS[storage], itemIndex);
		const cached = acquireStore(storage, credentials, storageCredentialId(ctx, storage));
		taken.push(cached);
		return { store: cached.store, credentials };
	};
	const storage = () => ctx.getNodeParameter('storage', itemIndex) as Storage;
	try {
		return await work({
			store: async () => (await takeStore(storage())).store,
			manager: async () => {
				const selected = storage();
				const { store, credentials } = await takeStore(selected);
				return cachedManager(selected, credentials, await ctx.getCredentials(APP_CREDENTIAL, itemIndex), store);
			},
		});
	} finally {
		taken.forEach(releaseStore);
	}
}

/** Runs `work` with the store the node's panel lists connections from: the one its Storage and storage credential select. */
export async function withPanelStore<T>(ctx: ILoadOptionsFunctions, work: (store: TokenStore) => Promise<T>): Promise<T> {
	const storage = (ctx.getCurrentNodeParameter('storage') ?? DEFAULT_STORAGE) as Storage;
	const cached = acquireStore(storage, await ctx.getCredentials(STORAGE_CREDENTIALS[storage]), storageCredentialId(ctx, storage));
	try {
		return await work(cached.store);
	} finally {
		releaseStore(cached);
	}
}
