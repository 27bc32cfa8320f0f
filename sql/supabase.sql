-- OAuth2 Token Manager on Supabase. In Supabase's SQL editor, run sql/postgres.sql first (the tables),
-- then this file. Replace oauth2_tokens in both if you chose another table name in the credential.
-- Both files keep existing tables and rows: run them again after an upgrade.

-- List Connections orders by connection_id through PostgREST, which sorts by the column's collation: "C" (as
-- sql/postgres.sql creates it) sorts byte by byte. This gives a table created before that the same collation.
alter table oauth2_tokens alter column connection_id type text collate "C";

-- Row level security on, with no policy: the anon and authenticated keys see nothing;
-- only the service role key (which bypasses RLS) that the credential uses reaches the rows.
alter table oauth2_tokens enable row level security;
alter table oauth2_tokens_states enable row level security;

do $$
begin
  if exists (select from pg_roles where rolname = 'anon') then
    revoke all on oauth2_tokens from anon, authenticated;
    revoke all on oauth2_tokens_states from anon, authenticated;
  end if;
end $$;

-- updated_at follows every write, on the database clock.
create or replace function oauth2_token_manager_touch() returns trigger
language plpgsql as $$
begin
  new.updated_at := now();
  return new;
end $$;

drop trigger if exists oauth2_tokens_touch on oauth2_tokens;
create trigger oauth2_tokens_touch before update on oauth2_tokens
  for each row execute function oauth2_token_manager_touch();

-- The refresh lease: taken atomically, with the database's clock, when it is free or expired.
-- PostgREST cannot express "lease_until <= now()" in an update, hence these functions.
create or replace function oauth2_token_manager_acquire_lease(
  p_table text, p_connection_id text, p_holder text, p_ttl_ms integer
) returns boolean
language plpgsql as $$
declare
  taken integer;
begin
  execute format(
    'update %s set lease_holder = $2, lease_until = clock_timestamp() + $3 * interval ''1 millisecond''
      where connection_id = $1 and (lease_holder is null or lease_until <= clock_timestamp() or lease_holder = $2)',
    p_table::regclass)
  using p_connection_id, p_holder, p_ttl_ms;
  get diagnostics taken = row_count;
  return taken = 1;
end $$;

create or replace function oauth2_token_manager_release_lease(
  p_table text, p_connection_id text, p_holder text
) returns void
language plpgsql as $$
begin
  execute format('update %s set lease_holder = null, lease_until = null where connection_id = $1 and lease_holder = $2',
    p_table::regclass)
  using p_connection_id, p_holder;
end $$;

-- The database's clock, for what PostgREST's filters cannot compare with now(): Keep Alive leaves out the connections
-- whose cooldown (next_attempt_at) has not ended by this clock, the one the lease follows.
create or replace function oauth2_token_manager_now() returns timestamptz
language sql volatile as $$ select clock_timestamp() $$;

do $$
begin
  if exists (select from pg_roles where rolname = 'anon') then
    revoke execute on function oauth2_token_manager_acquire_lease(text, text, text, integer) from public, anon, authenticated;
    revoke execute on function oauth2_token_manager_release_lease(text, text, text) from public, anon, authenticated;
    revoke execute on function oauth2_token_manager_now() from public, anon, authenticated;
  end if;
end $$;
