import { setTimeout as sleep } from 'node:timers/promises';
import { GrammyError, type Api } from 'grammy';
import type { InlineKeyboardMarkup } from 'grammy/types';
import type { Logger } from '../logger.js';
import type { OutboxMessage, TelegramOutbox } from '../notices/outbox.js';
import { loggableTelegramError } from './errors.js';

export interface SenderOptions {
  /** How often the outbox is looked at when nothing woke the sender. */
  tickMs: number;
  /** Least time between two messages to one chat (Telegram: about one a second). */
  perChatGapMs: number;
  /** Messages per round, across all chats (Telegram: about 30 a second in all). */
  batch: number;
}

export const SENDER_DEFAULTS: SenderOptions = { tickMs: 1000, perChatGapMs: 1000, batch: 25 };

export interface SenderDeps {
  outbox: TelegramOutbox;
  api: Api;
  logger: Logger;
  botToken: string;
  options?: Partial<SenderOptions>;
}

const keyboard = (message: OutboxMessage): InlineKeyboardMarkup | undefined =>
  message.buttons
    ? { inline_keyboard: message.buttons.map((row) => row.map((b) => ({ text: b.text, callback_data: b.data }))) }
    : undefined;

/**
 * Drains the outbox (src/notices/outbox.ts) into Telegram, on every replica that runs the bot: each round claims what
 * is due, at most one message per chat and a gap after each, sends it, and records what Telegram said. A failure is
 * retried with growing waits, then left undelivered for the console to show; Telegram's own 429 waits are honoured
 * by the API client (retry.ts) before that.
 */
export class Sender {
  private readonly options: SenderOptions;
  private readonly stopping = new AbortController();
  private running?: Promise<void>;
  private woken?: () => void;
  /** A wake that came while a round ran: the next round starts at once rather than after a tick. */
  private wakeMissed = false;

  constructor(private readonly deps: SenderDeps) {
    this.options = { ...SENDER_DEFAULTS, ...deps.options };
  }

  start(): void {
    this.running ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    this.woken?.();
    await this.running;
  }

  /** Something was queued: look now rather than at the next tick. */
  wake(): void {
    if (this.woken) this.woken();
    else this.wakeMissed = true;
  }

  /** One round: claims the messages due now and sends them; how many were claimed. */
  async round(): Promise<number> {
    const { batch: limit, perChatGapMs } = this.options;
    const claimed = await this.deps.outbox.claim({ limit, leaseSeconds: 60, perChatGapMs });
    await Promise.all(claimed.map((message) => this.deliver(message)));
    return claimed.length;
  }

  private async run(): Promise<void> {
    while (!this.stopping.signal.aborted) {
      let claimed = 0;
      try {
        claimed = await this.round();
      } catch (error) {
        this.deps.logger.warn({ error: loggableTelegramError(error, this.deps.botToken) }, 'telegram bot: reading the outbox failed');
      }
      if (claimed > 0 || this.wakeMissed) {
        this.wakeMissed = false;
        continue;
      }
      const woken = new Promise<void>((resolve) => (this.woken = resolve));
      await Promise.race([woken, sleep(this.options.tickMs, undefined, { signal: this.stopping.signal }).catch(() => {})]);
      this.woken = undefined;
    }
  }

  private async deliver(message: OutboxMessage): Promise<void> {
    const { outbox, api } = this.deps;
    try {
      if (message.kind === 'edit') {
        // The message it changes never went out (cancelled, undelivered): there is nothing to change.
        if (message.editOfStatus !== 'sent' || !message.editMessageId) return void (await outbox.cancel(message.id));
        await api.editMessageText(message.chatId, Number(message.editMessageId), message.text).catch((error: unknown) => {
          // Telegram refuses an edit that changes nothing; the message already says this.
          if (!(error instanceof GrammyError && /not modified/i.test(error.description))) throw error;
        });
        await outbox.markSent(message.id, null);
        return;
      }
      const markup = keyboard(message);
      const sent = await api.sendMessage(message.chatId, message.text, {
        link_preview_options: { is_disabled: true },
        ...(markup ? { reply_markup: markup } : {}),
      });
      await outbox.markSent(message.id, sent.message_id);
    } catch (error) {
      const loggable = loggableTelegramError(error, this.deps.botToken);
      // 4xx other than 429 will never work (the owner blocked the bot, the chat is gone, the message is refused).
      const permanent = error instanceof GrammyError && error.error_code >= 400 && error.error_code < 500 && error.error_code !== 429;
      const said = typeof loggable.message === 'string' ? loggable.message : 'Telegram could not be reached';
      const status = await outbox.markFailed(message.id, said, permanent).catch(() => 'unknown');
      this.deps.logger.warn(
        { error: loggable, outboxId: message.id, kind: message.kind, status },
        'telegram bot: a message was not delivered',
      );
    }
  }
}
