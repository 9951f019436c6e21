import { startFakeTelegram, type FakeTelegram, type FakeUpdate, type FakeUser } from '../fakes/telegram.js';
import { startTestServer, type TestServer, type TestServerOptions } from '../helpers/server.js';
import type { Owner } from '../helpers/owner.js';
import { eventually } from '../helpers/console-api.js';

export const WEBHOOK_URL = 'https://bot.example.test/telegram/webhook';

/** Posts an update to the server's webhook as Telegram would, with the secret header unless told otherwise. */
export function postUpdate(server: TestServer, update: FakeUpdate, secret: string | undefined): Promise<Response> {
  return fetch(`${server.url}/telegram/webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(secret === undefined ? {} : { 'x-telegram-bot-api-secret-token': secret }) },
    body: JSON.stringify(update),
  });
}

/** The secret the server gave Telegram with setWebhook. */
export function secretOf(telegram: FakeTelegram, token: string): string {
  const secret = telegram.webhooks.get(token)?.secret_token;
  if (!secret) throw new Error('the server did not set a webhook with a secret');
  return secret;
}

/** What the bot sent to a chat, in order. */
export const sentTo = (telegram: FakeTelegram, chatId: number): string[] =>
  telegram.sent.filter((m) => m.chat_id === String(chatId)).map((m) => m.text);

/** Waits until the bot has sent `count` messages to the chat (polling is asynchronous), then returns them. */
export const waitForSent = (telegram: FakeTelegram, chatId: number, count: number, timeoutMs = 10_000): Promise<string[]> =>
  eventually(
    async () => sentTo(telegram, chatId),
    (texts) => texts.length >= count,
    timeoutMs,
  );

let nextUser = 4200001;
export const newUser = (name = 'Ada'): FakeUser => {
  const id = nextUser++;
  return { id, first_name: name, username: `${name.toLowerCase()}${id}` };
};

/** The settings that run oauth3's bot against the fake Bot API, in webhook mode. */
export const botEnv = (telegram: FakeTelegram, token: string): Record<string, string> => ({
  TELEGRAM_BOT_TOKEN: token,
  TELEGRAM_API_ROOT: telegram.url,
  TELEGRAM_WEBHOOK_URL: WEBHOOK_URL,
});

/**
 * Links a new Telegram user's private chat to `owner` as an owner does: a link from the console's Telegram page, then
 * `/start <nonce>` through the webhook. Returns the user once the bot has answered "Linked".
 */
export async function linkChat(server: TestServer, telegram: FakeTelegram, token: string, owner: Owner, name = 'Ada'): Promise<FakeUser> {
  const made = await owner.api.send('POST', '/console/api/telegram/link');
  if (made.status !== 200) throw new Error(`making a Telegram link answered ${made.status}`);
  const nonce = new URL(((await made.json()) as { url: string }).url).searchParams.get('start')!;
  const user = newUser(name);
  const res = await postUpdate(server, telegram.message(token, { from: user, text: `/start ${nonce}` }), secretOf(telegram, token));
  if (res.status !== 200) throw new Error(`the webhook answered ${res.status}`);
  const [linked] = sentTo(telegram, user.id);
  if (!linked?.startsWith(`Linked, ${name}.`)) throw new Error(`the bot did not link the chat: ${linked ?? 'no answer'}`);
  return user;
}

/** A test server running oauth3's bot (webhook mode) against a fresh fake Bot API with one bot, `username`. */
export async function startBotServer(
  options: TestServerOptions & { username: string },
): Promise<{ telegram: FakeTelegram; token: string; server: TestServer }> {
  const { username, ...serverOptions } = options;
  const telegram = await startFakeTelegram();
  const { token } = telegram.addBot({ username });
  const server = await startTestServer({ ...serverOptions, env: { ...botEnv(telegram, token), ...serverOptions.env } });
  return { telegram, token, server };
}
