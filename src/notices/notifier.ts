import type { Logger } from '../logger.js';
import type { TelegramLinks } from '../accounts/telegram-links.js';
import type { Notice } from './kinds.js';
import type { TelegramOutbox } from './outbox.js';
import type { NoticePreferences } from './preferences.js';

export interface NotifierDeps {
  logger: Logger;
  links: TelegramLinks;
  preferences: NoticePreferences;
  outbox: TelegramOutbox;
  /** False when this server runs no bot: nothing is queued that nobody would send. */
  enabled: boolean;
}

/**
 * Tells owners things in their linked Telegram chat. Nothing here talks to Telegram: messages go to the outbox, which
 * the bot's sender drains at Telegram's pace (src/telegram-bot/sender.ts). Never throws: a notice that cannot be
 * queued is logged, and the request that caused it goes on as if nothing happened.
 */
export class Notifier {
  private readonly wakers: Array<() => void> = [];

  constructor(private readonly deps: NotifierDeps) {}

  /** Called whenever something was queued (the sender in this process wakes at once instead of at its next tick). */
  onQueued(wake: () => void): void {
    this.wakers.push(wake);
  }

  /** Queues `notice` for the owner's linked chat, if there is one and the owner wants this kind; the row's id. */
  async send(accountId: string, notice: Notice): Promise<string | undefined> {
    if (!this.deps.enabled) return undefined;
    try {
      const link = await this.deps.links.ofAccount(accountId);
      if (!link || !(await this.deps.preferences.wants(accountId, notice.kind))) return undefined;
      const id = await this.deps.outbox.enqueue({
        accountId,
        chatId: link.chatId,
        kind: notice.kind,
        text: notice.text,
        ...(notice.buttons ? { buttons: notice.buttons } : {}),
        ...(notice.heldId ? { heldId: notice.heldId } : {}),
        ...(notice.dedupeKey ? { dedupeKey: notice.dedupeKey } : {}),
      });
      if (id) this.wake();
      return id;
    } catch (error) {
      this.deps.logger.error(
        { notice: notice.kind, error: error instanceof Error ? error.message : String(error) },
        'could not queue a notice',
      );
      return undefined;
    }
  }

  /**
   * Shows what became of a held action under its approval message's text (`outcome`, one line), buttons gone: the
   * message is edited once sent, or never sent if no sender has taken it yet. Nothing when it was never announced.
   */
  async settleApproval(heldId: string, outcome: string): Promise<void> {
    if (!this.deps.enabled) return;
    try {
      const message = await this.deps.outbox.ofHeld(heldId);
      if (!message || message.status === 'cancelled' || message.status === 'failed') return;
      if (message.status === 'pending' && (await this.deps.outbox.cancelUnsent(message.id))) return;
      await this.deps.outbox.enqueue({
        accountId: message.accountId,
        chatId: message.chatId,
        kind: 'edit',
        text: `${message.text}\n\n${outcome}`,
        editOf: message.id,
      });
      this.wake();
    } catch (error) {
      this.deps.logger.error({ error: error instanceof Error ? error.message : String(error) }, 'could not queue an approval update');
    }
  }

  /** Something became due outside send (an undelivered message the owner sends again): the sender looks now. */
  nudge(): void {
    this.wake();
  }

  private wake(): void {
    for (const wake of this.wakers) wake();
  }
}
