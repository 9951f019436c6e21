-- oidc-provider's models (docs/architecture.md#storage). One row per model instance; the columns beside `payload` are
-- the ones the adapter looks rows up by.
CREATE TABLE oidc_models (
  model       text        NOT NULL,
  id          text        NOT NULL,
  payload     jsonb       NOT NULL,
  grant_id    text,
  user_code   text,
  uid         text,
  expires_at  timestamptz,
  consumed_at timestamptz,
  PRIMARY KEY (model, id)
);
CREATE INDEX oidc_models_grant_id ON oidc_models (grant_id) WHERE grant_id IS NOT NULL;
CREATE INDEX oidc_models_uid ON oidc_models (model, uid) WHERE uid IS NOT NULL;
CREATE INDEX oidc_models_user_code ON oidc_models (model, user_code) WHERE user_code IS NOT NULL;
CREATE INDEX oidc_models_expires_at ON oidc_models (expires_at) WHERE expires_at IS NOT NULL;

-- Registered OAuth clients. `metadata` is oidc-provider client metadata without the secret; the secret is kept only
-- as a SHA-256 digest (docs/architecture.md#tokens).
CREATE TABLE clients (
  client_id   text        PRIMARY KEY,
  metadata    jsonb       NOT NULL,
  secret_hash text,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Owners: people who sign in with passkeys.
CREATE TABLE accounts (
  id          text        PRIMARY KEY,
  created_at  timestamptz NOT NULL DEFAULT now(),
  disabled_at timestamptz
);

CREATE TABLE passkeys (
  id            text        PRIMARY KEY,          -- credential id, base64url
  account_id    text        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  public_key    text        NOT NULL,             -- COSE public key, base64url
  counter       bigint      NOT NULL DEFAULT 0,
  transports    jsonb       NOT NULL DEFAULT '[]',
  device_type   text        NOT NULL,             -- singleDevice | multiDevice
  backed_up     boolean     NOT NULL DEFAULT false,
  name          text        NOT NULL DEFAULT 'Passkey',
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz
);
CREATE INDEX passkeys_account_id ON passkeys (account_id);

-- WebAuthn challenges: server-side, single use, short-lived (threat model E2).
CREATE TABLE webauthn_challenges (
  id          text        PRIMARY KEY,
  challenge   text        NOT NULL,
  purpose     text        NOT NULL,
  binding     text        NOT NULL,               -- what the challenge belongs to (an interaction, a session)
  subject     text,                               -- the account a registration will create or extend
  expires_at  timestamptz NOT NULL
);
CREATE INDEX webauthn_challenges_binding ON webauthn_challenges (binding, purpose);
CREATE INDEX webauthn_challenges_expires_at ON webauthn_challenges (expires_at);

-- One decision per interaction step: two concurrent consent POSTs cannot both decide (threat model D2).
CREATE TABLE interaction_decisions (
  key         text        PRIMARY KEY,
  expires_at  timestamptz NOT NULL
);

-- Signing and cookie keys, sealed under the master key.
CREATE TABLE keys (
  kid          text        PRIMARY KEY,
  use          text        NOT NULL,              -- sig | cookie
  alg          text,
  sealed       text        NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  retired_at   timestamptz,                       -- no longer used to sign
  remove_after timestamptz                        -- no longer published after this
);

-- Security and audit events (the owner's access log grows from here).
CREATE TABLE events (
  id          bigserial   PRIMARY KEY,
  account_id  text,
  client_id   text,
  kind        text        NOT NULL,
  outcome     text        NOT NULL DEFAULT 'ok',
  detail      jsonb       NOT NULL DEFAULT '{}',
  ip          text,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_account_id ON events (account_id, created_at DESC);

-- Fixed-window counters for rate limits when Redis is not configured.
CREATE TABLE rate_limits (
  key         text        PRIMARY KEY,
  count       integer     NOT NULL,
  expires_at  timestamptz NOT NULL
);
