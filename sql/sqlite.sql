-- OAuth2 Token Manager: connection table for the embedded store (SQLite, through Node's node:sqlite).
-- Token columns hold AES-256-GCM ciphertext written by the node, never plaintext.
-- The node creates this table itself (the embedded store always may); this file documents its shape.
-- Times are ISO-8601 UTC text with milliseconds (YYYY-MM-DDTHH:MM:SS.SSSZ), so they sort and compare as text;
-- leases use SQLite's clock (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')). The file runs in WAL mode.
-- Ids compare and sort byte by byte (the BINARY collation); those starting with __oauth2tm_ are the node's own records.
-- A table created before app_fingerprint, token_issued_at, grant_type, failure_count, first_failure_at,
-- next_attempt_at and failing_since existed gets them from the node on first use (unless "Create Table If Missing" is
-- off; then run, for each it lacks: alter table oauth2_tokens add column <its definition below>;).
-- A null grant_type is 'authorization_code', a null failure_count 0. A failing connection keeps status 'active'
-- (failing_since says it), so the status check stays.
create table if not exists oauth2_tokens (
  connection_id     text primary key not null check (length(connection_id) between 1 and 255),
  provider          text not null,
  access_token      text,
  refresh_token     text,
  token_type        text,
  scope             text,
  expires_at        text,
  metadata          text not null default '{}' check (json_valid(metadata)),
  status            text not null default 'active' check (status in ('active', 'needs_reauth', 'revoked')),
  version           integer not null default 1,
  lease_holder      text,
  lease_until       text,
  last_refreshed_at text,
  refresh_count     integer not null default 0,
  last_error        text,
  app_fingerprint   text,
  token_issued_at   text,
  grant_type        text,
  failure_count     integer,
  first_failure_at  text,
  next_attempt_at   text,
  failing_since     text,
  created_at        text not null default (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  updated_at        text not null default (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) without rowid;

create index if not exists oauth2_tokens_expiry_idx on oauth2_tokens (status, expires_at);

-- Which authorization states were used: per connection, the newest one (its issue time and nonce, compared as
-- text). A callback is accepted only with a newer state, so each state works once and an older one is refused once
-- a newer one was used. A row may go at expires_at, when every state it can refuse has expired anyway.
create table if not exists oauth2_tokens_states (
  connection_id     text primary key not null check (length(connection_id) between 1 and 255),
  consumed_state    text not null,
  expires_at        text not null
) without rowid;

create index if not exists oauth2_tokens_states_expiry_idx on oauth2_tokens_states (expires_at);
