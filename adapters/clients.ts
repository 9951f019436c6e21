import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AdapterPayload } from 'oidc-provider';
import type { Queryable } from '../src/db/database.js';

/**
 * Client secrets are 256-bit random values, so a SHA-256 digest is as strong as a password hash and keeps the token
 * endpoint fast (DESIGN.md, Tokens). The stored form is `sha256:<base64url>`.
 */
export function hashSecret(secret: string): string {
  return 'sha256:' + createHash('sha256').update(secret).digest('base64url');
}

export function newClientSecret(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * True when `presented` is the secret behind one of the stored digests. `stored` is what clientFromRow put in
 * `client_secret`: the live digests separated by spaces. Every digest is compared, in constant time each.
 */
export function secretMatches(stored: string | undefined, presented: string): boolean {
  if (!stored || !presented) return false;
  const a = Buffer.from(hashSecret(presented));
  let found = false;
  for (const digest of stored.split(' ')) {
    const b = Buffer.from(digest);
    if (a.length === b.length && timingSafeEqual(a, b)) found = true;
  }
  return found;
}

/** Stands in for `client_secret` when a confidential client has no live secret: no presented secret hashes to it. */
export const NO_LIVE_SECRET = 'none:no-live-secret';

export interface ClientRow {
  client_id: string;
  metadata: Record<string, unknown>;
  /** Digests of the live secrets, newest first; null when there is none (public clients, or all revoked). */
  secret_hashes: string[] | null;
  created_at: Date;
}

/**
 * The enabled clients among `ids`, each with the digests of its live secrets: not revoked, and without an end or
 * with one after `now` (the server's clock, passed in so the grace period of SECURITY.md F3 is testable).
 */
export async function selectClients(db: Queryable, ids: string[], now: Date): Promise<ClientRow[]> {
  const { rows } = await db.query<ClientRow>(
    `SELECT c.client_id, c.metadata, c.created_at,
            (SELECT array_agg(s.secret_hash ORDER BY s.created_at DESC, s.id) FROM client_secrets s
             WHERE s.client_id = c.client_id AND s.revoked_at IS NULL AND (s.expires_at IS NULL OR s.expires_at > $2)) AS secret_hashes
     FROM clients c WHERE c.client_id = ANY($1::text[]) AND c.disabled_at IS NULL`,
    [ids, now],
  );
  return rows;
}

/**
 * The metadata oidc-provider sees: the live digests stand where it expects `client_secret`, separated by spaces
 * (src/provider/provider.ts compareClientSecret checks each). A confidential client whose secrets are all gone still
 * needs a `client_secret` to be valid metadata; it gets one that nothing matches.
 */
export function clientFromRow(row: ClientRow): AdapterPayload {
  const confidential = row.metadata.token_endpoint_auth_method !== 'none';
  const digests = row.secret_hashes?.filter(Boolean) ?? [];
  const secret = digests.length ? digests.join(' ') : confidential ? NO_LIVE_SECRET : undefined;
  return {
    ...row.metadata,
    client_id: row.client_id,
    ...(secret ? { client_secret: secret } : {}),
  } as AdapterPayload;
}
