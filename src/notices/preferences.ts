import type { Database } from '../db/database.js';
import { isNoticeKind, NOTICE_KINDS, type NoticeKind } from './kinds.js';

/** Which notices each owner wants: all of them until some are switched off in the console. */
export class NoticePreferences {
  constructor(private readonly db: Database) {}

  /** The kinds this owner switched off. */
  async disabled(accountId: string): Promise<Set<NoticeKind>> {
    const { rows } = await this.db.query<{ disabled: string[] }>('SELECT disabled FROM notice_preferences WHERE account_id = $1', [
      accountId,
    ]);
    return new Set((rows[0]?.disabled ?? []).filter(isNoticeKind));
  }

  async wants(accountId: string, kind: NoticeKind): Promise<boolean> {
    return !(await this.disabled(accountId)).has(kind);
  }

  /** Replaces the owner's choice: exactly the kinds in `enabled` are on. */
  async set(accountId: string, enabled: Iterable<NoticeKind>): Promise<void> {
    const on = new Set(enabled);
    const off = (Object.keys(NOTICE_KINDS) as NoticeKind[]).filter((kind) => !on.has(kind));
    await this.db.query(
      `INSERT INTO notice_preferences (account_id, disabled) VALUES ($1, $2)
       ON CONFLICT (account_id) DO UPDATE SET disabled = EXCLUDED.disabled, updated_at = now()`,
      [accountId, off],
    );
  }
}
