import { createHash, randomBytes } from 'node:crypto';
import type { Database, Queryable } from '../db/database.js';

/** How long a link made in the console may be opened in Telegram. */
export const LINK_NONCE_TTL_SECONDS = 600;

/**
 * A nonce as Telegram carries it in `/start <nonce>`: base64url (the deep-link alphabet), at most 64 characters.
 * 24 random bytes are 192 bits in 32 characters.
 */
const NONCE = /^[A-Za-z0-9_-]{1,64}$/;

/** The owner's Telegram account, as the console shows it. */
export interface TelegramLink {
  accountId: string;
  chatId: string;
  userId: string;
  username: string | null;
  firstName: string | null;
  linkedAt: Date;
}

/** Who opened the link: a private chat's id and the Telegram user in it. */
export interface TelegramChatUser {
  chatId: number;
  userId: number;
  username?: string;
  firstName?: string;
}

interface LinkRow {
  account_id: string;
  chat_id: string;
  user_id: string;
  username: string | null;
  first_name: string | null;
  linked_at: Date | string;
}

const digest = (nonce: string) => createHash('sha256').update(`telegram-link:${nonce}`).digest('base64url');

const fromRow = (r: LinkRow): TelegramLink => ({
  accountId: r.account_id,
  chatId: r.chat_id,
  userId: r.user_id,
  username: r.username,
  firstName: r.first_name,
  linkedAt: new Date(r.linked_at),
});

/**
 * What the bot queued for a link that is gone is not sent: the chat no longer speaks for that owner (or the owner
 * linked another chat, where later notices go).
 */
async function dropQueued(tx: Queryable, removed: ReadonlyArray<{ account_id: string; chat_id: string }>): Promise<void> {
  for (const link of removed) {
    await tx.query("UPDATE telegram_outbox SET status = 'cancelled' WHERE account_id = $1 AND chat_id = $2 AND status = 'pending'", [
      link.account_id,
      link.chat_id,
    ]);
  }
}

const LINK_COLUMNS = 'account_id, chat_id::text AS chat_id, user_id::text AS user_id, username, first_name, linked_at';

/**
 * Which owner a Telegram chat speaks for. A link is made by a one-time nonce the owner's console hands out and the
 * owner sends to the bot from a private chat; the nonce is stored only as a digest and can be spent once.
 */
export class TelegramLinks {
  constructor(private readonly db: Database) {}

  /** A fresh nonce for `accountId`, valid for LINK_NONCE_TTL_SECONDS. */
  async createNonce(accountId: string): Promise<{ nonce: string; expiresAt: Date }> {
    const nonce = randomBytes(24).toString('base64url');
    const { rows } = await this.db.query<{ expires_at: Date | string }>(
      `INSERT INTO telegram_link_nonces (digest, account_id, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))
       RETURNING expires_at`,
      [digest(nonce), accountId, LINK_NONCE_TTL_SECONDS],
    );
    return { nonce, expiresAt: new Date(rows[0]!.expires_at) };
  }

  /**
   * Spends `nonce` and links the chat to its owner, replacing the owner's earlier chat and this chat's earlier
   * owner. Undefined, and nothing changed, for a nonce that is malformed, unknown, expired or already spent.
   */
  async redeem(nonce: string, who: TelegramChatUser): Promise<TelegramLink | undefined> {
    if (!NONCE.test(nonce)) return undefined;
    return this.db.transaction(async (tx) => {
      // One statement decides: of two chats sending the same nonce at once, only one gets its row back.
      const spent = await tx.query<{ account_id: string }>(
        `UPDATE telegram_link_nonces SET used_at = now()
          WHERE digest = $1 AND used_at IS NULL AND expires_at > now() RETURNING account_id`,
        [digest(nonce)],
      );
      const accountId = spent.rows[0]?.account_id;
      if (!accountId) return undefined;
      const replaced = await tx.query<LinkRow>(
        `DELETE FROM telegram_links WHERE account_id = $1 OR chat_id = $2 RETURNING ${LINK_COLUMNS}`,
        [accountId, who.chatId],
      );
      await dropQueued(tx, replaced.rows);
      const { rows } = await tx.query<LinkRow>(
        `INSERT INTO telegram_links (account_id, chat_id, user_id, username, first_name) VALUES ($1, $2, $3, $4, $5)
         RETURNING ${LINK_COLUMNS}`,
        [accountId, who.chatId, who.userId, who.username ?? null, who.firstName ?? null],
      );
      return fromRow(rows[0]!);
    });
  }

  async ofAccount(accountId: string): Promise<TelegramLink | undefined> {
    const { rows } = await this.db.query<LinkRow>(`SELECT ${LINK_COLUMNS} FROM telegram_links WHERE account_id = $1`, [accountId]);
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  async ofChat(chatId: number): Promise<TelegramLink | undefined> {
    const { rows } = await this.db.query<LinkRow>(`SELECT ${LINK_COLUMNS} FROM telegram_links WHERE chat_id = $1`, [chatId]);
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  /** Removes the owner's link; the removed one, or undefined when there was none. */
  async unlinkAccount(accountId: string): Promise<TelegramLink | undefined> {
    return this.unlink('account_id', accountId);
  }

  async unlinkChat(chatId: number): Promise<TelegramLink | undefined> {
    return this.unlink('chat_id', chatId);
  }

  private async unlink(column: 'account_id' | 'chat_id', value: string | number): Promise<TelegramLink | undefined> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<LinkRow>(`DELETE FROM telegram_links WHERE ${column} = $1 RETURNING ${LINK_COLUMNS}`, [value]);
      await dropQueued(tx, rows);
      return rows[0] ? fromRow(rows[0]) : undefined;
    });
  }
}
