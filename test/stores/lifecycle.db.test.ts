/**
 * The connection lifecycle scenarios (test/engine/lifecycle-scenarios.ts: cooldown bookkeeping, client credentials,
 * Keep Alive swept by two processes at once) through the engine on every real store: PostgreSQL, MariaDB/MySQL,
 * SQLite, and Supabase (PostgREST under nock over a real PostgreSQL). Each store gets a fresh database; the second
 * "process" opens its own store instance on it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TokenStore } from '../../engine/store';
import { MySqlTokenStore, PostgresTokenStore, SqliteTokenStore } from '../../engine/stores';
import { SupabaseTokenStore } from '../../engine/stores/supabase';
import {
	createTemporaryMySqlDatabase,
	createTemporaryPostgresDatabase,
} from '../../tools/temporary-database';
import { postgrestOverPostgres } from '../helpers/postgrest';
import { supabaseDatabase } from '../helpers/supabase';
import { describeLifecycleScenarios } from '../engine/lifecycle-scenarios';
import type { StoreHarness } from './contract';
import { describeMySql, describePostgres } from './servers';

/** A harness whose stores all come from `open`, closed with the database by `drop`. */
function harness(open: () => TokenStore, drop: () => Promise<void>): StoreHarness {
	const stores: TokenStore[] = [];
	const opened = () => {
		const store = open();
		stores.push(store);
		return store;
	};
	return {
		store: opened(),
		openSecond: async () => opened(),
		teardown: async () => {
			await Promise.all(stores.map((s) => s.close()));
			await drop();
		},
	};
}

describePostgres()('PostgreSQL', () => {
	describeLifecycleScenarios('PostgreSQL', async () => {
		const db = await createTemporaryPostgresDatabase('oauth2tm_lifecycle');
		return harness(
			() => new PostgresTokenStore({ pool: db.pool, createTableIfMissing: true }),
			() => db.drop(),
		);
	});
});

describeMySql()('MariaDB/MySQL', () => {
	describeLifecycleScenarios('MySQL', async () => {
		const db = await createTemporaryMySqlDatabase('oauth2tm_lifecycle');
		return harness(
			() => new MySqlTokenStore({ uri: db.url, createTableIfMissing: true }),
			() => db.drop(),
		);
	});
});

describe('SQLite', () => {
	describeLifecycleScenarios('SQLite', async () => {
		const dir = mkdtempSync(join(tmpdir(), 'oauth2tm-lifecycle-'));
		return harness(
			() => new SqliteTokenStore({ filePath: join(dir, 'tokens.sqlite') }),
			async () => rmSync(dir, { recursive: true, force: true }),
		);
	});
});

describePostgres()('Supabase', () => {
	describeLifecycleScenarios('Supabase (PostgREST under nock)', async () => {
		const origin = 'https://lifecycle.supabase.test';
		const serviceRoleKey = 'SENTINEL-service-role-key';
		const db = await supabaseDatabase();
		const rest = postgrestOverPostgres(origin, db, { serviceRoleKey });
		return harness(
			() => new SupabaseTokenStore({ url: origin, serviceRoleKey }),
			async () => {
				rest.stop();
				await db.drop();
			},
		);
	});
});
