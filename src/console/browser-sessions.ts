import type Provider from 'oidc-provider';
import type { Database } from '../db/database.js';

export interface BrowserSession {
  uid: string;
  userAgent: string | null;
  ip: string | null;
  createdAt: Date;
  lastSeenAt: Date;
}

interface Row {
  uid: string;
  user_agent: string | null;
  ip: string | null;
  created_at: Date;
  last_seen_at: Date;
}

/**
 * An owner's signed-in browsers: listed from `browser_sessions` (kept by session-tracker.ts), ended through
 * oidc-provider's Session model, so it works wherever sessions are stored (Postgres or Redis).
 */
export class BrowserSessions {
  constructor(
    private readonly provider: Provider,
    private readonly db: Database,
  ) {}

  async list(accountId: string): Promise<BrowserSession[]> {
    const { rows } = await this.db.query<Row>(
      `SELECT uid, user_agent, ip, created_at, last_seen_at FROM browser_sessions
       WHERE account_id = $1 AND (expires_at IS NULL OR expires_at > now())
       ORDER BY last_seen_at DESC, uid`,
      [accountId],
    );
    return rows.map((r) => ({
      uid: r.uid,
      userAgent: r.user_agent,
      ip: r.ip,
      createdAt: new Date(r.created_at),
      lastSeenAt: new Date(r.last_seen_at),
    }));
  }

  /** Ends one of the owner's browser sessions; false when the owner has none with that uid. */
  async end(accountId: string, uid: string): Promise<boolean> {
    const { rowCount } = await this.db.query('SELECT 1 FROM browser_sessions WHERE uid = $1 AND account_id = $2', [uid, accountId]);
    if (rowCount === 0) return false;
    await this.destroy(accountId, uid);
    return true;
  }

  /**
   * Ends every session of the account except `keepUid`. Sessions stored in Postgres are found by their payload as
   * well, so one the tracker failed to record is not left alive. Returns how many were ended.
   */
  async endAll(accountId: string, keepUid?: string): Promise<number> {
    const { rows } = await this.db.query<{ uid: string }>(
      `SELECT uid FROM browser_sessions WHERE account_id = $1
       UNION SELECT uid FROM oidc_models WHERE model = 'Session' AND uid IS NOT NULL AND payload->>'accountId' = $1`,
      [accountId],
    );
    const ending = rows.map((r) => r.uid).filter((uid) => uid !== keepUid);
    for (const uid of ending) await this.destroy(accountId, uid);
    return ending.length;
  }

  private async destroy(accountId: string, uid: string): Promise<void> {
    const session = await this.provider.Session.findByUid(uid);
    // A browser keeps its session uid when someone else signs in on it; that session is no longer this owner's.
    if (session && session.accountId === accountId) await session.destroy();
    // The tracker also forgets it on `session.destroyed`, but without waiting; the list must be right at once.
    await this.db.query('DELETE FROM browser_sessions WHERE uid = $1 AND account_id = $2', [uid, accountId]);
  }
}
