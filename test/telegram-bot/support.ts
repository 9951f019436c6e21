import type { FakeTelegram, FakeUpdate, FakeUser } from '../fakes/telegram.js';
import type { TestServer } from '../helpers/server.js';
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
