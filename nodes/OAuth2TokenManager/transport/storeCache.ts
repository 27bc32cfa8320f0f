import { createHash } from 'node:crypto';
import type { ICredentialDataDecryptedObject } from 'n8n-workflow';
import type { TokenStore } from '../../../engine';
import { type Storage, storeFromCredentials } from './credentials';

/*
 * Stores hold connection pools, so Get Valid Token costs one query, not a new connection: one store per distinct
 * settings, keyed by a hash of them (never kept in clear). A store leaves the cache when the storage credential it
 * was built from is used with other settings (n8n keeps a credential's id across edits, so the old pool would stay
 * logged in with the old password), or as the least recently used past MAX_STORES. It is closed once no item still
 * uses it: an execution in flight finishes on the store it began with.
 */
export interface CachedStore {
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

export const settingsHash = (...settings: unknown[]) =>
	createHash('sha256').update(JSON.stringify(settings)).digest('hex');

function closeQuietly(store: TokenStore): void {
	// A pool that fails to close has nothing left to serve: its error concerns nobody.
	void store.close().catch(() => undefined);
}

function retireStore(key: string): void {
	const cached = stores.get(key);
	if (!cached) return;
	stores.delete(key);
	for (const [credentialId, storeKey] of storeKeyOfCredential)
		if (storeKey === key) storeKeyOfCredential.delete(credentialId);
	cached.retired = true;
	if (cached.users === 0) closeQuietly(cached.store);
}

/** The cached store of these settings, counted as in use until releaseStore; `credentialId` tells an edited credential. */
export function acquireStore(
	storage: Storage,
	credentials: ICredentialDataDecryptedObject,
	credentialId: string | undefined,
): CachedStore {
	const { encryptionKey: _key, previousEncryptionKeys: _old, ...settings } = credentials;
	const key = settingsHash(storage, settings);
	const cached = stores.get(key) ?? {
		store: storeFromCredentials(storage, credentials),
		users: 0,
		retired: false,
	};
	// Map order is use order: the first key is the least recently used.
	stores.delete(key);
	if (stores.size >= MAX_STORES) retireStore(stores.keys().next().value!);
	stores.set(key, cached);
	if (credentialId) {
		const previous = storeKeyOfCredential.get(credentialId);
		storeKeyOfCredential.set(credentialId, key);
		// Two credentials with the same settings share a store: it goes when neither uses those settings any more.
		if (previous && previous !== key && ![...storeKeyOfCredential.values()].includes(previous))
			retireStore(previous);
	}
	cached.users++;
	return cached;
}

export function releaseStore(cached: CachedStore): void {
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
