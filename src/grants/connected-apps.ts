import type { Database } from '../db/database.js';
import { AGENT_CLIENT_ID, CONSOLE_CLIENT_ID } from '../provider/first-party.js';

/** One grant an owner gave: an app that asked through consent, or one of the owner's own agent tokens. */
export interface ConnectedApp {
  grantId: string;
  kind: 'app' | 'agent';
  clientId: string;
  name: string;
  logoUri?: string;
  redirectHost?: string;
  /** Everything granted: OIDC scopes and the scopes of every resource. */
  scopes: string[];
  grantedAt: Date;
  /** Apps: the newest token minted or refreshed under the grant. Agents: the newest use by a resource server. */
  lastUsedAt?: Date;
  expiresAt?: Date;
  /** Narrower tokens handed on from this grant by token exchange, as a tree (docs/architecture.md#token-exchange). */
  delegations: DelegatedToken[];
}

/** One exchanged token's grant under an app: who holds it, what it may do, until when, and what it handed on. */
export interface DelegatedToken {
  grantId: string;
  parentGrantId: string;
  /** 1 for a token exchanged from the app's own, 2 for one exchanged from that, … */
  depth: number;
  /** The client that exchanged it, which now acts with it. */
  clientId: string;
  /** Its registered name, or its client id when it has none. */
  name: string;
  scopes: string[];
  audience: string;
  createdAt: Date;
  expiresAt: Date;
  delegations: DelegatedToken[];
}

interface Row {
  id: string;
  payload: { clientId: string; iat: number; openid?: { scope?: string }; resources?: Record<string, string> };
  expires_at: Date | null;
  metadata: { client_name?: string; logo_uri?: string; redirect_uris?: string[] } | null;
  agent_name: string | null;
  service_name: string | null;
  last_used_at: Date | null;
}

/**
 * Every live grant of this owner except the console's own sign-in, newest first. Grants are durable models, so
 * they are always in Postgres (adapters/index.ts), and this reads them with the client and the event log in one go.
 */
export async function listConnectedApps(db: Database, accountId: string): Promise<ConnectedApp[]> {
  const { rows } = await db.query<Row>(
    `SELECT g.id, g.payload, g.expires_at, c.metadata, a.name AS agent_name, s.name AS service_name,
       CASE WHEN a.id IS NOT NULL THEN a.last_used_at WHEN s.client_id IS NOT NULL THEN (
         -- An agent service's client-credentials tokens are not logged when minted; its API calls are.
         SELECT max(e.created_at) FROM events e WHERE e.account_id = $1 AND e.client_id = s.client_id AND e.kind = 'api.call'
       ) ELSE (
         SELECT max(e.created_at) FROM events e
         WHERE e.account_id = $1 AND e.grant_id = g.id AND e.kind IN ('token.minted', 'token.refreshed')
       ) END AS last_used_at
     FROM oidc_models g
     LEFT JOIN clients c ON c.client_id = g.payload->>'clientId'
     LEFT JOIN agent_tokens a ON a.grant_id = g.id AND a.account_id = $1
     LEFT JOIN agent_services s ON s.grant_id = g.id AND s.account_id = $1
     WHERE g.model = 'Grant' AND g.payload->>'accountId' = $1 AND g.payload->>'clientId' <> $2
       AND (g.expires_at IS NULL OR g.expires_at > now())
       -- An exchanged token's grant is shown under the app it came from, not as an app of its own.
       AND NOT EXISTS (SELECT 1 FROM grant_delegations d WHERE d.grant_id = g.id)
     ORDER BY (g.payload->>'iat')::bigint DESC, g.id`,
    [accountId, CONSOLE_CLIENT_ID],
  );
  const below = await delegationsByParent(db, accountId);
  return rows.map((row) => ({ ...toConnectedApp(row), delegations: treeUnder(row.id, below, new Set()) }));
}

interface DelegationRow {
  grant_id: string;
  parent_grant_id: string;
  depth: number;
  client_id: string;
  client_name: string | null;
  scopes: string[];
  audience: string;
  created_at: Date | string;
  expires_at: Date | string;
}

/**
 * The owner's exchanged grants that still exist (a revoked or expired one is gone from oidc_models even before its
 * grant_delegations row is swept), grouped by the grant they were exchanged from.
 */
async function delegationsByParent(db: Database, accountId: string): Promise<Map<string, DelegationRow[]>> {
  const { rows } = await db.query<DelegationRow>(
    `SELECT d.grant_id, d.parent_grant_id, d.depth, d.client_id, c.metadata->>'client_name' AS client_name, d.scopes, d.audience,
            d.created_at, d.expires_at
     FROM grant_delegations d
     JOIN oidc_models g ON g.model = 'Grant' AND g.id = d.grant_id AND g.payload->>'accountId' = $1
     LEFT JOIN clients c ON c.client_id = d.client_id
     WHERE d.account_id = $1 AND d.expires_at > now() AND (g.expires_at IS NULL OR g.expires_at > now())
     ORDER BY d.created_at DESC, d.grant_id
     LIMIT 500`,
    [accountId],
  );
  const byParent = new Map<string, DelegationRow[]>();
  for (const row of rows) byParent.set(row.parent_grant_id, [...(byParent.get(row.parent_grant_id) ?? []), row]);
  return byParent;
}

/** The tree below `grantId`; a grant whose parent is gone is left out (its tokens stop working with the parent). */
function treeUnder(grantId: string, byParent: Map<string, DelegationRow[]>, seen: Set<string>): DelegatedToken[] {
  return (byParent.get(grantId) ?? [])
    .filter((row) => !seen.has(row.grant_id))
    .map((row) => {
      seen.add(row.grant_id);
      return {
        grantId: row.grant_id,
        parentGrantId: row.parent_grant_id,
        depth: row.depth,
        clientId: row.client_id,
        name: row.client_name ?? row.client_id,
        scopes: row.scopes,
        audience: row.audience,
        createdAt: new Date(row.created_at),
        expiresAt: new Date(row.expires_at),
        delegations: treeUnder(row.grant_id, byParent, seen),
      };
    });
}

function toConnectedApp(row: Row): Omit<ConnectedApp, 'delegations'> {
  const { payload, metadata } = row;
  const agent = payload.clientId === AGENT_CLIENT_ID;
  const redirect = metadata?.redirect_uris?.[0];
  const scopes = [payload.openid?.scope ?? '', ...Object.values(payload.resources ?? {})].join(' ').split(' ').filter(Boolean);
  return {
    grantId: row.id,
    kind: agent ? 'agent' : 'app',
    clientId: payload.clientId,
    name: agent
      ? `Your agent: ${row.agent_name ?? 'unnamed'}`
      : row.service_name
        ? `Your agent service: ${row.service_name}`
        : (metadata?.client_name ?? payload.clientId),
    ...(metadata?.logo_uri ? { logoUri: metadata.logo_uri } : {}),
    ...(redirect && URL.canParse(redirect) ? { redirectHost: new URL(redirect).host } : {}),
    scopes: [...new Set(scopes)],
    grantedAt: new Date(payload.iat * 1000),
    ...(row.last_used_at ? { lastUsedAt: new Date(row.last_used_at) } : {}),
    ...(row.expires_at ? { expiresAt: new Date(row.expires_at) } : {}),
  };
}
