import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';
import { randomBytes } from 'node:crypto';

/** A chat as the Bot API describes it (getChat, message.chat). */
export interface FakeChat {
  id: number;
  type: 'private' | 'group' | 'supergroup' | 'channel';
  title?: string;
  username?: string;
  first_name?: string;
}

export interface FakeBot {
  id: number;
  username: string;
  first_name: string;
  /** Chats the bot is a member of: getChat finds them, sendMessage reaches them. */
  chats: FakeChat[];
}

/** What the fake received: each message with the token it came with, so a test sees whose bot sent it. */
export interface ReceivedMessage {
  token: string;
  chat_id: string;
  text: string;
  /** The id the fake gave the message (editMessageText finds it by this). */
  message_id: number;
  parse_mode?: string;
  disable_notification?: boolean;
  /** The inline keyboard, as sent: rows of { text, callback_data }. */
  reply_markup?: { inline_keyboard?: { text: string; callback_data?: string; url?: string }[][] };
  /** Edits made to it since (editMessageText), oldest first; the text above is the latest. */
  edits: string[];
}

/**
 * How the next calls to a method fail, until `reset()`:
 * - unauthorized: 401, what Telegram says for a revoked token
 * - forbidden: 403, the bot was blocked or removed from the chat
 * - parse_error: 400, formatting Telegram cannot parse
 * - rate_limited: 429 with parameters.retry_after
 * - server_error: 500 in the Bot API's JSON shape
 * - bad_gateway: 502 as an HTML page from a proxy, echoing the requested path (which holds the token)
 * - garbage: 200 with a body that is not JSON, echoing the path too
 * - malformed: 200 `{ ok: true }` with a result of the wrong shape
 * - hang: never answers
 */
export type Failure =
  'unauthorized' | 'forbidden' | 'parse_error' | 'rate_limited' | 'server_error' | 'bad_gateway' | 'garbage' | 'malformed' | 'hang';

/** A Telegram user writing to a bot in a private chat (chat id = user id, as in Telegram). */
export interface FakeUser {
  id: number;
  first_name: string;
  username?: string;
}

/** What setWebhook was last told for a bot. */
export interface FakeWebhook {
  url: string;
  secret_token?: string;
  allowed_updates?: string[];
}

/** An update as the Bot API delivers it (the fields the bot reads). */
export interface FakeUpdate {
  update_id: number;
  message?: Record<string, unknown>;
  channel_post?: Record<string, unknown>;
  callback_query?: Record<string, unknown>;
}

export interface FakeTelegram {
  /** The API root to configure as TELEGRAM_API_ROOT. */
  url: string;
  sent: ReceivedMessage[];
  /** Every call: the method, the token it came with, and its parameters. */
  calls: { token: string; method: string; body: Record<string, unknown> }[];
  /** The webhook each bot token has set (setWebhook), until deleteWebhook. */
  webhooks: Map<string, FakeWebhook>;
  /**
   * A message to the bot, as an update with a new update_id (a leading /command gets its bot_command entity): from a
   * user in their private chat, or in `chat` (a group or channel). The bot learns the chat, so it can answer there.
   */
  message(token: string, input: { from: FakeUser; text: string; chat?: FakeChat }): FakeUpdate;
  /**
   * A press on an inline button of a message the bot sent, as a callback_query update from `from` (by default the
   * message was sent to `from`'s private chat). `data` defaults to the button's callback_data by its text.
   */
  press(token: string, input: { from: FakeUser; message: ReceivedMessage; button?: string; data?: string }): FakeUpdate;
  /** answerCallbackQuery calls: the query id and the text shown to the user. */
  answers: { callback_query_id: string; text?: string; show_alert?: boolean }[];
  /** Queues an update for getUpdates (long polling); a waiting getUpdates answers at once. */
  queue(token: string, update: FakeUpdate): void;
  /** A new bot with a valid token (35 random characters after the id, like @BotFather's). */
  addBot(input: { username: string; chats?: FakeChat[] }): { token: string; bot: FakeBot };
  /** Revokes a token: every later call with it answers 401. */
  revoke(token: string): void;
  /** Fails the next calls to `method`: every one until reset(), or only the next `times`. */
  fail(method: string, failure: Failure, retryAfter?: number, times?: number): void;
  reset(): void;
  stop(): Promise<void>;
}

const RETRY_AFTER = 17;

export async function startFakeTelegram(): Promise<FakeTelegram> {
  const bots = new Map<string, FakeBot>();
  const failures = new Map<string, { failure: Failure; retryAfter: number; times?: number }>();
  const sent: ReceivedMessage[] = [];
  const answers: FakeTelegram['answers'] = [];
  let nextCallbackId = 1;
  const calls: { token: string; method: string; body: Record<string, unknown> }[] = [];
  const webhooks = new Map<string, FakeWebhook>();
  const pending = new Map<string, FakeUpdate[]>();
  const waiting = new Map<string, Set<() => void>>();
  let nextUpdateId = 500000001;
  const sockets = new Set<Socket>();
  let nextBotId = 700000001;
  let nextMessageId = 1;

  const reply = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const error = (res: http.ServerResponse, code: number, description: string, parameters?: Record<string, unknown>) =>
    reply(res, code, { ok: false, error_code: code, description, ...(parameters ? { parameters } : {}) });

  function findChat(bot: FakeBot, ref: unknown): FakeChat | undefined {
    const wanted = typeof ref === 'string' || typeof ref === 'number' ? String(ref) : '';
    return bot.chats.find(
      (c) => String(c.id) === wanted || (c.username !== undefined && `@${c.username}`.toLowerCase() === wanted.toLowerCase()),
    );
  }

  function failWith(res: http.ServerResponse, path: string, failure: Failure, retryAfter: number): void {
    switch (failure) {
      case 'unauthorized':
        return error(res, 401, 'Unauthorized');
      case 'forbidden':
        return error(res, 403, 'Forbidden: bot was blocked by the user');
      case 'parse_error':
        return error(res, 400, "Bad Request: can't parse entities: Can't find end of the entity starting at byte offset 5");
      case 'rate_limited':
        return error(res, 429, `Too Many Requests: retry after ${retryAfter}`, { retry_after: retryAfter });
      case 'server_error':
        return error(res, 500, 'Internal Server Error');
      case 'bad_gateway':
        res.writeHead(502, { 'content-type': 'text/html' });
        return void res.end(`<html><body><h1>502 Bad Gateway</h1><p>upstream failed for ${path}</p></body></html>`);
      case 'garbage':
        res.writeHead(200, { 'content-type': 'text/plain' });
        return void res.end(`this is not json: ${path}`);
      case 'malformed':
        return reply(res, 200, { ok: true, result: 'surprise' });
      case 'hang':
        return;
    }
  }

  function handle(method: string, bot: FakeBot, body: Record<string, unknown>, res: http.ServerResponse, token: string): void {
    if (method === 'getMe') {
      return reply(res, 200, {
        ok: true,
        result: { id: bot.id, is_bot: true, first_name: bot.first_name, username: bot.username, can_join_groups: true },
      });
    }
    if (method === 'getChat') {
      const chat = findChat(bot, body.chat_id);
      return chat ? reply(res, 200, { ok: true, result: chat }) : error(res, 400, 'Bad Request: chat not found');
    }
    if (method === 'sendMessage') {
      const chat = findChat(bot, body.chat_id);
      if (!chat) return error(res, 400, 'Bad Request: chat not found');
      if (typeof body.text !== 'string' || !body.text.trim()) return error(res, 400, 'Bad Request: message text is empty');
      const messageId = nextMessageId++;
      sent.push({
        token,
        chat_id: String(body.chat_id),
        text: body.text,
        message_id: messageId,
        edits: [],
        ...(typeof body.parse_mode === 'string' ? { parse_mode: body.parse_mode } : {}),
        ...(typeof body.disable_notification === 'boolean' ? { disable_notification: body.disable_notification } : {}),
        ...(body.reply_markup && typeof body.reply_markup === 'object' ? { reply_markup: body.reply_markup } : {}),
      });
      return reply(res, 200, { ok: true, result: { message_id: messageId, date: Math.floor(Date.now() / 1000), chat, text: body.text } });
    }
    if (method === 'editMessageText') {
      const message = sent.find((m) => m.token === token && m.chat_id === String(body.chat_id) && m.message_id === Number(body.message_id));
      if (!message) return error(res, 400, 'Bad Request: message to edit not found');
      if (typeof body.text !== 'string' || !body.text.trim()) return error(res, 400, 'Bad Request: message text is empty');
      const markup =
        body.reply_markup && typeof body.reply_markup === 'object' ? (body.reply_markup as ReceivedMessage['reply_markup']) : undefined;
      if (message.text === body.text && JSON.stringify(message.reply_markup) === JSON.stringify(markup))
        return error(res, 400, 'Bad Request: message is not modified: specified new message content and reply markup are exactly the same');
      message.text = body.text;
      message.edits.push(body.text);
      // Telegram drops the inline keyboard of an edit that sends none.
      if (markup) message.reply_markup = markup;
      else delete message.reply_markup;
      return reply(res, 200, {
        ok: true,
        result: { message_id: message.message_id, date: Math.floor(Date.now() / 1000), text: body.text },
      });
    }
    if (method === 'answerCallbackQuery') {
      answers.push({
        callback_query_id: String(body.callback_query_id),
        ...(typeof body.text === 'string' ? { text: body.text } : {}),
        ...(typeof body.show_alert === 'boolean' ? { show_alert: body.show_alert } : {}),
      });
      return reply(res, 200, { ok: true, result: true });
    }
    if (method === 'setWebhook') {
      if (typeof body.url !== 'string' || !body.url.startsWith('https://'))
        return error(res, 400, 'Bad Request: bad webhook: HTTPS url must be provided for webhook');
      webhooks.set(token, {
        url: body.url,
        ...(typeof body.secret_token === 'string' ? { secret_token: body.secret_token } : {}),
        ...(Array.isArray(body.allowed_updates) ? { allowed_updates: body.allowed_updates as string[] } : {}),
      });
      return reply(res, 200, { ok: true, result: true, description: 'Webhook was set' });
    }
    if (method === 'setMyCommands') return reply(res, 200, { ok: true, result: true });
    if (method === 'deleteWebhook') {
      webhooks.delete(token);
      return reply(res, 200, { ok: true, result: true, description: 'Webhook was deleted' });
    }
    if (method === 'getUpdates') return getUpdates(token, body, res);
    return error(res, 404, 'Not Found');
  }

  /** Long polling as Telegram does it: `offset` confirms what came before it; with nothing new, wait up to `timeout` seconds. */
  function getUpdates(token: string, body: Record<string, unknown>, res: http.ServerResponse): void {
    if (webhooks.has(token))
      return error(
        res,
        409,
        "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
      );
    const queue = pending.get(token) ?? [];
    const offset = Number(body.offset ?? 0);
    if (offset > 0)
      pending.set(
        token,
        queue.filter((u) => u.update_id >= offset),
      );
    const ready = () => pending.get(token) ?? [];
    if (ready().length) return reply(res, 200, { ok: true, result: ready() });
    const waiters = waiting.get(token) ?? new Set<() => void>();
    waiting.set(token, waiters);
    const answer = () => {
      clearTimeout(timer);
      waiters.delete(answer);
      if (!res.writableEnded && !res.destroyed) reply(res, 200, { ok: true, result: ready() });
    };
    const timer = setTimeout(answer, Math.min(Number(body.timeout ?? 0), 50) * 1000);
    waiters.add(answer);
    res.on('close', () => {
      clearTimeout(timer);
      waiters.delete(answer);
    });
  }

  function learnChat(token: string, chat: FakeChat): void {
    const bot = bots.get(token);
    if (bot && !bot.chats.some((c) => c.id === chat.id)) bot.chats.push(chat);
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const match = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(url.pathname);
      if (!match) return error(res, 404, 'Not Found');
      const [, token, method] = match as unknown as [string, string, string];
      let body: Record<string, unknown> = Object.fromEntries(url.searchParams);
      const text = Buffer.concat(chunks).toString('utf8');
      let invalid = false;
      if (text) {
        try {
          body = { ...body, ...(JSON.parse(text) as Record<string, unknown>) };
        } catch {
          invalid = true;
        }
      }
      calls.push({ token, method, body });
      const failure = failures.get(method);
      if (failure) {
        if (failure.times !== undefined && --failure.times <= 0) failures.delete(method);
        return failWith(res, url.pathname, failure.failure, failure.retryAfter);
      }
      const bot = bots.get(token);
      if (!bot) return error(res, 401, 'Unauthorized');
      if (invalid) return error(res, 400, 'Bad Request: invalid JSON');
      handle(method, bot, body, res, token);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    sent,
    calls,
    webhooks,
    message(token, { from, text, chat }) {
      const where: FakeChat = chat ?? {
        id: from.id,
        type: 'private',
        first_name: from.first_name,
        ...(from.username ? { username: from.username } : {}),
      };
      learnChat(token, where);
      const command = /^\/\S+/.exec(text);
      const message = {
        message_id: nextMessageId++,
        date: Math.floor(Date.now() / 1000),
        chat: where,
        ...(where.type === 'channel' ? {} : { from: { is_bot: false, ...from } }),
        text,
        ...(command ? { entities: [{ type: 'bot_command', offset: 0, length: command[0].length }] } : {}),
      };
      const update_id = nextUpdateId++;
      return where.type === 'channel' ? { update_id, channel_post: message } : { update_id, message };
    },
    answers,
    press(token, { from, message, button, data }) {
      const buttons = (message.reply_markup?.inline_keyboard ?? []).flat();
      const chosen = button === undefined ? undefined : buttons.find((b) => b.text === button);
      if (button !== undefined && !chosen) throw new Error(`no button "${button}" on the message`);
      const callbackData = data ?? chosen?.callback_data;
      if (callbackData === undefined) throw new Error('press() needs a button or data');
      const chatId = Number(message.chat_id);
      const chat: FakeChat = { id: chatId, type: chatId > 0 ? 'private' : 'group' };
      return {
        update_id: nextUpdateId++,
        callback_query: {
          id: String(nextCallbackId++),
          chat_instance: `ci${chatId}`,
          from: { is_bot: false, ...from },
          data: callbackData,
          message: { message_id: message.message_id, date: Math.floor(Date.now() / 1000), chat, text: message.text },
        },
      };
    },
    queue(token, update) {
      pending.set(token, [...(pending.get(token) ?? []), update]);
      for (const answer of [...(waiting.get(token) ?? [])]) answer();
    },
    addBot({ username, chats = [] }) {
      const id = nextBotId++;
      const token = `${id}:AA${randomBytes(25).toString('base64url').slice(0, 33)}`;
      const bot: FakeBot = { id, username, first_name: username, chats };
      bots.set(token, bot);
      return { token, bot };
    },
    revoke(token) {
      bots.delete(token);
    },
    fail(method, failure, retryAfter = RETRY_AFTER, times) {
      failures.set(method, { failure, retryAfter, ...(times === undefined ? {} : { times }) });
    },
    reset() {
      failures.clear();
    },
    async stop() {
      for (const waiters of waiting.values()) for (const answer of [...waiters]) answer();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
