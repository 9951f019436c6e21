import type { Database } from '../db/database.js';

/** Telegram keeps an unconfirmed update for at most 24 hours; a claim kept a little longer covers every retry. */
const KEEP_CLAIMS_HOURS = 25;

/**
 * Claims on updates by `update_id`, shared by every replica through the database: whoever inserts the row handles
 * the update; a retry of the webhook or a second replica finds it taken and does nothing.
 */
export class UpdateClaims {
  constructor(private readonly db: Database) {}

  /** True for the one caller that takes `updateId` first. */
  async claim(updateId: number): Promise<boolean> {
    const { rows } = await this.db.query(
      `INSERT INTO telegram_updates (update_id, expires_at) VALUES ($1, now() + make_interval(hours => $2))
       ON CONFLICT (update_id) DO NOTHING RETURNING update_id`,
      [updateId, KEEP_CLAIMS_HOURS],
    );
    return rows.length === 1;
  }

  /** Gives a claim back after handling failed, so Telegram's retry is handled. */
  async release(updateId: number): Promise<void> {
    await this.db.query('DELETE FROM telegram_updates WHERE update_id = $1', [updateId]);
  }
}
