-- The resource server: connected upstream accounts in the vault, upstream OAuth connects in progress,
-- per-grant policies with their daily counters, and posts held for the owner's approval.

-- One upstream account an owner connected (an X account by cookie or OAuth, a Telegram bot, a GitHub account ...).
-- `sealed` is the credential, encrypted by the vault with (account, provider, id) as authenticated data (threat model
-- G4); everything else is what the console may show.
CREATE TABLE connections (
  id           text        PRIMARY KEY,
  account_id   text        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  provider     text        NOT NULL,              -- upstream: x, telegram, github ...
  kind         text        NOT NULL,              -- credential kind: x.cookie, oauth2, telegram.bot ...
  label        text        NOT NULL,              -- what the owner recognises: @handle, bot name
  status       text        NOT NULL DEFAULT 'active', -- active | needs_relink
  sealed       text        NOT NULL,
  meta         jsonb       NOT NULL DEFAULT '{}',  -- non-secret details: upstream user id, allowed chats, granted scopes
  expires_at   timestamptz,                        -- when the upstream access token expires (OAuth kinds)
  last_error   text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz
);
-- One account per upstream per owner: connecting again replaces it.
CREATE UNIQUE INDEX connections_owner_provider ON connections (account_id, provider);

-- An upstream OAuth connect in progress: state and PKCE verifier stay on the server (RFC 9700 §2.1.1, §4.7).
CREATE TABLE upstream_auth_requests (
  state        text        PRIMARY KEY,
  account_id   text        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  provider     text        NOT NULL,
  sealed       text        NOT NULL,              -- the PKCE code verifier, sealed with the state as authenticated data
  return_to    text,
  expires_at   timestamptz NOT NULL
);
CREATE INDEX upstream_auth_requests_expires_at ON upstream_auth_requests (expires_at);

-- What the owner allows one app (one oidc-provider Grant) to do beyond its scopes.
CREATE TABLE grant_policies (
  grant_id     text        PRIMARY KEY,
  account_id   text        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  policy       jsonb       NOT NULL,
  updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX grant_policies_account ON grant_policies (account_id);

-- Posts counted against a grant's daily limit (UTC days).
CREATE TABLE policy_usage (
  grant_id     text        NOT NULL,
  day          date        NOT NULL,
  count        integer     NOT NULL DEFAULT 0,
  PRIMARY KEY (grant_id, day)
);

-- Posts waiting for the owner ("hold for my approval"), and what became of them.
CREATE TABLE held_actions (
  id           text        PRIMARY KEY,
  account_id   text        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  grant_id     text        NOT NULL,
  client_id    text        NOT NULL,
  action       text        NOT NULL,              -- a plugin action id: tweet.post, telegram.send ...
  payload      jsonb       NOT NULL,
  summary      text        NOT NULL,              -- the text the owner reads before deciding
  status       text        NOT NULL DEFAULT 'pending', -- pending | approved | rejected | failed | expired
  result       jsonb,
  created_at   timestamptz NOT NULL DEFAULT now(),
  decided_at   timestamptz
);
CREATE INDEX held_actions_account ON held_actions (account_id, status, created_at DESC);
