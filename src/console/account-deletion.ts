import type Provider from 'oidc-provider';
import type { Database } from '../db/database.js';
import type { AccountStore } from '../accounts/accounts.js';
import type { BrowserSessions } from './browser-sessions.js';
import { ClientStore } from '../clients/store.js';

export interface DeletionDeps {
  provider: Provider;
  db: Database;
  accounts: AccountStore;
  sessions: BrowserSessions;
  clients: ClientStore;
}

export interface DeletionSummary {
  grants: number;
  apps: number;
  sessions: number;
  passkeys: number;
}

/**
 * Deletes an owner's account and everything it let anyone do. Order matters: the account is disabled first, so no
 * browser or app can mint a new code or token while the old ones are revoked (threat model C5, C6); then its browser
 * sessions end, every grant is revoked with each of its tokens, and only then are the rows deleted.
 */
export async function deleteAccount(
  { provider, db, accounts, sessions, clients }: DeletionDeps,
  accountId: string,
): Promise<DeletionSummary> {
  await accounts.disable(accountId);
  const endedSessions = await sessions.endAll(accountId);

  const grantIds = await grantsOf(db, accountId);
  for (const grantId of grantIds) await revokeGrant(provider, grantId);
  // Anything else oidc-provider stored for this account in Postgres (a token whose grant is already gone, say).
  await db.query("DELETE FROM oidc_models WHERE payload->>'accountId' = $1", [accountId]);

  // The owner's agent services (src/agents/agent-services.ts) go with them: their clients would outlive the account.
  await db.query('DELETE FROM clients WHERE client_id IN (SELECT client_id FROM agent_services WHERE account_id = $1)', [accountId]);
  // So do the apps they registered as a developer (the portal), with every grant and token other owners gave them (F5).
  const apps = await clients.listOwned(accountId);
  for (const app of apps) await clients.remove(app.clientId);

  const { passkeys } = await accounts.deleteAccount(accountId);
  return { grants: grantIds.length, apps: apps.length, sessions: endedSessions, passkeys };
}

/** Every grant the account ever gave: app grants, the console's own, agent tokens', and any a stored token names. */
async function grantsOf(db: Database, accountId: string): Promise<string[]> {
  const { rows } = await db.query<{ grant_id: string }>(
    `SELECT id AS grant_id FROM oidc_models WHERE model = 'Grant' AND payload->>'accountId' = $1
     UNION SELECT grant_id FROM oidc_models WHERE grant_id IS NOT NULL AND payload->>'accountId' = $1
     UNION SELECT grant_id FROM agent_tokens WHERE account_id = $1`,
    [accountId],
  );
  return rows.map((r) => r.grant_id);
}

/**
 * What oidc-provider's own revocation does (lib/helpers/revoke.js), for every token kind regardless of client:
 * codes may live in Redis, so each model's adapter revokes its own members of the grant.
 */
async function revokeGrant(provider: Provider, grantId: string): Promise<void> {
  const models = [
    provider.AccessToken,
    provider.AuthorizationCode,
    provider.RefreshToken,
    provider.DeviceCode,
    provider.BackchannelAuthenticationRequest,
  ];
  await Promise.all(models.map((model) => model.adapter.revokeByGrantId(grantId)));
  await provider.Grant.adapter.destroy(grantId);
}
