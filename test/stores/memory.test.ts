import { MemoryTokenStore } from '../../engine/stores/memory';
import { describeStoreContract, newConnection } from './contract';

describe('In-memory store', () => {
	describeStoreContract(
		'In-memory',
		async () => {
			const store = new MemoryTokenStore();
			return {
				store,
				openSecond: async () => store.share(),
				databaseNow: async () => new Date(performance.timeOrigin + performance.now()),
				teardown: async () => undefined,
			};
		},
		{
			skip: {
				unknownGrantType:
					"its rows are typed objects: no grant type but the engine's can be stored",
			},
		},
	);

	test('leases and timestamps follow the injected clock, not Date', async () => {
		let now = Date.UTC(2030, 0, 1);
		const store = new MemoryTokenStore({ now: () => now });
		const row = await store.insert(newConnection('clock:1'));
		expect(row.createdAt.getTime()).toBe(now);
		expect(await store.acquireLease('clock:1', 'holder-a', 1000)).toBe(true);
		expect((await store.get('clock:1'))!.leaseUntil!.getTime()).toBe(now + 1000);
		now += 999;
		expect(await store.acquireLease('clock:1', 'holder-b', 1000)).toBe(false);
		now += 1;
		expect(await store.acquireLease('clock:1', 'holder-b', 1000)).toBe(true);
		expect((await store.update('clock:1', 1, { accessToken: 'ct:x' })).updatedAt.getTime()).toBe(
			now,
		);
	});

	test('what get returns is a copy: changing it leaves the stored row alone', async () => {
		const store = new MemoryTokenStore();
		await store.insert(newConnection('copy:1'));
		const read = (await store.get('copy:1'))!;
		read.accessToken = 'changed';
		read.metadata.api_domain = 'changed';
		read.expiresAt!.setTime(0);
		const again = (await store.get('copy:1'))!;
		expect(again.accessToken).toBe('ct:access:copy:1');
		expect(again.metadata.api_domain).toBe('https://acme.pipedrive.com');
		expect(again.expiresAt!.getTime()).toBe(Date.UTC(2031, 4, 6, 7, 8, 9, 123));
	});

	test('two stores without share() are two tables: different identities, no shared rows', async () => {
		const a = new MemoryTokenStore();
		const b = new MemoryTokenStore();
		await a.insert(newConnection('own:1'));
		expect(await b.get('own:1')).toBeNull();
		expect(await a.identity()).not.toBe(await b.identity());
		expect(await a.share().identity()).toBe(await a.identity());
	});
});
