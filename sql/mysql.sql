-- OAuth2 Token Manager: connection table for MySQL 8 / MariaDB 10.5+.
-- Token columns hold AES-256-GCM ciphertext written by the node, never plaintext (a 4 KB JWT becomes ~6 KB of text).
-- The node creates this table itself when "Create Table If Missing" is on; run this file to create it by hand.
-- connection_id is VARBINARY so ids compare byte for byte: "Acme" and "acme", or "a" and "a ", stay distinct
-- (utf8mb4 collations would fold case or ignore trailing spaces). It holds UTF-8 text of 1 to 255 characters.
-- Ids starting with __oauth2tm_ are the node's own records, never listed.
-- A table created before app_fingerprint, token_issued_at, grant_type, failure_count, first_failure_at,
-- next_attempt_at and failing_since existed is upgraded by the node when "Create Table If Missing" is on; otherwise
-- run, once, the statements adding those it lacks (MySQL 8 has no "add column if not exists"), e.g.:
--   alter table oauth2_tokens add column app_fingerprint varchar(512), add column token_issued_at datetime(3);
--   alter table oauth2_tokens add column grant_type varchar(32), add column failure_count int,
--     add column first_failure_at datetime(3), add column next_attempt_at datetime(3), add column failing_since datetime(3);
-- A null grant_type is 'authorization_code', a null failure_count 0. A failing connection keeps status 'active'
-- (failing_since says it), so the status check stays.
-- Times are UTC (the node writes UTC_TIMESTAMP(3)); leases use the server's clock.
create table if not exists oauth2_tokens (
  connection_id     varbinary(1020) not null,
  provider          varchar(255) not null,
  access_token      mediumtext,
  refresh_token     mediumtext,
  token_type        varchar(64),
  scope             text,
  expires_at        datetime(3),
  metadata          json not null,
  status            varchar(16) not null default 'active',
  version           int not null default 1,
  lease_holder      varchar(255),
  lease_until       datetime(3),
  last_refreshed_at datetime(3),
  refresh_count     int not null default 0,
  last_error        text,
  app_fingerprint   varchar(512),
  token_issued_at   datetime(3),
  grant_type        varchar(32),
  failure_count     int,
  first_failure_at  datetime(3),
  next_attempt_at   datetime(3),
  failing_since     datetime(3),
  created_at        datetime(3) not null default current_timestamp(3),
  updated_at        datetime(3) not null default current_timestamp(3),
  primary key (connection_id),
  key oauth2_tokens_expiry_idx (status, expires_at),
  check (char_length(convert(connection_id using utf8mb4)) between 1 and 255),
  check (status in ('active', 'needs_reauth', 'revoked'))
) engine = InnoDB default charset = utf8mb4 collate = utf8mb4_unicode_ci;

-- Which authorization states were used: per connection, the newest one (its issue time and nonce, compared byte
-- by byte, hence ascii_bin). A callback is accepted only with a newer state, so each state works once and an older
-- one is refused once a newer one was used. A row may go at expires_at, when every state it can refuse has expired.
create table if not exists oauth2_tokens_states (
  connection_id     varbinary(1020) not null,
  consumed_state    varchar(255) character set ascii collate ascii_bin not null,
  expires_at        datetime(3) not null,
  primary key (connection_id),
  key oauth2_tokens_states_expiry_idx (expires_at)
) engine = InnoDB default charset = utf8mb4 collate = utf8mb4_unicode_ci;
