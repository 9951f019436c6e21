import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import { startFakeTelegram, type FakeTelegram } from '../fakes/telegram.js';
import { removeStorage, startTestServer, storageOf, type KeptStorage, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { eventually } from '../helpers/console-api.js';
import { HELP_TEXT } from '../../src/telegram-bot/linking.js';
import { POLLING_LOCK } from '../../src/telegram-bot/polling.js';
import { newUser, sentTo, waitForSent } from './support.js';

const getUpdatesCalls = (telegram: FakeTelegram) => telegram.calls.filter((c) => c.method === 'getUpdates').length;

describe.each(backends())('oauth3 bot by long polling (%s)', (backend) => {
  let telegram: FakeTelegram;
  let server: TestServer | undefined;
  let token: string;

  beforeAll(async () => {
    telegram = await startFakeTelegram();
    token = telegram.addBot({ username: 'oauth3_poll_bot' }).token;
    // Left from an earlier deployment in webhook mode: getUpdates fails until it is deleted.
    telegram.webhooks.set(token, { url: 'https://old.example.test/telegram/webhook' });
    server = await startTestServer({ backend, env: { TELEGRAM_BOT_TOKEN: token, TELEGRAM_API_ROOT: telegram.url } });
  });
  afterAll(async () => {
    await server?.stop();
    await telegram?.stop();
  });

  it('deletes the old webhook and handles updates as they come, each once', async () => {
    const user = newUser();
    const first = telegram.message(token, { from: user, text: '/help' });
    telegram.queue(token, first);
    expect(await waitForSent(telegram, user.id, 1)).toEqual([HELP_TEXT]);
    expect(telegram.webhooks.has(token)).toBe(false);
    const poll = telegram.calls.find((c) => c.method === 'getUpdates');
    expect(poll?.body).toEqual(expect.objectContaining({ timeout: 25, allowed_updates: ['message', 'channel_post', 'callback_query'] }));

    // Telegram sends an update again when its confirmation was lost (a replica died before the next getUpdates).
    telegram.queue(token, first);
    telegram.queue(token, telegram.message(token, { from: user, text: 'hello' }));
    expect(await waitForSent(telegram, user.id, 2)).toEqual([HELP_TEXT, HELP_TEXT]);
    await sleep(300);
    expect(sentTo(telegram, user.id)).toHaveLength(2);
  });

  it('stops polling on shutdown, with a getUpdates call waiting', async () => {
    await eventually(
      async () => getUpdatesCalls(telegram),
      (n) => n >= 3,
    );
    const started = Date.now();
    await server!.stop();
    server = undefined;
    // The call in flight is aborted rather than waited out (25 seconds).
    expect(Date.now() - started).toBeLessThan(5000);
    const calls = getUpdatesCalls(telegram);
    await sleep(300);
    expect(getUpdatesCalls(telegram)).toBe(calls);
    expect(telegram.calls.every((c) => c.token === token)).toBe(true);
  });
});

describe.each(backends().filter((b) => b !== 'pglite'))('two replicas polling one bot (%s)', (backend) => {
  let telegram: FakeTelegram;
  let first: TestServer | undefined;
  let second: TestServer;
  let storage: KeptStorage;
  let token: string;

  const pollers = async (server: TestServer) =>
    Number(
      (
        await server.db.query<{ n: string }>(
          "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = $1 AND objid = (hashtext($2)::bigint & 4294967295)::text::oid",
          [POLLING_LOCK, token.split(':')[0]],
        )
      ).rows[0]!.n,
    );

  beforeAll(async () => {
    telegram = await startFakeTelegram();
    token = telegram.addBot({ username: 'oauth3_pair_bot' }).token;
    const env = { TELEGRAM_BOT_TOKEN: token, TELEGRAM_API_ROOT: telegram.url };
    first = await startTestServer({ backend, env, keepStorage: true });
    storage = storageOf(first);
    await eventually(
      async () => getUpdatesCalls(telegram),
      (n) => n >= 1,
    );
    second = await startTestServer({ backend, env, storage, keepStorage: true });
  });
  afterAll(async () => {
    await second?.stop();
    await first?.stop();
    await removeStorage(storage);
    await telegram?.stop();
  });

  it('only one polls; when it stops, the other takes over', async () => {
    expect(await pollers(second)).toBe(1);
    const user = newUser();
    telegram.queue(token, telegram.message(token, { from: user, text: '/help' }));
    expect(await waitForSent(telegram, user.id, 1)).toEqual([HELP_TEXT]);

    await first!.stop();
    first = undefined;
    const later = newUser();
    telegram.queue(token, telegram.message(token, { from: later, text: '/help' }));
    expect(await waitForSent(telegram, later.id, 1, 15_000)).toEqual([HELP_TEXT]);
    expect(await pollers(second)).toBe(1);
    expect(sentTo(telegram, user.id)).toHaveLength(1);
  }, 30_000);
});
