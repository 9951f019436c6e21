import type { AgentService } from '../agents/agent-services.js';
import { AGENT_CLIENT_ID } from '../provider/first-party.js';
import type { AgentToken, AgentTokens } from './agent-tokens.js';
import { listConnectedApps, type ConnectedApp } from './connected-apps.js';
import { revokeApp, type RevokeAppDeps, type RevokedBy } from './revoke-app.js';

export interface RevokeEverythingDeps extends RevokeAppDeps {
  agentServices: RevokeAppDeps['agentServices'] & { list(accountId: string): Promise<AgentService[]> };
  agentTokens: Pick<AgentTokens, 'list' | 'revoke'>;
}

/** What "Revoke everything" ends for an owner, by kind, so the confirmation can say exactly what goes. */
export interface Everything {
  /** Apps that asked through consent (each with the tokens it handed on by token exchange). */
  apps: ConnectedApp[];
  agentServices: AgentService[];
  /** Agent tokens still working: not revoked, not expired. */
  agentTokens: AgentToken[];
}

/** Every app, agent service and working agent token of this owner. */
export async function everythingOf(deps: RevokeEverythingDeps, accountId: string): Promise<Everything> {
  const [granted, agentServices, tokens] = await Promise.all([
    listConnectedApps(deps.db, accountId),
    deps.agentServices.list(accountId),
    deps.agentTokens.list(accountId),
  ]);
  const serviceGrants = new Set(agentServices.map((s) => s.grantId));
  const now = Date.now();
  return {
    apps: granted.filter((a) => a.clientId !== AGENT_CLIENT_ID && !serviceGrants.has(a.grantId)),
    agentServices,
    agentTokens: tokens.filter((t) => !t.revokedAt && t.expiresAt.getTime() > now),
  };
}

/**
 * Ends every app's, agent service's and agent token's access at once, each through its own revocation path
 * (revokeApp for apps, the agent services store, the agent token store), so every token fails on its very next
 * call and the access log has a line per thing ended. Returns how many of each went.
 */
export async function revokeEverything(
  deps: RevokeEverythingDeps,
  by: RevokedBy,
): Promise<{ apps: number; agentServices: number; agentTokens: number }> {
  const { apps, agentServices, agentTokens } = await everythingOf(deps, by.accountId);
  const actor = { accountId: by.accountId, ...(by.ip ? { ip: by.ip } : {}) };
  for (const service of agentServices) await deps.agentServices.revoke(actor, service);
  for (const token of agentTokens) {
    await deps.agentTokens.revoke(token);
    await deps.events.record({
      kind: 'token.revoked',
      accountId: by.accountId,
      clientId: AGENT_CLIENT_ID,
      grantId: token.grantId,
      ip: by.ip ?? null,
      detail: { name: token.name },
    });
  }
  for (const app of apps) await revokeApp(deps, by, { grantId: app.grantId, clientId: app.clientId });
  const counts = { apps: apps.length, agentServices: agentServices.length, agentTokens: agentTokens.length };
  await deps.events.record({
    kind: 'everything.revoked',
    accountId: by.accountId,
    ip: by.ip ?? null,
    detail: { apps: counts.apps, agent_services: counts.agentServices, agent_tokens: counts.agentTokens, via: by.via },
  });
  return counts;
}
