import type { Database } from '../src/db/database.js';
import { storageKey } from '../src/db/at-rest-keys.js';

/**
 * One decision per interaction step (docs/threat-model.md D2): of two concurrent posts answering the same prompt,
 * exactly one claims it. Keyed by the interaction's digest, as it is stored: its id is in the browser's URL and
 * cookie (J2). A claim lasts as long as the interaction may.
 */
export class InteractionDecisions {
  constructor(
    private readonly db: Database,
    private readonly ttlSeconds: number,
  ) {}

  /** True when this call claimed the decision of `step` of interaction `uid`; false when it was already taken. */
  async claim(uid: string, step: string): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `INSERT INTO interaction_decisions (key, expires_at) VALUES ($1, now() + make_interval(secs => $2::int))
       ON CONFLICT (key) DO NOTHING`,
      [`${storageKey('Interaction', uid)}:${step}`, this.ttlSeconds],
    );
    return rowCount === 1;
  }
}
