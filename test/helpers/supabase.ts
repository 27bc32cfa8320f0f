import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
	createTemporaryPostgresDatabase,
	type TemporaryPostgresDatabase,
} from '../../tools/temporary-database';

export const sqlFile = (name: string) =>
	readFileSync(join(__dirname, '..', '..', 'sql', name), 'utf8');

/** A temporary database with the shipped Supabase SQL applied, and Supabase's API roles present. */
export async function supabaseDatabase(
	postgresSql = sqlFile('postgres.sql'),
	supabaseSql = sqlFile('supabase.sql'),
	options = {},
): Promise<TemporaryPostgresDatabase> {
	const db = await createTemporaryPostgresDatabase('oauth2tm_supabase', options);
	await db.sql(`do $$ begin
		if not exists (select from pg_roles where rolname = 'anon') then create role anon nologin; end if;
		if not exists (select from pg_roles where rolname = 'authenticated') then create role authenticated nologin; end if;
	end $$`);
	await db.sql(
		'grant usage on schema public to anon, authenticated; grant select on all tables in schema public to anon',
	);
	await db.sql(postgresSql);
	await db.sql(`grant select, insert, update on oauth2_tokens to anon, authenticated`);
	await db.sql(supabaseSql);
	return db;
}
