import type { Middleware } from 'koa';
import { Api, Bot, BotError, type Composer, type Context } from 'grammy';
import type { Update } from 'grammy/types';
import { z } from 'zod';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Database } from '../db/database.js';
import type { EventLog } from '../accounts/events.js';
import type { TelegramLinks } from '../accounts/telegram-links.js';
import { AppError } from '../errors.js';
import { readBody } from '../http/body.js';
import { loggableTelegramError } from './errors.js';
import { linkingHandlers } from './linking.js';
import { Poller, POLL_SECONDS } from './polling.js';
import { honourRetryAfter } from './retry.js';
import { isWebhookSecret, SECRET_HEADER, webhookSecret } from './secret.js';
import { UpdateClaims } from './updates.js';
import { Sender, type SenderOptions } from './sender.js';
import type { TelegramOutbox } from '../notices/outbox.js';

/** Where Telegram posts updates in webhook mode (TELEGRAM_WEBHOOK_URL points here). */
export const WEBHOOK_PATH = '/telegram/webhook';

/** The kinds of update the bot asks Telegram for; a handler for another kind adds it here. */
export const ALLOWED_UPDATES = ['message', 'channel_post', 'callback_query'] as const;

const RETRY = { maxWaitSeconds: 60, maxRetries: 3 };

export interface TelegramBotDeps {
  config: Pick<Config, 'TELEGRAM_API_ROOT' | 'TELEGRAM_WEBHOOK_URL' | 'UPSTREAM_TIMEOUT_MS'>;
  botToken: string;
  logger: Logger;
  db: Database;
  links: TelegramLinks;
  events: EventLog;
  /** More handlers (approvals, notices, commands), tried in order before linking's, whose fallback answers the rest. */
  handlers?: Composer<Context>[];
  /** The command menu Telegram shows in the chat (setMyCommands at start). */
  menu?: ReadonlyArray<{ command: string; description: string }>;
  /** What the bot sends on its own (notices, approvals), drained by the sender. */
  outbox: TelegramOutbox;
  /** The sender's pace (tests shorten it); Telegram's limits by default. */
  senderOptions?: Partial<SenderOptions>;
}

export interface TelegramBot {
  /** The bot's @username (getMe, asked once), for t.me links. */
  username: () => Promise<string>;
  /** Handles one update once across every replica (update_id claims in the database). */
  handle(update: Update): Promise<void>;
  /** POST /telegram/webhook: Telegram's updates, with the secret header checked. */
  webhook: Middleware;
  /**
   * Starts the sender, and with `receive` (the default) sets the command menu and, in webhook mode, tells Telegram where
   * to post, or in polling mode starts polling. One process of a machine's workers receives (src/cluster/); the
   * others only send. A failure is logged, not thrown.
   */
  start(options?: { receive?: boolean }): Promise<void>;
  /** Something was queued in the outbox: the sender looks now. */
  wake(): void;
  /** Stops polling and sending; nothing of the bot runs afterwards. */
  stop(): Promise<void>;
}

/** An update as far as the webhook checks it: grammY reads the rest. */
const UpdateShape = z.looseObject({ update_id: z.number().int().nonnegative() });

/**
 * oauth3's own bot (TELEGRAM_BOT_TOKEN), distinct from the owners' bots the telegram plugin sends through.
 * docs/architecture.md#oauth3s-telegram-bot describes the two modes.
 */
export function createTelegramBot(deps: TelegramBotDeps): TelegramBot {
  const { config, botToken, logger, db } = deps;
  const timeoutSeconds = config.UPSTREAM_TIMEOUT_MS / 1000;
  const bot = new Bot(botToken, { client: { apiRoot: config.TELEGRAM_API_ROOT, timeoutSeconds } });
  bot.api.config.use(honourRetryAfter(RETRY));
  for (const handler of deps.handlers ?? []) bot.use(handler);
  bot.use(linkingHandlers({ links: deps.links, events: deps.events }));
  const claims = new UpdateClaims(db);
  const secret = webhookSecret(botToken);
  const loggable = (error: unknown) => loggableTelegramError(error instanceof BotError ? error.error : error, botToken);

  // getMe once, by ourselves: grammY's bot.init() retries a failing Telegram without end, which would hold a webhook
  // request or a console page for as long as Telegram is down.
  let ready: Promise<void> | undefined;
  const init = () =>
    (ready ??= bot.api.getMe().then(
      (me) => {
        bot.botInfo = me;
      },
      (error: unknown) => {
        ready = undefined;
        logger.warn({ error: loggable(error) }, 'telegram bot: getMe failed');
        throw new AppError('telegram_unavailable', 503, 'Telegram could not be reached; try again in a moment.');
      },
    ));

  async function handle(update: Update): Promise<void> {
    await init();
    if (!(await claims.claim(update.update_id))) return;
    // Claimed is handled: a failure halfway is logged, never run a second time (a reply may have gone out).
    try {
      await bot.handleUpdate(update);
    } catch (error) {
      logger.warn({ error: loggable(error), updateId: update.update_id }, 'telegram bot: handling an update failed');
    }
  }

  const webhook: Middleware = async function telegramWebhook(ctx) {
    if (ctx.method !== 'POST') {
      ctx.status = 405;
      ctx.set('Allow', 'POST');
      return;
    }
    if (!isWebhookSecret(ctx.req.headers[SECRET_HEADER], secret)) {
      ctx.status = 401;
      ctx.body = { error: 'unauthorized' };
      return;
    }
    const update = UpdateShape.safeParse(await readBody(ctx));
    if (!update.success) throw new AppError('invalid_request', 400, 'The body is not a Telegram update.');
    await handle(update.data);
    ctx.status = 200;
    ctx.body = { ok: true };
  };

  const sender = new Sender({
    outbox: deps.outbox,
    api: bot.api,
    logger,
    botToken,
    ...(deps.senderOptions ? { options: deps.senderOptions } : {}),
  });
  let poller: Poller | undefined;
  async function start({ receive = true }: { receive?: boolean } = {}): Promise<void> {
    sender.start();
    if (!receive) return;
    if (deps.menu?.length)
      await bot.api.setMyCommands([...deps.menu]).catch((error: unknown) => {
        logger.warn({ error: loggable(error) }, 'telegram bot: setMyCommands failed; the command menu stays as it was');
      });
    const url = config.TELEGRAM_WEBHOOK_URL;
    if (!url) {
      const api = new Api(botToken, { apiRoot: config.TELEGRAM_API_ROOT, timeoutSeconds: POLL_SECONDS + timeoutSeconds });
      api.config.use(honourRetryAfter(RETRY));
      poller = new Poller({ db, logger, api, botToken, allowedUpdates: ALLOWED_UPDATES, handle });
      poller.start();
      return;
    }
    try {
      await bot.api.setWebhook(url, { secret_token: secret, allowed_updates: [...ALLOWED_UPDATES] });
      logger.info({ url }, 'telegram bot: webhook set');
    } catch (error) {
      logger.error({ error: loggable(error) }, 'telegram bot: setWebhook failed; Telegram will not deliver updates until a restart');
    }
  }

  return {
    username: async () => {
      await init();
      return bot.botInfo.username;
    },
    handle,
    webhook,
    start,
    wake: () => sender.wake(),
    stop: async () => {
      await Promise.all([poller?.stop(), sender.stop()]);
    },
  };
}
