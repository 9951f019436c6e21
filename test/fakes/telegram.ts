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
  parse_mode?: string;
  disable_notification?: boolean;
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

export interface FakeTelegram {
  /** The API root to configure as TELEGRAM_API_ROOT. */
  url: string;
  sent: ReceivedMessage[];
  /** Every call: the method and the token it came with. */
  calls: { token: string; method: string }[];
  /** A new bot with a valid token (35 random characters after the id, like @BotFather's). */
  addBot(input: { username: string; chats?: FakeChat[] }): { token: string; bot: FakeBot };
  /** Revokes a token: every later call with it answers 401. */
  revoke(token: string): void;
  fail(method: string, failure: Failure, retryAfter?: number): void;
  reset(): void;
  stop(): Promise<void>;
}

const RETRY_AFTER = 17;

export async function startFakeTelegram(): Promise<FakeTelegram> {
  const bots = new Map<string, FakeBot>();
  const failures = new Map<string, { failure: Failure; retryAfter: number }>();
  const sent: ReceivedMessage[] = [];
  const calls: { token: string; method: string }[] = [];
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
      sent.push({
        token,
        chat_id: String(body.chat_id),
        text: body.text,
        ...(typeof body.parse_mode === 'string' ? { parse_mode: body.parse_mode } : {}),
        ...(typeof body.disable_notification === 'boolean' ? { disable_notification: body.disable_notification } : {}),
      });
      const messageId = nextMessageId++;
      return reply(res, 200, { ok: true, result: { message_id: messageId, date: Math.floor(Date.now() / 1000), chat, text: body.text } });
    }
    return error(res, 404, 'Not Found');
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const match = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(url.pathname);
      if (!match) return error(res, 404, 'Not Found');
      const [, token, method] = match as unknown as [string, string, string];
      calls.push({ token, method });
      const failure = failures.get(method);
      if (failure) return failWith(res, url.pathname, failure.failure, failure.retryAfter);
      const bot = bots.get(token);
      if (!bot) return error(res, 401, 'Unauthorized');
      let body: Record<string, unknown> = Object.fromEntries(url.searchParams);
      const text = Buffer.concat(chunks).toString('utf8');
      if (text) {
        try {
          body = { ...body, ...(JSON.parse(text) as Record<string, unknown>) };
        } catch {
          return error(res, 400, 'Bad Request: invalid JSON');
        }
      }
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
    fail(method, failure, retryAfter = RETRY_AFTER) {
      failures.set(method, { failure, retryAfter });
    },
    reset() {
      failures.clear();
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
