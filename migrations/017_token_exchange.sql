-- Token exchange with attenuation (RFC 8693, docs/architecture.md#token-exchange): every exchanged token lives in a
-- grant of its own, linked here to the grant of the token it was exchanged from. Revoking a grant revokes every grant
-- below it; the root's policy and daily budget apply to the whole tree.
CREATE TABLE grant_delegations (
  grant_id         text        PRIMARY KEY,
  parent_grant_id  text        NOT NULL,
  -- The owner's original grant (an app's consent, an agent token): its policy and daily limit count for all below it.
  root_grant_id    text        NOT NULL,
  -- Every grant above this one, the root first and the parent last: all must still exist for its tokens to work.
  ancestors        text[]      NOT NULL,
  depth            integer     NOT NULL CHECK (depth >= 1),
  account_id       text        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  -- The client that made the exchange, and the client of the token it gave up.
  client_id        text        NOT NULL,
  parent_client_id text        NOT NULL,
  -- RFC 8693 §4.1 `act`: the chain of actors, the outermost the current one.
  act              jsonb       NOT NULL,
  scopes           text[]      NOT NULL,
  audience         text        NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  expires_at       timestamptz NOT NULL
);
CREATE INDEX grant_delegations_parent ON grant_delegations (parent_grant_id);
CREATE INDEX grant_delegations_root ON grant_delegations (root_grant_id);
CREATE INDEX grant_delegations_ancestors ON grant_delegations USING gin (ancestors);
CREATE INDEX grant_delegations_account ON grant_delegations (account_id, created_at);
