-- The owner's console: profile fields, signed-in browsers, agent tokens, and richer access-log rows.
ALTER TABLE accounts ADD COLUMN username text;
ALTER TABLE accounts ADD COLUMN email text;
ALTER TABLE accounts ADD COLUMN phone text;
ALTER TABLE accounts ADD COLUMN wallet_address text;
ALTER TABLE accounts ADD COLUMN updated_at timestamptz;
CREATE UNIQUE INDEX accounts_username ON accounts (lower(username)) WHERE username IS NOT NULL;

-- One row per signed-in browser (an oidc-provider Session), kept by the session events so the owner can see and end them.
CREATE TABLE browser_sessions (
  uid          text        PRIMARY KEY,           -- the Session's stable uid
  session_id   text        NOT NULL,              -- its current id (changes when the identifier is reset)
  account_id   text        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  user_agent   text,
  ip           text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz
);
CREATE INDEX browser_sessions_account ON browser_sessions (account_id);

-- Tokens an owner minted for their own agents. The token itself is an ordinary opaque access token in oidc_models;
-- this row holds what the owner sees (name, scopes, dates) and the grant that revokes it.
CREATE TABLE agent_tokens (
  id           text        PRIMARY KEY,
  account_id   text        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  name         text        NOT NULL,
  grant_id     text        NOT NULL,
  scopes       jsonb       NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL,
  last_used_at timestamptz,
  revoked_at   timestamptz
);
CREATE INDEX agent_tokens_account ON agent_tokens (account_id, created_at DESC);

ALTER TABLE events ADD COLUMN grant_id text;
CREATE INDEX events_account_client ON events (account_id, client_id, created_at DESC);
CREATE INDEX events_account_kind ON events (account_id, kind, created_at DESC);
