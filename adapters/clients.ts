import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AdapterPayload } from 'oidc-provider';

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

export function secretMatches(stored: string | undefined, presented: string): boolean {
  if (!stored || !presented) return false;
  const a = Buffer.from(hashSecret(presented));
  const b = Buffer.from(stored);
  return a.length === b.length && timingSafeEqual(a, b);
}

export interface ClientRow {
  client_id: string;
  metadata: Record<string, unknown>;
  secret_hash: string | null;
  created_at: Date;
}

/** The metadata oidc-provider sees: the stored digest stands where it expects `client_secret`. */
export function clientFromRow(row: ClientRow): AdapterPayload {
  return {
    ...row.metadata,
    client_id: row.client_id,
    ...(row.secret_hash ? { client_secret: row.secret_hash } : {}),
  } as AdapterPayload;
}
