/**
 * Get Valid Token over many items (engine/many-tokens.ts) on the in-memory store, with an injected token endpoint
 * standing for the remote provider: one store read for every item, one result or error per item, at most the
 * concurrency's refreshes at once, exactly one token request per expired connection.
 */
import { TokenCipher } from '../../engine/crypto';
import type { TokenEndpoint } from '../../engine/engine-parts';
import { ConnectionNotFoundError, InvalidInputError } from '../../engine/errors';
import { MANY_ITEMS_CONCURRENCY } from '../../engine/many-tokens';
import type { Grant } from '../../engine/oauth';
import { MemoryTokenStore } from '../../engine/stores/memory';
import { TokenManager } from '../../engine/token-manager';
import { testClient } from '../helpers/provider';
import { sleep } from '../../tools/sleep';

const KEY = 'many-tokens-test-encryption-key-01';

/** A provider answering after `delayMs`, issuing tokens of `expiresIn` seconds; it counts grants and requests in flight. */
function provider(options: { delayMs?: number; expiresIn?: number } = {}) {
	const grants: Grant[] = [];
	let inFlight = 0;
	let mostInFlight = 0;
	const endpoint: TokenEndpoint = async (grant) => {
		grants.push(grant);
		inFlight += 1;
		mostInFlight = Math.max(mostInFlight, inFlight);
		await sleep(options.delayMs ?? 0);
		inFlight -= 1;
		return {
			accessToken: `access-${grants.length}`,
			tokenType: 'Bearer',
			expiresIn: options.expiresIn ?? 3600,
			refreshToken: `refresh-${grants.length}`,
			scope: null,
			extra: {},
			warning: null,
			requestedAt: new Date(),
		};
	};
	return {
		endpoint,
		refreshes: () => grants.filter((grant) => grant.grant_type === 'refresh_token'),
		forgetGrants: () => void grants.splice(0),
		mostInFlight: () => mostInFlight,
	};
}

/**
 * A manager on a fresh store holding `count` connections many:0…, each with a token of an hour; with `expired`, the
 * manager's clock is two hours ahead, so every token has expired for it.
 */
async function connected(count: number, expired: boolean, tokenEndpoint: TokenEndpoint) {
	const store = new MemoryTokenStore();
	const manager = new TokenManager({
		store,
		cipher: new TokenCipher(KEY),
		client: testClient(),
		tokenEndpoint,
		pollIntervalMs: 5,
		...(expired ? { clock: () => Date.now() + 7_200_000 } : {}),
	});
	const connecting = provider();
	const connector = new TokenManager({
		store,
		cipher: new TokenCipher(KEY),
		client: testClient(),
		tokenEndpoint: connecting.endpoint,
	});
	const ids = Array.from({ length: count }, (_, i) => `many:${String(i).padStart(4, '0')}`);
	for (const id of ids)
		await connector.exchangeAuthorizationCode(id, { code: `code-${id}`, allowMissingState: true });
	const reads = { get: jest.spyOn(store, 'get'), getMany: jest.spyOn(store, 'getMany') };
	return { store, manager, ids, reads };
}

describe('Get Valid Token over many items', () => {
	test('1,000 fresh connections: one store read for all, no token request, each item its own token, in order', async () => {
		const issued = provider();
		const { manager, ids, reads } = await connected(1000, false, issued.endpoint);
		const results = await manager.getValidTokens(ids.map((connectionId) => ({ connectionId })));
		expect(reads.getMany).toHaveBeenCalledTimes(1);
		expect(reads.get).not.toHaveBeenCalled();
		expect(issued.refreshes()).toHaveLength(0);
		expect(results).toHaveLength(1000);
		results.forEach((result, i) => {
			expect(result.ok).toBe(true);
			if (result.ok) {
				expect(result.value.connection.connectionId).toBe(ids[i]);
				expect(result.value.refreshed).toBe(false);
			}
		});
		// Each connection's own token (as the connector issued them: access-1 for the first, and so on).
		expect(results.map((r) => r.ok && r.value.connection.accessToken)).toEqual(
			ids.map((_, i) => `access-${i + 1}`),
		);
	});

	test('200 expired connections: exactly one token request each, never more than the concurrency at once; the first read is the only one saved', async () => {
		const slow = provider({ delayMs: 30 });
		const { manager, ids, reads } = await connected(201, true, slow.endpoint);
		// One connection alone, as Get Valid Token refreshes it: its first read, then those of the refresh itself.
		await manager.getValidToken(ids[200]);
		const readsOfOne = reads.get.mock.calls.length;
		reads.get.mockClear();
		slow.forgetGrants();
		const batch = ids.slice(0, 200);
		const results = await manager.getValidTokens(batch.map((connectionId) => ({ connectionId })));
		expect(results.every((result) => result.ok && result.value.refreshed)).toBe(true);
		expect(slow.refreshes()).toHaveLength(200);
		expect(
			new Set(slow.refreshes().map((g) => g.grant_type === 'refresh_token' && g.refresh_token))
				.size,
		).toBe(200);
		expect(slow.mostInFlight()).toBe(MANY_ITEMS_CONCURRENCY);
		expect(reads.getMany).toHaveBeenCalledTimes(1);
		// The batch's one read replaces each connection's first read; the refresh reads what it always reads.
		expect(readsOfOne).toBeGreaterThan(1);
		expect(reads.get).toHaveBeenCalledTimes(200 * (readsOfOne - 1));
	});

	test('a smaller concurrency is kept to', async () => {
		const slow = provider({ delayMs: 20 });
		const { manager, ids } = await connected(12, true, slow.endpoint);
		await manager.getValidTokens(
			ids.map((connectionId) => ({ connectionId })),
			{ concurrency: 3 },
		);
		expect(slow.refreshes()).toHaveLength(12);
		expect(slow.mostInFlight()).toBe(3);
	});

	test('items asking the same connection share one refresh; an absent or invalid id fails alone, naming it', async () => {
		const slow = provider({ delayMs: 20 });
		const { manager, ids, reads } = await connected(2, true, slow.endpoint);
		const results = await manager.getValidTokens([
			{ connectionId: ids[0] },
			{ connectionId: 'many:absent' },
			{ connectionId: ids[0] },
			{ connectionId: '' },
			{ connectionId: ids[1], minValiditySeconds: -1 },
			{ connectionId: ids[0] },
		]);
		expect(slow.refreshes()).toHaveLength(1);
		expect(reads.getMany).toHaveBeenCalledTimes(1);
		expect(reads.getMany.mock.calls[0][0]).toEqual([ids[0], 'many:absent', ids[1]]);
		const [first, absent, again, empty, negative, last] = results;
		expect(first.ok && again.ok && last.ok).toBe(true);
		if (first.ok && again.ok) expect(again.value).toBe(first.value);
		expect(!absent.ok && absent.error).toBeInstanceOf(ConnectionNotFoundError);
		expect(!absent.ok && (absent.error as Error).message).toContain('many:absent');
		expect(!empty.ok && (empty.error as Error).message).toMatch(/connectionId/);
		expect(!negative.ok && negative.error).toBeInstanceOf(InvalidInputError);
		expect(!negative.ok && (negative.error as Error).message).toMatch(/minValiditySeconds/);
	});
});
