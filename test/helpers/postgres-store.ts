import nock from 'nock';
import { PostgresStore } from '../../engine/stores/postgres';
import { createTemporaryPostgresDatabase, type TemporaryDatabase } from './postgres';

/**
 * For an engine test file: a PostgresStore on a temporary database of the real server for the whole file,
 * with the provider reachable only through nock (interceptors cleared after each test). `ready` receives
 * both once they exist.
 */
export function usePostgresStoreWithNock(ready: (db: TemporaryDatabase, store: PostgresStore) => void): void {
	let db: TemporaryDatabase | undefined;
	let store: PostgresStore | undefined;
	beforeAll(async () => {
		nock.disableNetConnect();
		db = await createTemporaryPostgresDatabase();
		store = new PostgresStore({ pool: db.pool, createTableIfMissing: true });
		ready(db, store);
	});
	afterEach(() => nock.cleanAll());
	afterAll(async () => {
		await store?.close();
		await db?.drop();
	});
}
