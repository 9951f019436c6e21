import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Database, Queryable } from '../db/database.js';
import { systemClock, type Clock } from '../clock.js';

/**
 * Client secrets are 256-bit random values, so a SHA-256 digest is as strong as a password hash and keeps the token
 * endpoint fast (docs/architecture.md#tokens). The stored form is `sha256:<base64url>`.
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

/**
 * True when `client_secret` is what the adapter itself handed out (clientFromRow: the live digests, space-separated,
 * or the placeholder): oidc-provider writes it back unchanged on an RFC 7592 update. Anything else is a new plain
 * secret from its secretFactory, which a digest never equals (digests hold a colon, generated secrets are base64url).
 */
export const isStoredForm = (secret: string) => secret === NO_LIVE_SECRET || secret.split(' ').every((d) => d.startsWith('sha256:'));

/** How long a rotated-out secret keeps working, in seconds (threat model F3): immediately, 1 h, 24 h, 3 d, 7 d. */
export const GRACE_PERIODS = { '0': 0, '1h': 3600, '24h': 86_400, '3d': 259_200, '7d': 604_800 } as const;
export type GracePeriod = keyof typeof GRACE_PERIODS;

const newSecretId = () => `cs_${randomBytes(12).toString('base64url')}`;

/** Stores a new secret of the client, only as its digest (F2); it has no end until a rotation gives it one. */
export async function insertSecret(db: Queryable, clientId: string, clientSecret: string, createdAt: Date): Promise<void> {
  await db.query('INSERT INTO client_secrets (id, client_id, secret_hash, created_at) VALUES ($1, $2, $3, $4)', [
    newSecretId(),
    clientId,
    hashSecret(clientSecret),
    createdAt,
  ]);
}

/** A live secret as its developer may see it: never its value, which is shown once and kept only as a digest (F2). */
export interface LiveSecret {
  id: string;
  createdAt: string;
  /** When it stops working; null while it has no end (the newest secret). */
  expiresAt: string | null;
}

/**
 * The secrets of confidential clients (migration 006). A client authenticates with any live one
 * (adapters/clients.ts selectClients); "now" is always the injected clock's, never the database's.
 */
export class ClientSecrets {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock = systemClock,
    /** Told of every client whose secrets changed, once the change is committed (the process's client cache). */
    private readonly changed: (clientId: string) => void = () => undefined,
  ) {}

  /** Live secrets, newest first. */
  async live(clientId: string): Promise<LiveSecret[]> {
    const { rows } = await this.db.query<{ id: string; created_at: Date; expires_at: Date | null }>(
      `SELECT id, created_at, expires_at FROM client_secrets
       WHERE client_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
       ORDER BY created_at DESC, id`,
      [clientId, this.clock.now()],
    );
    return rows.map((r) => ({
      id: r.id,
      createdAt: new Date(r.created_at).toISOString(),
      expiresAt: r.expires_at ? new Date(r.expires_at).toISOString() : null,
    }));
  }

  /**
   * Issues a new secret and gives every live one an end `graceSeconds` from now (or keeps an earlier end it already
   * had): both work during the grace, then only the new one (F3). Returns the new secret, to be shown once.
   */
  async rotate(clientId: string, graceSeconds: number): Promise<{ clientSecret: string; expiresOldAt: Date }> {
    const now = this.clock.now();
    const end = new Date(now.getTime() + graceSeconds * 1000);
    const clientSecret = newClientSecret();
    await this.db.transaction(async (tx) => {
      await tx.query(
        `UPDATE client_secrets SET expires_at = $2
         WHERE client_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)`,
        [clientId, end],
      );
      await insertSecret(tx, clientId, clientSecret, now);
    });
    this.changed(clientId);
    return { clientSecret, expiresOldAt: end };
  }

  /**
   * Emergency revocation: every secret stops working at once, grace or not, and a fresh one is issued (shown once),
   * so the app can be fixed without a second step and the client never sits without any secret.
   */
  async revokeAll(clientId: string): Promise<{ clientSecret: string; revoked: number }> {
    const now = this.clock.now();
    const clientSecret = newClientSecret();
    const revoked = await this.db.transaction(async (tx) => {
      const { rowCount } = await tx.query('UPDATE client_secrets SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL', [
        clientId,
        now,
      ]);
      await insertSecret(tx, clientId, clientSecret, now);
      return rowCount;
    });
    this.changed(clientId);
    return { clientSecret, revoked };
  }
}
