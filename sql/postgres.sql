-- OAuth2 Token Manager: connection table for PostgreSQL.
-- Token columns hold AES-256-GCM ciphertext written by the node, never plaintext.
-- The node creates this table itself when "Create Table If Missing" is on; run this file to create it by hand.
-- connection_id has collation "C" so ids compare and sort byte by byte: listing pages through the primary key.
-- Internal rows: ids starting with __oauth2tm_ are the node's own records, never listed.
create table if not exists oauth2_tokens (
  connection_id     text collate "C" primary key check (char_length(connection_id) between 1 and 255),
  provider          text not null,
  access_token      text,
  refresh_token     text,
  token_type        text,
  scope             text,
  expires_at        timestamptz,
  metadata          jsonb not null default '{}'::jsonb,
  status            text not null default 'active' check (status in ('active', 'needs_reauth', 'revoked')),
  version           integer not null default 1,
  lease_holder      text,
  lease_until       timestamptz,
  last_refreshed_at timestamptz,
  refresh_count     integer not null default 0,
  last_error        text,
  app_fingerprint   text,
  token_issued_at   timestamptz,
  grant_type        text,
  failure_count     integer,
  first_failure_at  timestamptz,
  next_attempt_at   timestamptz,
  failing_since     timestamptz,
  created_at        timestamptz not null default now(),
  updated_at        timestamptz not null default now()
);

-- Columns added after the first release. Running this file again upgrades a table created before them
-- (the node does it itself when "Create Table If Missing" is on). A null grant_type is 'authorization_code', a null
-- failure_count 0. A failing connection keeps status 'active' (failing_since says it), so the status check stays.
alter table oauth2_tokens add column if not exists app_fingerprint text;
alter table oauth2_tokens add column if not exists token_issued_at timestamptz;
alter table oauth2_tokens add column if not exists grant_type text;
alter table oauth2_tokens add column if not exists failure_count integer;
alter table oauth2_tokens add column if not exists first_failure_at timestamptz;
alter table oauth2_tokens add column if not exists next_attempt_at timestamptz;
alter table oauth2_tokens add column if not exists failing_since timestamptz;

create index if not exists oauth2_tokens_expiry_idx on oauth2_tokens (status, expires_at);

-- Which authorization states were used: per connection, the newest one (its issue time and nonce, sortable
-- byte by byte, hence collation "C"). A callback is accepted only with a newer state, so each state works once
-- and an older one is refused once a newer one was used. A row may go at expires_at, when every state it can
-- refuse has expired anyway.
create table if not exists oauth2_tokens_states (
  connection_id     text primary key check (char_length(connection_id) between 1 and 255),
  consumed_state    text collate "C" not null,
  expires_at        timestamptz not null
);

create index if not exists oauth2_tokens_states_expiry_idx on oauth2_tokens_states (expires_at);
