import type { Database } from '../db/database.js';

/** The newest unexpired grant an owner gave a client (migration 002 indexes this lookup). */
export async function latestGrantId(db: Database, accountId: string, clientId: string): Promise<string | undefined> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM oidc_models
     WHERE model = 'Grant' AND payload->>'accountId' = $1 AND payload->>'clientId' = $2
       AND (expires_at IS NULL OR expires_at > now())
       -- A grant made by token exchange (grant_delegations) is a narrowed copy for a sub-agent, never the owner's consent.
       AND NOT EXISTS (SELECT 1 FROM grant_delegations d WHERE d.grant_id = oidc_models.id)
     ORDER BY (payload->>'iat')::bigint DESC LIMIT 1`,
    [accountId, clientId],
  );
  return rows[0]?.id;
}
