import type {
	ICredentialDataDecryptedObject,
	IExecuteFunctions,
	ILoadOptionsFunctions,
} from 'n8n-workflow';
import { TokenManager, type TokenStore } from '../../../engine';
import { defaultStorage } from '../actions/versions';
import {
	APP_CREDENTIAL,
	cipherFromCredentials,
	oauthClientFromCredentials,
	type Storage,
	STORAGE_CREDENTIALS,
} from './credentials';
import { acquireStore, type CachedStore, releaseStore, settingsHash } from './storeCache';

/** The n8n id of the storage credential the node selects (absent when n8n does not give it). */
function storageCredentialId(
	ctx: IExecuteFunctions | ILoadOptionsFunctions,
	storage: Storage,
): string | undefined {
	return ctx.getNode().credentials?.[STORAGE_CREDENTIALS[storage]]?.id ?? undefined;
}

/*
 * Managers: one per distinct pair of store and app credentials (keys included), so an item costs a hash instead of
 * a cipher, an app fingerprint and a coordinator built anew. Keyed like the stores. A manager holds settings and
 * keys, never a token: every call reads the connection's row. The oldest goes first past MAX_MANAGERS.
 */
const managers = new Map<string, { manager: TokenManager; store: TokenStore }>();
const MAX_MANAGERS = 100;

function cachedManager(
	storage: Storage,
	storeCredentials: ICredentialDataDecryptedObject,
	appCredentials: ICredentialDataDecryptedObject,
	store: TokenStore,
): TokenManager {
	const key = settingsHash(storage, storeCredentials, appCredentials);
	const cached = managers.get(key);
	// A manager built on a store that has left the cache would use a closed pool.
	if (cached?.store === store) return cached.manager;
	const manager = new TokenManager({
		store,
		cipher: cipherFromCredentials(storeCredentials),
		client: oauthClientFromCredentials(appCredentials),
	});
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
export async function withEngine<T>(
	ctx: IExecuteFunctions,
	itemIndex: number,
	work: (engine: Engine) => Promise<T>,
): Promise<T> {
	const taken: CachedStore[] = [];
	const takeStore = async (storage: Storage) => {
		const credentials = await ctx.getCredentials(STORAGE_CREDENTIALS[storage], itemIndex);
		const cached = acquireStore(storage, credentials, storageCredentialId(ctx, storage));
		taken.push(cached);
		return { store: cached.store, credentials };
	};
	const storage = () =>
		ctx.getNodeParameter(
			'storage',
			itemIndex,
			defaultStorage(ctx.getNode().typeVersion),
		) as Storage;
	try {
		return await work({
			store: async () => (await takeStore(storage())).store,
			manager: async () => {
				const selected = storage();
				const { store, credentials } = await takeStore(selected);
				return cachedManager(
					selected,
					credentials,
					await ctx.getCredentials(APP_CREDENTIAL, itemIndex),
					store,
				);
			},
		});
	} finally {
		taken.forEach(releaseStore);
	}
}

/** Runs `work` with the store the node's panel lists connections from: the one its Storage and storage credential select. */
export async function withPanelStore<T>(
	ctx: ILoadOptionsFunctions,
	work: (store: TokenStore) => Promise<T>,
): Promise<T> {
	const storage = (ctx.getCurrentNodeParameter('storage') ??
		defaultStorage(ctx.getNode().typeVersion)) as Storage;
	const cached = acquireStore(
		storage,
		await ctx.getCredentials(STORAGE_CREDENTIALS[storage]),
		storageCredentialId(ctx, storage),
	);
	try {
		return await work(cached.store);
	} finally {
		releaseStore(cached);
	}
}
