import type { Database } from '../db/database.js';
import { AGENT_CLIENT_ID } from '../provider/first-party.js';

/**
 * The names an owner knows their apps by, keyed by grant id, also for grants revoked since (a decided held post
 * still says who asked for it): the client's registered name, or for the owner's own agent tokens, the token's name.
 */
export async function appNames(
  db: Database,
  accountId: string,
  grants: ReadonlyArray<{ grantId: string; clientId: string }>,
): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  if (!grants.length) return names;
  const clientIds = [...new Set(grants.map((g) => g.clientId))];
  const grantIds = [...new Set(grants.map((g) => g.grantId))];
  const [clients, agents] = await Promise.all([
    db.query<{ client_id: string; name: string | null }>(
      "SELECT client_id, metadata->>'client_name' AS name FROM clients WHERE client_id = ANY($1::text[])",
      [clientIds],
    ),
    db.query<{ grant_id: string; name: string }>(
      'SELECT grant_id, name FROM agent_tokens WHERE account_id = $1 AND grant_id = ANY($2::text[])',
      [accountId, grantIds],
    ),
  ]);
  const clientName = new Map(clients.rows.map((r) => [r.client_id, r.name ?? r.client_id]));
  const agentName = new Map(agents.rows.map((r) => [r.grant_id, r.name]));
  for (const { grantId, clientId } of grants) {
    names.set(
      grantId,
      clientId === AGENT_CLIENT_ID ? `Your agent: ${agentName.get(grantId) ?? 'unnamed'}` : (clientName.get(clientId) ?? clientId),
    );
  }
  return names;
}
