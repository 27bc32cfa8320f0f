import { TokenCipher } from '../../engine/crypto';
import { DecryptionError, InvalidInputError } from '../../engine/errors';

const KEY = 'correct horse battery staple 42';
const OLD_KEY = 'an older key that was rotated out';

describe('TokenCipher', () => {
	it('round-trips unicode and 4 KB values, with a fresh IV every time', () => {
		const cipher = new TokenCipher(KEY);
		const token = 'jwt.' + 'é✓'.repeat(2048);
		const a = cipher.encrypt(token, 'pipedrive:acme', 'access_token');
		const b = cipher.encrypt(token, 'pipedrive:acme', 'access_token');
		expect(a).not.toEqual(b);
		expect(a).toMatch(/^enc:v1:[\w-]{8}:/);
		expect(a).not.toContain('é✓');
		expect(cipher.decrypt(a, 'pipedrive:acme', 'access_token')).toBe(token);
	});

	it('binds a value to its connection and field', () => {
		const cipher = new TokenCipher(KEY);
		const value = cipher.encrypt('secret-token', 'pipedrive:acme', 'refresh_token');
		expect(() => cipher.decrypt(value, 'pipedrive:other', 'refresh_token')).toThrow(
			DecryptionError,
		);
		expect(() => cipher.decrypt(value, 'pipedrive:acme', 'access_token')).toThrow(DecryptionError);
	});

	it('rejects a tampered value and a plaintext value', () => {
		const cipher = new TokenCipher(KEY);
		const value = cipher.encrypt('secret-token', 'c', 'access_token');
		const parts = value.split(':');
		// Flip one bit of the ciphertext: replacing a byte with a fixed one leaves it unchanged once in 256 runs.
		const ciphertext = Buffer.from(parts[5], 'base64url');
		ciphertext[0] ^= 0x01;
		parts[5] = ciphertext.toString('base64url');
		expect(() => cipher.decrypt(parts.join(':'), 'c', 'access_token')).toThrow(/integrity check/);
		expect(() => cipher.decrypt('plain-token', 'c', 'access_token')).toThrow(
			/not in the encrypted format/,
		);
	});

	it('refuses an authentication tag cut or padded to anything but 16 bytes (GCM would check only what is given)', () => {
		const cipher = new TokenCipher(KEY);
		const value = cipher.encrypt('secret-token', 'c', 'refresh_token');
		const parts = value.split(':');
		const tag = Buffer.from(parts[4], 'base64url');
		expect(tag).toHaveLength(16);
		for (const forged of [
			tag.subarray(0, 4),
			tag.subarray(0, 12),
			Buffer.concat([tag, Buffer.from([0])]),
		]) {
			const stored = [...parts.slice(0, 4), forged.toString('base64url'), parts[5]].join(':');
			expect(() => cipher.decrypt(stored, 'c', 'refresh_token')).toThrow(
				new DecryptionError(
					`The stored refresh_token of connection "c" failed its integrity check: its authentication tag is ${forged.length} bytes, not 16`,
				),
			);
		}
		expect(cipher.decrypt(value, 'c', 'refresh_token')).toBe('secret-token');
	});

	it('decrypts with previous keys, encrypts with the current one, and reports stale values', () => {
		const old = new TokenCipher(OLD_KEY);
		const written = old.encrypt('secret-token', 'c', 'access_token');
		const rotated = new TokenCipher(KEY, [OLD_KEY]);
		expect(rotated.decrypt(written, 'c', 'access_token')).toBe('secret-token');
		expect(rotated.isStale(written)).toBe(true);
		expect(rotated.isStale(rotated.encrypt('secret-token', 'c', 'access_token'))).toBe(false);
		const withoutOld = new TokenCipher(KEY);
		expect(() => withoutOld.decrypt(written, 'c', 'access_token')).toThrow(
			/key that is not configured/,
		);
	});

	it('keeps what it opened only for the value, connection, field and key that opened it', () => {
		const rotated = new TokenCipher(KEY, [OLD_KEY]);
		const written = new TokenCipher(OLD_KEY).encrypt('first-token', 'c', 'access_token');
		expect(rotated.decrypt(written, 'c', 'access_token')).toBe('first-token');
		expect(rotated.decrypt(written, 'c', 'access_token')).toBe('first-token');
		expect(() => new TokenCipher(KEY).decrypt(written, 'c', 'access_token')).toThrow(
			/key that is not configured/,
		);
		expect(() => rotated.decrypt(written, 'other', 'access_token')).toThrow(/integrity check/);
		expect(() => rotated.decrypt(written, 'c', 'refresh_token')).toThrow(/integrity check/);
		const replaced = rotated.encrypt('second-token', 'c', 'access_token');
		expect(rotated.decrypt(replaced, 'c', 'access_token')).toBe('second-token');
		const parts = written.split(':');
		const ciphertext = Buffer.from(parts[5], 'base64url');
		ciphertext[0] ^= 0x01;
		parts[5] = ciphertext.toString('base64url');
		expect(() => rotated.decrypt(parts.join(':'), 'c', 'access_token')).toThrow(/integrity check/);
	});

	it('refuses a short key, naming the field', () => {
		expect(() => new TokenCipher('short')).toThrow(InvalidInputError);
		expect(() => new TokenCipher('short')).toThrow(/^encryptionKey must be at least 16 characters/);
	});
});
