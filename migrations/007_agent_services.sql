-- Agent services bound to an owner: a confidential client that obtains tokens with
-- client_credentials and acts for the owner who registered it, under a Grant of that owner for exactly the scopes
-- they picked. Revoking the agent deletes its client, which takes this row with it (the access log keeps the history).
CREATE TABLE agent_services (
  client_id    text        PRIMARY KEY REFERENCES clients (client_id) ON DELETE CASCADE,
  account_id   text        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  grant_id     text        NOT NULL,              -- the oidc-provider Grant (owner, client) its tokens act under
  name         text        NOT NULL,
  scopes       jsonb       NOT NULL,              -- the resource scopes the owner granted, also the client's `scope`
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agent_services_account ON agent_services (account_id, created_at DESC);
CREATE UNIQUE INDEX agent_services_grant ON agent_services (grant_id);
