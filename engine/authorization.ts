import {
	createCipheriv,
	createDecipheriv,
	createHash,
	createHmac,
	randomBytes,
	timingSafeEqual,
} from 'node:crypto';
import { GCM_TAG_LENGTH, type TokenCipher } from './crypto';
import { InvalidInputError, InvalidStateError } from './errors';

/*
 * The start of an authorization (RFC 6749 §4.1.1) and the checks on its callback.
 *
 * state = base64url(JSON payload) "." base64url(HMAC-SHA256(signing key, payload))
 *   payload: { v: 2, cid: connection id, st: token store, n: nonce, iat, exp (ms since epoch), pv?: PKCE verifier, AES-256-GCM encrypted }
 *
 * The signing and PKCE keys are derived from the store's token encryption key (TokenCipher.subkeys): every
 * n8n process that can read the tokens can verify a state, and an old key keeps verifying during a rotation.
 *
 * Several stores may share that key (two tables, two databases), and each records used states only in itself: `st`
 * binds the state to the store it was issued for (its TokenStore.identity(), as an HMAC under the signing key, so the
 * URL does not reveal server, database or user), and every other store refuses it. States of version 1 carry no
 * binding: they are refused (`outdated`), or one could be used once on every store that shares the key.
 *
 * Single use needs memory shared by every n8n process: the token store. For each connection it records the newest
 * state used (TokenStore.consumeState, in a table of its own): a state is accepted only if it is newer, atomically,
 * so two processes cannot both accept the same state, and a state issued before one already used is refused too
 * (superseded). A state issued ahead of this host's clock (beyond MAX_STATE_CLOCK_SKEW_MS) is refused: its record
 * would refuse every state issued before that future time.
 *
 * A record may go when every state it can refuse has expired anyway (the newest used state's issue time plus the
 * longest state validity): each consume deletes a few expired records, and a revoke deletes its connection's.
 *
 * Earlier versions kept the record as a marker row in the tokens table (id RESERVED_PREFIX + hash of the connection
 * id). Such a row still refuses the states it recorded until it expires and is purged like the new records.
 */

export const STATE_VERSION = 2;
export const DEFAULT_STATE_TTL_SECONDS = 600;
/** Longest validity a state may be issued with. */
export const MAX_STATE_TTL_SECONDS = 30 * 86400;
/** How far ahead of this host's clock a state's issue time may lie (clocks of several n8n hosts differ a little). */
export const MAX_STATE_CLOCK_SKEW_MS = 60_000;
/** Expired used-state records (and legacy marker rows) deleted per consumed state: enough to keep up, bounded so a callback stays quick. */
export const STATE_PURGE_BATCH = 20;
/** Longest state accepted from a callback; anything longer is refused before it is parsed. */
export const MAX_STATE_LENGTH = 2048;
/** Connection ids starting with this are the engine's own rows (legacy state markers); users cannot choose them. */
export const RESERVED_PREFIX = '__oauth2tm_';
const MARKER_PREFIX = `${RESERVED_PREFIX}state:`;
/** The provider column of legacy marker rows. */
export const LEGACY_MARKER_PROVIDER = 'oauth2-token-manager:state-marker';

interface StatePayload {
	v: number;
	cid: string;
	st: string;
	n: string;
	iat: number;
	exp: number;
	pv?: string;
}

export interface IssuedState {
	state: string;
	expiresAt: Date;
	/** RFC 7636 S256 challenge, when PKCE is used. The verifier itself exists only encrypted inside the state. */
	codeChallenge: string | null;
}

export interface VerifiedState {
	connectionId: string;
	/** The PKCE verifier to send with the code, when the authorization used PKCE. */
	codeVerifier: string | null;
	watermark: string;
	/** The state's issue time (ms since epoch). */
	issuedAt: number;
}

const b64 = (buffer: Buffer) => buffer.toString('base64url');

/** RFC 7636 §4.1/§4.2: a 43-character verifier from 32 random bytes, and its S256 challenge. */
export function createPkcePair(): { verifier: string; challenge: string } {
	const verifier = b64(randomBytes(32));
	return { verifier, challenge: b64(createHash('sha256').update(verifier, 'ascii').digest()) };
}

/** The connection id a state names, unverified: lets a callback route to its connection before the check. */
export function connectionIdFromState(state: unknown): string | null {
	if (typeof state !== 'string' || state.length > MAX_STATE_LENGTH) return null;
	try {
		const payload = JSON.parse(
			Buffer.from(state.split('.')[0], 'base64url').toString('utf8'),
		) as Partial<StatePayload>;
		return typeof payload.cid === 'string' && payload.cid !== '' ? payload.cid : null;
	} catch {
		return null;
	}
}

/** Issues and checks the states of one token store: `storeIdentity` is its TokenStore.identity(). */
export class StateCodec {
	private readonly signingKeys: Buffer[];
	private readonly pkceKeys: Buffer[];

	constructor(
		cipher: TokenCipher,
		private readonly storeIdentity: string,
	) {
		this.signingKeys = cipher.subkeys('oauth-state/signing/v1');
		this.pkceKeys = cipher.subkeys('oauth-state/pkce/v1');
	}

	issue(
		connectionId: string,
		options: { ttlSeconds?: number; pkce: boolean; now?: number },
	): IssuedState {
		const ttlSeconds = options.ttlSeconds ?? DEFAULT_STATE_TTL_SECONDS;
		if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0 || ttlSeconds > MAX_STATE_TTL_SECONDS) {
			throw new InvalidInputError(
				'stateTtlSeconds',
				'must be more than 0 seconds and at most 30 days',
			);
		}
		const iat = options.now ?? Date.now();
		const payload: StatePayload = {
			v: STATE_VERSION,
			cid: connectionId,
			st: this.storeBinding(this.signingKeys[0]),
			n: b64(randomBytes(16)),
			iat,
			exp: iat + Math.round(ttlSeconds * 1000),
		};
		let codeChallenge: string | null = null;
		if (options.pkce) {
			const { verifier, challenge } = createPkcePair();
			payload.pv = this.seal(verifier, payload);
			codeChallenge = challenge;
		}
		const body = b64(Buffer.from(JSON.stringify(payload), 'utf8'));
		return {
			state: `${body}.${b64(this.sign(this.signingKeys[0], body))}`,
			expiresAt: new Date(payload.exp),
			codeChallenge,
		};
	}

	/** Checks format, signature, store, connection and expiry. Single use is checked by consumeState(). */
	verify(state: string, connectionId: string, now = Date.now()): VerifiedState {
		if (state.length > MAX_STATE_LENGTH) {
			throw new InvalidStateError(
				'malformed',
				`The state is ${state.length} characters long; a state the token manager issued is far shorter`,
				restartHint,
			);
		}
		const parts = state.split('.');
		if (
			parts.length !== 2 ||
			!/^[A-Za-z0-9_-]+$/.test(parts[0]) ||
			!/^[A-Za-z0-9_-]+$/.test(parts[1])
		) {
			throw new InvalidStateError(
				'malformed',
				'The state is not one the token manager issued (unknown format)',
				restartHint,
			);
		}
		const [body, signature] = parts;
		const given = Buffer.from(signature, 'base64url');
		const signingKey = this.signingKeys.find((key) => {
			const expected = this.sign(key, body);
			return given.length === expected.length && timingSafeEqual(given, expected);
		});
		if (!signingKey) {
			throw new InvalidStateError(
				'tampered',
				'The state failed its signature check: it was altered, or signed with another key',
				restartHint,
			);
		}
		let payload: StatePayload;
		try {
			payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as StatePayload;
		} catch {
			throw new InvalidStateError(
				'malformed',
				'The state is not one the token manager issued (unreadable payload)',
				restartHint,
			);
		}
		if (payload.v === 1) {
			throw new InvalidStateError(
				'outdated',
				'The state was issued by an earlier version of the token manager, before states were bound to their token store, and is no longer accepted',
				restartHint,
			);
		}
		if (
			payload.v !== STATE_VERSION ||
			typeof payload.cid !== 'string' ||
			typeof payload.st !== 'string' ||
			typeof payload.exp !== 'number' ||
			typeof payload.iat !== 'number' ||
			typeof payload.n !== 'string'
		) {
			throw new InvalidStateError(
				'malformed',
				'The state is not one the token manager issued (unknown version)',
				restartHint,
			);
		}
		// Bound under the key that signed it, so that a state issued before a key rotation still matches.
		if (payload.st !== this.storeBinding(signingKey)) {
			throw new InvalidStateError(
				'other_store',
				'The state was issued for another token store (another table, database, server or database user) than the one checking this callback',
				'Complete the authorization on the token store it was started on, or start it again on this one.',
			);
		}
		if (payload.cid !== connectionId) {
			throw new InvalidStateError(
				'other_connection',
				`The state was issued for another connection, not "${connectionId}"`,
				'Use the connection id the authorization was started for (the state names it).',
			);
		}
		if (now >= payload.exp) {
			const minutes = Math.max(1, Math.round((now - payload.exp) / 60_000));
			throw new InvalidStateError(
				'expired',
				`The state expired about ${minutes} minute(s) ago`,
				restartHint,
			);
		}
		if (payload.iat - now > MAX_STATE_CLOCK_SKEW_MS) {
			const seconds = Math.round((payload.iat - now) / 1000);
			throw new InvalidStateError(
				'issued_in_future',
				`The state was issued ${seconds} seconds in the future by this host's clock (at most ${MAX_STATE_CLOCK_SKEW_MS / 1000} s are accepted): the clock of the host that issued it runs ahead`,
				'Synchronize the clocks of every host (NTP), then start the authorization again.',
			);
		}
		return {
			connectionId: payload.cid,
			codeVerifier: payload.pv ? this.open(payload.pv, payload) : null,
			watermark: `${String(payload.iat).padStart(15, '0')}:${payload.n}`,
			issuedAt: payload.iat,
		};
	}

	private sign(key: Buffer, body: string): Buffer {
		return createHmac('sha256', key).update(`oauth2tm-state.v1.${body}`).digest();
	}

	/** The store this codec is for, as a state names it: 128 bits of an HMAC, not the identity's host and database names. */
	private storeBinding(key: Buffer): string {
		return b64(
			createHmac('sha256', key)
				.update(`oauth2tm-state-store.v1.${this.storeIdentity}`)
				.digest()
				.subarray(0, 16),
		);
	}

	private seal(verifier: string, payload: StatePayload): string {
		const iv = randomBytes(12);
		const cipher = createCipheriv('aes-256-gcm', this.pkceKeys[0], iv);
		cipher.setAAD(Buffer.from(`${payload.cid}\u0000${payload.n}`, 'utf8'));
		const ciphertext = Buffer.concat([cipher.update(verifier, 'utf8'), cipher.final()]);
		return [iv, cipher.getAuthTag(), ciphertext].map(b64).join('.');
	}

	private open(sealed: string, payload: StatePayload): string {
		const [iv, tag, ciphertext] = sealed.split('.').map((p) => Buffer.from(p, 'base64url'));
		if (tag?.length !== GCM_TAG_LENGTH) {
			throw new InvalidStateError(
				'tampered',
				`The PKCE verifier inside the state failed its integrity check: its authentication tag is ${tag?.length ?? 0} bytes, not ${GCM_TAG_LENGTH}`,
				restartHint,
			);
		}
		for (const key of this.pkceKeys) {
			try {
				const decipher = createDecipheriv('aes-256-gcm', key, iv, {
					authTagLength: GCM_TAG_LENGTH,
				});
				decipher.setAAD(Buffer.from(`${payload.cid}\u0000${payload.n}`, 'utf8'));
				decipher.setAuthTag(tag);
				return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
			} catch {
				// try the next key
			}
		}
		throw new InvalidStateError(
			'tampered',
			'The PKCE verifier inside the state failed its integrity check',
			restartHint,
		);
	}
}

export const restartHint =
	'Start the authorization again and complete it within its validity; each authorization URL works once.';

/** The tokens-table row in which earlier versions recorded the states of a connection that were used. */
export function legacyStateMarkerId(connectionId: string): string {
	return MARKER_PREFIX + createHash('sha256').update(connectionId, 'utf8').digest('base64url');
}
