import type Provider from 'oidc-provider';
import type { Database } from '../db/database.js';
import type { EventLog } from '../accounts/events.js';
import type { AgentServices } from '../agents/agent-services.js';
import type { PolicyStore } from '../policies/policy.js';
import { revokeGrant, type OwnedGrant } from './revoke.js';

export interface RevokeAppDeps {
  provider: Provider;
  db: Database;
  events: EventLog;
  policies: Pick<PolicyStore, 'remove'>;
  agentServices: Pick<AgentServices, 'find' | 'revoke'>;
}

/** Who revoked, and from where: the console page or API, or the owner's linked Telegram chat. */
export interface RevokedBy {
  accountId: string;
  ip?: string;
  via: 'console' | 'telegram';
}

/**
 * Ends an app's or agent's access to the owner's account: the console's Connected apps page and the bot's /apps both
 * come here, so both revoke alike. `grant` must already be known to be this owner's (findOwnedGrant).
 */
export async function revokeApp(deps: RevokeAppDeps, by: RevokedBy, { grantId, clientId }: OwnedGrant): Promise<void> {
  // An agent service's grant is the agent itself: revoking it removes its client through the client store, so this
  // process stops issuing it tokens at once rather than when the database's announcement arrives.
  const service = await deps.agentServices.find(by.accountId, clientId);
  if (service?.grantId === grantId) {
    await deps.agentServices.revoke({ accountId: by.accountId, ...(by.ip ? { ip: by.ip } : {}) }, service);
    return;
  }
  await revokeGrant(deps.provider, deps.db, grantId);
  // The limits belonged to this grant only; an app that asks again starts from what the owner sets then.
  await deps.policies.remove(grantId);
  await deps.events.record({
    kind: 'app.revoked',
    accountId: by.accountId,
    clientId,
    grantId,
    ip: by.ip ?? null,
    detail: { via: by.via },
  });
}
