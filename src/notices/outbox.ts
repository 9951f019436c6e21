import type { Database, Queryable } from '../db/database.js';
import type { NoticeButton } from './kinds.js';

/** A message waiting to go out, or gone: one row of telegram_outbox. */
export interface OutboxMessage {
  id: string;
  accountId: string;
  chatId: string;
  kind: string;
  text: string;
  buttons: NoticeButton[][] | null;
  heldId: string | null;
  /** For an edit: the message it changes, that message's state, and its Telegram id once it was sent. */
  editOf: string | null;
  editOfStatus: OutboxMessage['status'] | null;
  editMessageId: string | null;
  status: 'pending' | 'sent' | 'failed' | 'cancelled';
  attempts: number;
  lastError: string | null;
  messageId: string | null;
  createdAt: Date;
  nextAttemptAt: Date;
}

interface Row {
  id: string;
  account_id: string;
  chat_id: string;
  kind: string;
  text: string;
  buttons: NoticeButton[][] | null;
  held_id: string | null;
  edit_of: string | null;
  edit_of_status: OutboxMessage['status'] | null;
  edit_message_id: string | null;
  status: OutboxMessage['status'];
  attempts: number;
  last_error: string | null;
  message_id: string | null;
  created_at: Date | string;
  next_attempt_at: Date | string;
}

const fromRow = (r: Row): OutboxMessage => ({
  id: String(r.id),
  accountId: r.account_id,
  chatId: String(r.chat_id),
  kind: r.kind,
  text: r.text,
  buttons: r.buttons,
  heldId: r.held_id,
  editOf: r.edit_of === null ? null : String(r.edit_of),
  editOfStatus: r.edit_of_status,
  editMessageId: r.edit_message_id === null ? null : String(r.edit_message_id),
  status: r.status,
  attempts: r.attempts,
  lastError: r.last_error,
  messageId: r.message_id === null ? null : String(r.message_id),
  createdAt: new Date(r.created_at),
  nextAttemptAt: new Date(r.next_attempt_at),
});

/** A message as read: `o`, with `e`, the message it edits (if it is an edit). */
const SELECT = `SELECT o.id::text AS id, o.account_id, o.chat_id::text AS chat_id, o.kind, o.text, o.buttons, o.held_id,
  o.edit_of::text AS edit_of, e.status AS edit_of_status, e.message_id::text AS edit_message_id,
  o.status, o.attempts, o.last_error, o.message_id::text AS message_id, o.created_at, o.next_attempt_at
  FROM telegram_outbox o LEFT JOIN telegram_outbox e ON e.id = o.edit_of`;

/** The claim's advisory lock (the project's 733000x series, src/db/migrate.ts): claims never overlap across replicas. */
const CLAIM_LOCK = 7330015;

/** After this many failed attempts a message is undelivered: the console shows it and the owner may send it again. */
export const MAX_ATTEMPTS = 6;

export interface ClaimOptions {
  /** At most this many messages in one claim (Telegram allows about 30 a second in all). */
  limit: number;
  /** How long the claimer may take to send them before another sender may. */
  leaseSeconds: number;
  /** Least time between two messages to one chat (Telegram asks for about a second). */
  perChatGapMs: number;
}

/**
 * telegram_outbox: what the bot must send, in order per chat. Writers enqueue; senders on any replica claim due rows
 * under a lease, at most one per chat at a time and a gap after the chat's last, so two replicas never send one
 * message twice or overrun a chat. A sender that dies lets its lease run out and the message is sent again (at
 * least once: Telegram has no idempotency key).
 */
export class TelegramOutbox {
  constructor(private readonly db: Database) {}

  /** Queues a message; undefined when a message with the same dedupe key was queued before. */
  async enqueue(
    message: {
      accountId: string;
      chatId: string | number;
      kind: string;
      text: string;
      buttons?: NoticeButton[][];
      heldId?: string;
      editOf?: string;
      dedupeKey?: string;
    },
    db: Queryable = this.db,
  ): Promise<string | undefined> {
    const { rows } = await db.query<{ id: string }>(
      `INSERT INTO telegram_outbox (account_id, chat_id, kind, text, buttons, held_id, edit_of, dedupe_key)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id::text AS id`,
      [
        message.accountId,
        message.chatId,
        message.kind,
        message.text,
        message.buttons ? JSON.stringify(message.buttons) : null,
        message.heldId ?? null,
        message.editOf ?? null,
        message.dedupeKey ?? null,
      ],
    );
    return rows[0]?.id;
  }

  /** Takes the messages due now, under a lease: the oldest of each chat that has none in flight and has had its gap. */
  async claim({ limit, leaseSeconds, perChatGapMs }: ClaimOptions): Promise<OutboxMessage[]> {
    return this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [CLAIM_LOCK]);
      const { rows } = await tx.query<Row>(
        `WITH due AS (
           -- The oldest pending message of each chat, if no other of the chat is in flight or was sent too recently.
           SELECT o.id FROM telegram_outbox o
            WHERE o.status = 'pending' AND o.next_attempt_at <= now()
              AND NOT EXISTS (
                SELECT 1 FROM telegram_outbox b WHERE b.chat_id = o.chat_id AND b.id <> o.id AND (
                  (b.status = 'pending' AND (b.id < o.id OR b.leased_until > now()))
                  OR b.sent_at > now() - make_interval(secs => $2::double precision / 1000)))
         ), taken AS (
           UPDATE telegram_outbox o SET leased_until = now() + make_interval(secs => $3), attempts = attempts + 1
             FROM (SELECT id FROM due ORDER BY id LIMIT $1) d WHERE o.id = d.id
               AND (o.leased_until IS NULL OR o.leased_until <= now())
           RETURNING o.id
         )
         ${SELECT} JOIN taken t ON t.id = o.id ORDER BY o.id`,
        [limit, perChatGapMs, leaseSeconds],
      );
      return rows.map(fromRow);
    });
  }

  async markSent(id: string, messageId: number | string | null): Promise<void> {
    await this.db.query(
      "UPDATE telegram_outbox SET status = 'sent', sent_at = now(), leased_until = NULL, message_id = $2, last_error = NULL WHERE id = $1",
      [id, messageId],
    );
  }

  /**
   * A send that did not work: tried again after a wait, unless it is `permanent` (Telegram will never take it: the
   * owner blocked the bot, the chat is gone) or it was the last attempt; then it is undelivered.
   */
  async markFailed(id: string, error: string, permanent: boolean): Promise<'retrying' | 'failed'> {
    // attempts counts this one already (the claim added it): waits of 5 s, 20 s, 80 s, … at most 15 minutes.
    const { rows } = await this.db.query<{ status: string }>(
      `UPDATE telegram_outbox SET leased_until = NULL, last_error = $2,
              status = CASE WHEN $3 OR attempts >= $4 THEN 'failed' ELSE 'pending' END,
              next_attempt_at = now() + make_interval(secs => least(5 * power(4, greatest(attempts - 1, 0)), 900))
        WHERE id = $1 RETURNING status`,
      [id, error.slice(0, 300), permanent, MAX_ATTEMPTS],
    );
    return rows[0]?.status === 'failed' ? 'failed' : 'retrying';
  }

  /** A message that will not be sent (an edit of a message that never went out). */
  async cancel(id: string): Promise<void> {
    await this.db.query("UPDATE telegram_outbox SET status = 'cancelled', leased_until = NULL WHERE id = $1", [id]);
  }

  /**
   * Cancels a message no sender has taken yet (an approval decided before it went out); false when it was sent,
   * is being sent, or is no longer pending, so the caller edits it instead.
   */
  async cancelUnsent(id: string): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `UPDATE telegram_outbox SET status = 'cancelled'
        WHERE id = $1 AND status = 'pending' AND (leased_until IS NULL OR leased_until <= now())`,
      [id],
    );
    return rowCount === 1;
  }

  /** The approval message that shows `heldId`, if one was queued. */
  async ofHeld(heldId: string): Promise<OutboxMessage | undefined> {
    const { rows } = await this.db.query<Row>(`${SELECT} WHERE o.held_id = $1 AND o.kind = 'approvals' ORDER BY o.id LIMIT 1`, [heldId]);
    return rows[0] && fromRow(rows[0]);
  }

  /** What has not reached the owner: given up on, or still being retried after a failure. Newest first. */
  async undelivered(accountId: string): Promise<OutboxMessage[]> {
    const { rows } = await this.db.query<Row>(
      `${SELECT}
        WHERE o.account_id = $1 AND (o.status = 'failed' OR (o.status = 'pending' AND o.last_error IS NOT NULL))
        ORDER BY o.id DESC LIMIT 50`,
      [accountId],
    );
    return rows.map(fromRow);
  }

  /** Sends an undelivered message again from now on; false for an unknown one or another owner's. */
  async retry(accountId: string, id: string): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `UPDATE telegram_outbox SET status = 'pending', attempts = 0, next_attempt_at = now(), leased_until = NULL
        WHERE id = $1 AND account_id = $2 AND status = 'failed'`,
      [id, accountId],
    );
    return rowCount === 1;
  }
}
