import type { Database } from './db/database.js';
import { AppError } from './errors.js';

/**
 * Fixed-window failure counters in the shared database, so every replica sees the same count and a restart
 * forgets nothing (threat model E8, H2: never per-process memory).
 */
export class RateLimiter {
  constructor(
    private readonly db: Database,
    private readonly limit: number,
    private readonly windowSeconds: number,
  ) {}

  /** Throws 429 once `key` has used up its failures in the current window. */
  async check(key: string): Promise<void> {
    const { rows } = await this.db.query<{ count: number }>('SELECT count FROM rate_limits WHERE key = $1 AND expires_at > now()', [key]);
    if ((rows[0]?.count ?? 0) >= this.limit) {
      throw new AppError('too_many_attempts', 429, 'Too many failed attempts. Wait a few minutes and try again.');
    }
  }

  async fail(key: string): Promise<void> {
    await this.db.query(
      `INSERT INTO rate_limits (key, count, expires_at) VALUES ($1, 1, now() + make_interval(secs => $2::int))
       ON CONFLICT (key) DO UPDATE SET
         count = CASE WHEN rate_limits.expires_at <= now() THEN 1 ELSE rate_limits.count + 1 END,
         expires_at = CASE WHEN rate_limits.expires_at <= now() THEN excluded.expires_at ELSE rate_limits.expires_at END`,
      [key, this.windowSeconds],
    );
  }
}
