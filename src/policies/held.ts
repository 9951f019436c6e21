import { randomBytes } from 'node:crypto';
import type { Database } from '../db/database.js';

export type HeldStatus = 'pending' | 'approved' | 'rejected' | 'failed' | 'expired';

/** An action waiting for the owner ("hold for my approval"), or what became of it. */
export interface HeldAction {
  id: string;
  accountId: string;
  grantId: string;
  clientId: string;
  action: string;
  payload: unknown;
  summary: string;
  status: HeldStatus;
  result?: unknown;
  createdAt: Date;
  decidedAt?: Date;
}

interface Row {
  id: string;
  account_id: string;
  grant_id: string;
  client_id: string;
  action: string;
  payload: unknown;
  summary: string;
  status: HeldStatus;
  result: unknown;
  created_at: Date;
  decided_at: Date | null;
}

const fromRow = (r: Row): HeldAction => ({
  id: r.id,
  accountId: r.account_id,
  grantId: r.grant_id,
  clientId: r.client_id,
  action: r.action,
  payload: r.payload,
  summary: r.summary,
  status: r.status,
  ...(r.result == null ? {} : { result: r.result }),
  createdAt: new Date(r.created_at),
  ...(r.decided_at ? { decidedAt: new Date(r.decided_at) } : {}),
});

export class HeldActions {
  constructor(private readonly db: Database) {}

  async create(input: Pick<HeldAction, 'accountId' | 'grantId' | 'clientId' | 'action' | 'payload' | 'summary'>): Promise<HeldAction> {
    const { rows } = await this.db.query<Row>(
      `INSERT INTO held_actions (id, account_id, grant_id, client_id, action, payload, summary)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
      [
        `held_${randomBytes(12).toString('base64url')}`,
        input.accountId,
        input.grantId,
        input.clientId,
        input.action,
        JSON.stringify(input.payload),
        input.summary.slice(0, 2000),
      ],
    );
    return fromRow(rows[0]!);
  }

  async list(accountId: string, status?: HeldStatus): Promise<HeldAction[]> {
    const { rows } = await this.db.query<Row>(
      `SELECT * FROM held_actions WHERE account_id = $1 AND ($2::text IS NULL OR status = $2) ORDER BY created_at DESC, id LIMIT 200`,
      [accountId, status ?? null],
    );
    return rows.map(fromRow);
  }

  /** How many actions wait for this owner, for the console's navigation badge (counted, not listed). */
  async countPending(accountId: string): Promise<number> {
    const { rows } = await this.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM held_actions WHERE account_id = $1 AND status = 'pending'",
      [accountId],
    );
    return rows[0]?.n ?? 0;
  }

  /** This owner's held action, or undefined for an unknown id or another owner's (never told apart). */
  async find(accountId: string, id: string): Promise<HeldAction | undefined> {
    const { rows } = await this.db.query<Row>('SELECT * FROM held_actions WHERE id = $1 AND account_id = $2', [id, accountId]);
    return rows[0] && fromRow(rows[0]);
  }

  /**
   * Moves a pending action to its decision, once: of two concurrent approvals only one gets the row back, so a
   * held post cannot be sent twice.
   */
  async decide(accountId: string, id: string, status: 'approved' | 'rejected' | 'expired'): Promise<HeldAction | undefined> {
    const { rows } = await this.db.query<Row>(
      `UPDATE held_actions SET status = $3, decided_at = now() WHERE id = $1 AND account_id = $2 AND status = 'pending' RETURNING *`,
      [id, accountId, status],
    );
    return rows[0] && fromRow(rows[0]);
  }

  /** Records what running an approved action gave (the upstream's id, or the error code when it failed). */
  async settle(id: string, status: 'approved' | 'failed', result: unknown): Promise<void> {
    await this.db.query('UPDATE held_actions SET status = $2, result = $3 WHERE id = $1', [id, status, JSON.stringify(result)]);
  }
}
