import type { AdapterPayload } from 'oidc-provider';
import type { Queryable } from '../src/db/database.js';
import { copyJson } from '../src/db/json-copy.js';
import { NO_LIVE_SECRET } from '../src/clients/secrets.js';

export interface ClientRow {
  client_id: string;
  metadata: Record<string, unknown>;
  /**
   * The secrets not revoked, newest first: each digest with the end of its grace period (ms since the epoch; null
   * while it has no end). Which are live is decided at each use (clientFromRow), so a row may be kept for a while.
   */
  secrets: { hash: string; ends: number | null }[] | null;
  created_at: Date;
}

/** The enabled clients among `ids`, each with its secrets that were not revoked (threat model F3). */
export async function selectClients(db: Queryable, ids: string[]): Promise<ClientRow[]> {
  const { rows } = await db.query<ClientRow>(
    `SELECT c.client_id, c.metadata, c.created_at,
            (SELECT json_agg(json_build_object('hash', s.secret_hash, 'ends', (extract(epoch FROM s.expires_at) * 1000)::float8)
                             ORDER BY s.created_at DESC, s.id)
             FROM client_secrets s WHERE s.client_id = c.client_id AND s.revoked_at IS NULL) AS secrets
     FROM clients c WHERE c.client_id = ANY($1::text[]) AND c.disabled_at IS NULL`,
    [ids],
  );
  return rows;
}

/**
 * The metadata oidc-provider sees, for a use at `now` (the server's clock, so the grace period of threat model F3 is
 * testable): the digests of the secrets live then (no end, or an end after `now`) stand where it expects
 * `client_secret`, separated by spaces (src/provider/provider.ts compareClientSecret checks each). A confidential
 * client whose secrets are all gone still needs a `client_secret` to be valid metadata; it gets one that nothing
 * matches. The result is the caller's own: oidc-provider keeps what it is given.
 */
export function clientFromRow(row: ClientRow, now: Date): AdapterPayload {
  const confidential = row.metadata.token_endpoint_auth_method !== 'none';
  const at = now.getTime();
  const digests = (row.secrets ?? []).filter((s) => s.ends === null || s.ends > at).map((s) => s.hash);
  const secret = digests.length ? digests.join(' ') : confidential ? NO_LIVE_SECRET : undefined;
  return {
    // The caller's own copy: oidc-provider normalizes the arrays it is given in place (grant_types), and the row may be
    // kept for other requests (adapters/client-cache.ts).
    ...copyJson(row.metadata),
    client_id: row.client_id,
    ...(secret ? { client_secret: secret } : {}),
  };
}
