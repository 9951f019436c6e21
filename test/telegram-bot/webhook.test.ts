import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startFakeTelegram, type FakeTelegram } from '../fakes/telegram.js';
import { removeStorage, startTestServer, storageOf, type KeptStorage, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { HELP_TEXT } from '../../src/telegram-bot/linking.js';
import { webhookSecret } from '../../src/telegram-bot/secret.js';
import { WEBHOOK_URL, botEnv, newUser, postUpdate, secretOf, sentTo, startBotServer } from './support.js';

describe.each(backends())('oauth3 bot in webhook mode (%s)', (backend) => {
  let telegram: FakeTelegram;
  let server: TestServer;
  let token: string;

  beforeAll(async () => {
    ({ telegram, token, server } = await startBotServer({ backend, username: 'oauth3_test_bot' }));
  });
  afterAll(async () => {
    await server?.stop();
    await telegram?.stop();
  });

  it('tells Telegram where to post, with a secret every replica derives alike', () => {
    const hook = telegram.webhooks.get(token);
    expect(hook).toEqual({
      url: WEBHOOK_URL,
      secret_token: expect.stringMatching(/^[A-Za-z0-9_-]{1,256}$/),
      allowed_updates: ['message', 'channel_post', 'callback_query'],
    });
    expect(hook!.secret_token).toBe(webhookSecret(token));
    expect(telegram.calls.some((c) => c.method === 'getUpdates')).toBe(false);
  });

  it('refuses an update without the secret or with a wrong one, and handles nothing', async () => {
    const user = newUser();
    const update = telegram.message(token, { from: user, text: '/help' });
    const secret = secretOf(telegram, token);
    const wrong = `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
    for (const header of [undefined, '', wrong, `${secret}x`, secret.slice(1)]) {
      const res = await postUpdate(server, update, header);
      expect(res.status).toBe(401);
    }
    expect(sentTo(telegram, user.id)).toEqual([]);
    // Nothing was claimed either: the same update with the right secret is handled.
    expect((await postUpdate(server, update, secret)).status).toBe(200);
    expect(sentTo(telegram, user.id)).toEqual([HELP_TEXT]);
  });

  it('handles an update delivered twice once', async () => {
    const user = newUser();
    const update = telegram.message(token, { from: user, text: 'hello' });
    const secret = secretOf(telegram, token);
    const answers = await Promise.all([postUpdate(server, update, secret), postUpdate(server, update, secret)]);
    expect(answers.map((r) => r.status)).toEqual([200, 200]);
    expect((await postUpdate(server, update, secret)).status).toBe(200);
    expect(sentTo(telegram, user.id)).toEqual([HELP_TEXT]);
  });

  it('answers only POST at the webhook', async () => {
    const res = await fetch(`${server.url}/telegram/webhook`);
    expect(res.status).toBe(405);
  });

  it('refuses a body that is not an update', async () => {
    const res = await postUpdate(server, { message: {} } as never, secretOf(telegram, token));
    expect(res.status).toBe(400);
  });

  it('never writes the bot token in a log line', () => {
    expect(server.logs.join('')).not.toContain(token);
    expect(server.logs.join('')).not.toContain(token.split(':')[1]);
  });
});

describe.each(backends().filter((b) => b !== 'pglite'))('two replicas on one database (%s)', (backend) => {
  let telegram: FakeTelegram;
  let first: TestServer;
  let second: TestServer;
  let storage: KeptStorage;
  let token: string;

  beforeAll(async () => {
    telegram = await startFakeTelegram();
    token = telegram.addBot({ username: 'oauth3_replica_bot' }).token;
    const env = { ...botEnv(telegram, token) };
    first = await startTestServer({ backend, env, keepStorage: true });
    storage = storageOf(first);
    second = await startTestServer({ backend, env, storage, keepStorage: true });
  });
  afterAll(async () => {
    await second?.stop();
    await first?.stop();
    await removeStorage(storage);
    await telegram?.stop();
  });

  it('acts on an update that reaches both once', async () => {
    const secret = secretOf(telegram, token);
    for (let i = 0; i < 5; i++) {
      const user = newUser();
      const update = telegram.message(token, { from: user, text: '/help' });
      const answers = await Promise.all([postUpdate(first, update, secret), postUpdate(second, update, secret)]);
      expect(answers.map((r) => r.status)).toEqual([200, 200]);
      expect(sentTo(telegram, user.id)).toEqual([HELP_TEXT]);
    }
  });
});
