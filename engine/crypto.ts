import {
	createCipheriv,
	createDecipheriv,
	createHmac,
	createSecretKey,
	randomBytes,
	scryptSync,
	type KeyObject,
} from 'node:crypto';
import { DecryptionError, InvalidInputError } from './errors';

/*
 * Tokens at rest: AES-256-GCM with a random 96-bit IV and a 128-bit tag. The stored value is
 *   enc:v1:<key id>:<iv>:<tag>:<ciphertext>   (base64url parts)
 * The key id lets a store hold values written under several keys while keys rotate. The connection id
 * and the field name are bound as additional authenticated data, so a value copied into another row
 * or column does not decrypt.
 */
const PREFIX = 'enc:v1';
const MIN_KEY_LENGTH = 16;
const KEY_SALT = 'n8n-nodes-oauth2-token-manager/token-encryption/v1';
/** GCM accepts tags as short as 4 bytes unless told otherwise; only the full 16-byte tag is ever written. */
export const GCM_TAG_LENGTH = 16;

interface DerivedKey {
	id: string;
	/**
	 * A KeyObject rather than the key's bytes: given bytes, every createCipheriv/createDecipheriv imports the key
	 * anew, which costs several times the AES work on a token.
	 */
	key: KeyObject;
}

const derivedKeys = new Map<string, DerivedKey>();

/**
 * The value each connection's token field was last decrypted from, with its plaintext. Get Valid Token opens the same
 * stored access token on every call until the next refresh; opening it again was most of what the call added to its
 * database read. It holds nothing the process could not decrypt again: the keys are in the same memory. Bounded,
 * oldest out first.
 */
const OPENED_LIMIT = 1000;
const opened = new Map<
	string,
	{ stored: string; keyId: string; key: KeyObject; plaintext: string }
>();

/** scrypt makes a weak passphrase costly to brute-force; derived once per key per process. */
function deriveKey(secret: string, field: string): DerivedKey {
	if (typeof secret !== 'string' || secret.length < MIN_KEY_LENGTH) {
		throw new InvalidInputError(
			field,
			`must be at least ${MIN_KEY_LENGTH} characters long (use e.g. openssl rand -base64 32)`,
		);
	}
	let derived = derivedKeys.get(secret);
	if (!derived) {
		const key = createSecretKey(
			scryptSync(secret, KEY_SALT, 32, { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }),
		);
		const id = createHmac('sha256', key).update('key-id').digest('base64url').slice(0, 8);
		derived = { id, key };
		derivedKeys.set(secret, derived);
	}
	return derived;
}

export type TokenField = 'access_token' | 'refresh_token';

export class TokenCipher {
	private readonly current: DerivedKey;
	private readonly byId: Map<string, DerivedKey>;

	/** `currentKey` encrypts; `previousKeys` still decrypt, so values written before a rotation stay readable. */
	constructor(currentKey: string, previousKeys: string[] = []) {
		this.current = deriveKey(currentKey, 'encryptionKey');
		this.byId = new Map(
			[this.current, ...previousKeys.map((k) => deriveKey(k, 'previousEncryptionKeys'))].map(
				(k) => [k.id, k],
			),
		);
	}

	encrypt(plaintext: string, connectionId: string, field: TokenField): string {
		const iv = randomBytes(12);
		const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
		cipher.setAAD(Buffer.from(`${connectionId}\u0000${field}`, 'utf8'));
		const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
		const parts = [iv, cipher.getAuthTag(), ciphertext].map((b) => b.toString('base64url'));
		return [PREFIX, this.current.id, ...parts].join(':');
	}

	decrypt(stored: string, connectionId: string, field: TokenField): string {
		const boundTo = `${connectionId}\u0000${field}`;
		const known = opened.get(boundTo);
		// Served only for the very value it was opened from, and only to a cipher holding the key that opened it.
		if (known && known.stored === stored && this.byId.get(known.keyId)?.key === known.key)
			return known.plaintext;
		const parts = stored.split(':');
		if (parts.length !== 6 || `${parts[0]}:${parts[1]}` !== PREFIX) {
			throw new DecryptionError(
				`The stored ${field} of connection "${connectionId}" is not in the encrypted format`,
			);
		}
		const [, , keyId, iv, tag, ciphertext] = parts;
		const tagBytes = Buffer.from(tag, 'base64url');
		if (tagBytes.length !== GCM_TAG_LENGTH) {
			throw new DecryptionError(
				`The stored ${field} of connection "${connectionId}" failed its integrity check: its authentication tag is ${tagBytes.length} bytes, not ${GCM_TAG_LENGTH}`,
			);
		}
		const key = this.byId.get(keyId);
		if (!key) {
			throw new DecryptionError(
				`The stored ${field} of connection "${connectionId}" was encrypted with a key that is not configured (key id ${keyId})`,
			);
		}
		let plaintext: string;
		try {
			const decipher = createDecipheriv('aes-256-gcm', key.key, Buffer.from(iv, 'base64url'), {
				authTagLength: GCM_TAG_LENGTH,
			});
			decipher.setAAD(Buffer.from(boundTo, 'utf8'));
			decipher.setAuthTag(tagBytes);
			plaintext =
				decipher.update(Buffer.from(ciphertext, 'base64url'), undefined, 'utf8') +
				decipher.final('utf8');
		} catch {
			throw new DecryptionError(
				`The stored ${field} of connection "${connectionId}" failed its integrity check`,
			);
		}
		opened.delete(boundTo);
		if (opened.size >= OPENED_LIMIT) opened.delete(opened.keys().next().value!);
		opened.set(boundTo, { stored, keyId, key: key.key, plaintext });
		return plaintext;
	}

	/**
	 * 32-byte keys for another purpose (e.g. signing OAuth state), derived from the current key first,
	 * then from each previous key, so that what was signed before a rotation still verifies.
	 */
	subkeys(purpose: string): Buffer[] {
		const keys = [this.current, ...[...this.byId.values()].filter((k) => k !== this.current)];
		return keys.map((k) =>
			createHmac('sha256', k.key)
				.update(`n8n-nodes-oauth2-token-manager/subkey/${purpose}`)
				.digest(),
		);
	}

	/** True when the value was written under a key other than the current one (re-encrypt on next write). */
	isStale(stored: string): boolean {
		return stored.split(':')[2] !== this.current.id;
	}
}
