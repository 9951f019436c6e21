-- Upstream OAuth 2.0 providers an owner brought themselves ("bring your own OAuth app"), usable by that owner only.
-- `provider` is `own-<slug>`, an id operators cannot use; `settings` holds everything but the client secret, which
-- is sealed in the vault (record id = `key`) like every credential. `sealed` always holds a value (an empty object when
-- the app has no secret), so master-key rotation re-wraps every row alike.
CREATE TABLE owner_providers (
  key          text        PRIMARY KEY,
  account_id   text        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  provider     text        NOT NULL CHECK (provider ~ '^own-[a-z0-9][a-z0-9-]{0,27}$'),
  settings     jsonb       NOT NULL,
  has_secret   boolean     NOT NULL DEFAULT false,
  sealed       text        NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  UNIQUE (account_id, provider)
);
