import nock from 'nock';
import { PostgresTokenStore } from '../../engine/stores/postgres';
import {
	createTemporaryPostgresDatabase,
	type TemporaryPostgresDatabase,
} from '../../tools/temporary-database';

/**
 * For an engine test file: a PostgresTokenStore on a temporary database of the real server for the whole file,
 * with the provider reachable only through nock (interceptors cleared after each test). `ready` receives
 * both once they exist.
 */
export function usePostgresStoreWithNock(
	ready: (db: TemporaryPostgresDatabase, store: PostgresTokenStore) => void,
): void {
	let db: TemporaryPostgresDatabase | undefined;
	let store: PostgresTokenStore | undefined;
	beforeAll(async () => {
		nock.disableNetConnect();
		db = await createTemporaryPostgresDatabase();
		store = new PostgresTokenStore({ pool: db.pool, createTableIfMissing: true });
		ready(db, store);
	});
	afterEach(() => nock.cleanAll());
	afterAll(async () => {
		await store?.close();
		await db?.drop();
	});
}
