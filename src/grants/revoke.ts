import type Provider from 'oidc-provider';
import type { Database } from '../db/database.js';
import { CONSOLE_CLIENT_ID } from '../provider/first-party.js';

/** A grant the owner may see and revoke in the console: theirs, and not the console's own sign-in. */
export interface OwnedGrant {
  grantId: string;
  clientId: string;
}

/**
 * The grant if it belongs to this owner, otherwise undefined: another owner's grant id is answered exactly like an
 * unknown one, so the console never reveals that it exists.
 */
export async function findOwnedGrant(provider: Provider, accountId: string, grantId: string): Promise<OwnedGrant | undefined> {
  const grant = await provider.Grant.find(grantId, { ignoreExpiration: true });
  if (!grant || grant.accountId !== accountId || !grant.clientId || grant.clientId === CONSOLE_CLIENT_ID) return undefined;
  return { grantId, clientId: grant.clientId };
}

/**
 * Revokes a grant and every token, code and pending request issued under it (threat model C4, C5). Each model is
 * removed through its own oidc-provider adapter, so this works wherever that model lives (Postgres, or Redis for
 * the short-lived ones).
 *
 * The Grant goes first. oidc-provider's refresh, code exchange and introspection all look the grant up, so once it
 * is gone every token of it is dead on the next request, including one minted while this runs (whose row the
 * sweep below may miss).
 */
export async function revokeGrant(provider: Provider, db: Database, grantId: string): Promise<void> {
  await revokeOne(provider, db, grantId);
  await revokeDescendants(provider, db, grantId);
}

/**
 * Revokes every grant exchanged from `grantId` at any depth (RFC 8693 token exchange, src/provider/token-exchange.ts),
 * and forgets the delegation rows of all of them; the grant itself is revoked by the caller (revokeGrant, or
 * oidc-provider for its own revocations). Their tokens are already refused once `grantId` is gone, since every
 * ancestor must exist (src/resource/tokens.ts); this removes them. A grant above `grantId` is left alone.
 *
 * The rows go last: a grant whose row is gone while it still exists would pass for an original grant.
 */
export async function revokeDescendants(provider: Provider, db: Database, grantId: string): Promise<void> {
  const { rows } = await db.query<{ grant_id: string }>('SELECT grant_id FROM grant_delegations WHERE $1 = ANY (ancestors)', [grantId]);
  const below = rows.map((r) => r.grant_id);
  await Promise.all(below.map((id) => revokeOne(provider, db, id)));
  await db.query('DELETE FROM grant_delegations WHERE grant_id = $1 OR grant_id = ANY ($2::text[])', [grantId, below]);
}

async function revokeOne(provider: Provider, db: Database, grantId: string): Promise<void> {
  await provider.Grant.adapter.destroy(grantId);
  const models = [
    provider.AccessToken,
    provider.RefreshToken,
    provider.AuthorizationCode,
    provider.DeviceCode,
    provider.BackchannelAuthenticationRequest,
  ];
  await Promise.all(models.map((model) => model.adapter.revokeByGrantId(grantId)));
  // An agent token is one of these grants: its console row says so from now on.
  await db.query('UPDATE agent_tokens SET revoked_at = now() WHERE grant_id = $1 AND revoked_at IS NULL', [grantId]);
  // An agent service acts under one of these grants: without it the agent is revoked, so its client and the
  // client's tokens go too and new client_credentials requests get invalid_client (src/agents/agent-services.ts).
  await db.query(
    `WITH gone AS (DELETE FROM clients WHERE client_id IN (SELECT client_id FROM agent_services WHERE grant_id = $1) RETURNING client_id)
     DELETE FROM oidc_models WHERE model = 'ClientCredentials' AND payload->>'clientId' IN (SELECT client_id FROM gone)`,
    [grantId],
  );
}
