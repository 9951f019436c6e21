-- The developer portal: clients owned by developers, and several secrets per client so that a secret can
-- be rotated with a grace period for the old one (threat model F2, F3).

-- The developer (an ordinary owner account) who registered the client; NULL for clients added by the CLI or by
-- dynamic registration. `kind` is what the portal calls it: web (confidential), public (PKCE, no secret), agent.
-- A disabled client is not found by oidc-provider (invalid_client) until it is enabled again.
ALTER TABLE clients ADD COLUMN account_id text;
ALTER TABLE clients ADD COLUMN kind text;
ALTER TABLE clients ADD COLUMN disabled_at timestamptz;
ALTER TABLE clients ADD COLUMN updated_at timestamptz;
-- A developer's apps, newest first: the portal's list and the per-developer registration limits.
CREATE INDEX clients_account ON clients (account_id, created_at) WHERE account_id IS NOT NULL;

-- Every secret of a client, stored only as a digest (adapters/clients.ts hashSecret). A client authenticates with any
-- live one: not revoked, and expires_at unset or still ahead (the grace period of a rotated-out secret).
CREATE TABLE client_secrets (
  id          text        PRIMARY KEY,
  client_id   text        NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
  secret_hash text        NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz,
  revoked_at  timestamptz
);
CREATE INDEX client_secrets_client ON client_secrets (client_id, created_at);

-- The one secret each existing client had moves over; clients.secret_hash is no longer read or written.
INSERT INTO client_secrets (id, client_id, secret_hash, created_at)
  SELECT 'cs_' || md5(client_id || secret_hash), client_id, secret_hash, created_at FROM clients WHERE secret_hash IS NOT NULL;
ALTER TABLE clients DROP COLUMN secret_hash;
