import { SAVED_NODE_STORAGE, type Storage } from '../transport/credentials';

/**
 * The node's versions. A saved node keeps running with the version it was saved with, so whatever depends on the
 * version is read from here:
 * - 1: the node's own output fields in snake_case, the provider's kept fields first (see output.ts);
 * - 1.1: those fields in camelCase, the provider's kept fields last;
 * - 1.2: Connection ID a resource locator (picked from the store's connections, or by ID) instead of a text field;
 *   the operations on the store's connections arrive (each operation's `since`); output as in 1.1.
 * - 1.3: new nodes default to the Embedded (SQLite) store (nothing to set up) and Revoke at Provider off; saved
 *   nodes of the earlier versions keep Supabase and on (a saved node holds no value that equals its default).
 */
export const NODE_VERSIONS = [1, 1.1, 1.2, 1.3] as const;
export type NodeVersion = (typeof NODE_VERSIONS)[number];

/** The version new nodes get. */
export const DEFAULT_NODE_VERSION: NodeVersion = 1.3;

export const CAMEL_CASE_OUTPUT_SINCE: NodeVersion = 1.1;
export const CONNECTION_ID_LOCATOR_SINCE: NodeVersion = 1.2;
export const EDITOR_FIRST_DEFAULTS_SINCE: NodeVersion = 1.3;

/** The Storage a node of this version uses when its parameters hold none: new nodes the embedded store, which needs nothing set up. */
export function defaultStorage(typeVersion: number): Storage {
	return typeVersion >= EDITOR_FIRST_DEFAULTS_SINCE ? 'embedded' : SAVED_NODE_STORAGE;
}

/** Revoke at Provider of a node of this version that holds none: off for new nodes (on, a test run can uninstall the app). */
export function defaultRevokeAtProvider(typeVersion: number): boolean {
	return typeVersion < EDITOR_FIRST_DEFAULTS_SINCE;
}

/** Display condition of what the node shows from `version` on. */
export function inVersionsSince(version: NodeVersion) {
	return { '@version': [{ _cnd: { gte: version } }] };
}

/** Display condition of what the node shows in the versions before `version` (saved nodes keep it as it was). */
export function inVersionsBefore(version: NodeVersion) {
	return { '@version': NODE_VERSIONS.filter((v) => v < version) };
}
