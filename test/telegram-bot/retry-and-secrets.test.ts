import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startFakeTelegram, type FakeTelegram } from '../fakes/telegram.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { Owner } from '../helpers/owner.js';
import { HELP_TEXT } from '../../src/telegram-bot/linking.js';
import { webhookSecret } from '../../src/telegram-bot/secret.js';
import { botEnv, newUser, postUpdate, sentTo } from './support.js';

describe('Telegram rate limits and failures', () => {
  let telegram: FakeTelegram;
  let server: TestServer;
  let token: string;
  let secret: string;

  beforeAll(async () => {
    telegram = await startFakeTelegram();
    token = telegram.addBot({ username: 'oauth3_retry_bot' }).token;
    secret = webhookSecret(token);
    // Telegram is failing when oauth3 starts, with a proxy page that echoes the path (which holds the token).
    telegram.fail('setWebhook', 'bad_gateway', undefined, 1);
    telegram.fail('getMe', 'bad_gateway');
    server = await startTestServer({
      env: botEnv(telegram, token),
    });
  });
  afterAll(async () => {
    await server?.stop();
    await telegram?.stop();
  });

  const leaks = (text: string) => text.includes(token) || text.includes(token.split(':')[1]!);

  it('starts although setWebhook failed, and says so in the log without the token', () => {
    expect(telegram.webhooks.has(token)).toBe(false);
    expect(server.logs.join('')).toContain('setWebhook failed');
    expect(leaks(server.logs.join(''))).toBe(false);
  });

  it('answers 503 while Telegram cannot be reached, and Telegram retries later', async () => {
    const user = newUser();
    const update = telegram.message(token, { from: user, text: '/help' });
    const failed = await postUpdate(server, update, secret);
    expect(failed.status).toBe(503);
    expect(leaks(await failed.text())).toBe(false);
    telegram.reset();
    expect((await postUpdate(server, update, secret)).status).toBe(200);
    expect(sentTo(telegram, user.id)).toEqual([HELP_TEXT]);
  });

  it('waits out a 429 as retry_after asks, then sends', async () => {
    const user = newUser();
    telegram.fail('sendMessage', 'rate_limited', 1, 1);
    const before = telegram.calls.filter((c) => c.method === 'sendMessage').length;
    const started = Date.now();
    expect((await postUpdate(server, telegram.message(token, { from: user, text: 'hi' }), secret)).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(telegram.calls.filter((c) => c.method === 'sendMessage').length - before).toBe(2);
    expect(sentTo(telegram, user.id)).toEqual([HELP_TEXT]);
  });

  it('gives up on a wait longer than a minute, logging it once without the token', async () => {
    const user = newUser();
    telegram.fail('sendMessage', 'rate_limited', 3600, 1);
    const update = telegram.message(token, { from: user, text: 'hi' });
    expect((await postUpdate(server, update, secret)).status).toBe(200);
    expect(sentTo(telegram, user.id)).toEqual([]);
    expect(server.logs.join('')).toContain('handling an update failed');
    // Claimed is handled: the retry does not send a second answer.
    expect((await postUpdate(server, update, secret)).status).toBe(200);
    expect(sentTo(telegram, user.id)).toEqual([]);
  });

  it('keeps the token out of pages, answers and log lines when Telegram echoes it', async () => {
    const owner = await Owner.signUp(server);
    telegram.fail('sendMessage', 'garbage');
    const user = newUser();
    expect((await postUpdate(server, telegram.message(token, { from: user, text: '/help' }), secret)).status).toBe(200);
    telegram.reset();
    const res = await owner.api.send('POST', '/console/api/telegram/link');
    expect(res.status).toBe(200);
    const bodies = [await res.text(), await (await owner.browser.request('/console/telegram')).text()];
    expect(server.logs.join('')).toContain('HttpError');
    for (const text of [...bodies, server.logs.join('')]) expect(leaks(text)).toBe(false);
  });
});
