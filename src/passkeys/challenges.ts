import { randomBytes } from 'node:crypto';
import type { Database } from '../db/database.js';
import { digestOf } from '../db/at-rest-keys.js';

/**
 * A binding names an interaction or a session by its id, which the browser holds: only its digest is stored
 * (docs/threat-model.md J2; migration 009 digested the earlier ones in the same domain).
 */
const storedBinding = (binding: string) => digestOf('WebAuthnBinding', binding);

export type ChallengePurpose = 'register' | 'login';

export interface StoredChallenge {
  challenge: string;
  subject: string | null;
}

/**
 * WebAuthn challenges live server-side, bound to what asked for them (an interaction or a session), for a short
 * time, and are taken out on first use whatever the outcome (threat model E2).
 */
export class ChallengeStore {
  constructor(
    private readonly db: Database,
    private readonly ttlSeconds: number,
  ) {}

  async issue(binding: string, purpose: ChallengePurpose, challenge: string, subject?: string): Promise<void> {
    await this.db.query(
      `INSERT INTO webauthn_challenges (id, challenge, purpose, binding, subject, expires_at)
       VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6::int))`,
      [randomBytes(12).toString('base64url'), challenge, purpose, storedBinding(binding), subject ?? null, this.ttlSeconds],
    );
  }

  /**
   * Takes every challenge this binding was issued for this purpose: all are deleted, expired ones included, so a
   * response can be checked against at most one use of each (threat model E2). Returns the live ones.
   */
  async takeAll(binding: string, purpose: ChallengePurpose): Promise<StoredChallenge[]> {
    const { rows } = await this.db.query<{ challenge: string; subject: string | null; live: boolean }>(
      `DELETE FROM webauthn_challenges WHERE binding = $1 AND purpose = $2
       RETURNING challenge, subject, expires_at > now() AS live`,
      [storedBinding(binding), purpose],
    );
    return rows.filter((r) => r.live).map(({ challenge, subject }) => ({ challenge, subject }));
  }
}
