import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Writable } from 'node:stream';
import { Api } from 'grammy';
import { startFakeTelegram, type FakeBot, type FakeTelegram } from '../fakes/telegram.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { Owner } from '../helpers/owner.js';
import { eventually } from '../helpers/console-api.js';
import { createLogger } from '../../src/logger.js';
import type { Database } from '../../src/db/database.js';
import { createPostgresDatabase } from '../../src/db/postgres.js';
import { MAX_ATTEMPTS, TelegramOutbox } from '../../src/notices/outbox.js';
import { Sender, type SenderOptions } from '../../src/telegram-bot/sender.js';
import { Notifier } from '../../src/notices/notifier.js';
import { NoticePreferences } from '../../src/notices/preferences.js';
import { TelegramLinks } from '../../src/accounts/telegram-links.js';
import { honourRetryAfter } from '../../src/telegram-bot/retry.js';

interface Row {
  status: string;
  attempts: number;
  last_error: string | null;
  message_id: string | null;
  sent_at: Date | null;
}

/** The outbox and its sender against a real database and the fake Bot API: order, pace, failures, leases, edits. */
describe.each(backends())('the Telegram outbox and its sender (%s)', (backend) => {
  let telegram: FakeTelegram;
  let server: TestServer;
  let token: string;
  let bot: FakeBot;
  let outbox: TelegramOutbox;
  let accountId: string;
  const logs: string[] = [];
  const logger = createLogger(
    'warn',
    new Writable({
      write(chunk, _enc, done) {
        logs.push(String(chunk));
        done();
      },
    }),
  );
  let nextChat = 8800001;

  beforeAll(async () => {
    telegram = await startFakeTelegram();
    ({ token, bot } = telegram.addBot({ username: 'oauth3_outbox_bot' }));
    // No TELEGRAM_BOT_TOKEN: the server runs no sender of its own, so only the ones made here drain the outbox.
    server = await startTestServer({ backend });
    outbox = new TelegramOutbox(server.db);
    accountId = (await Owner.signUp(server)).accountId;
  });
  afterAll(async () => {
    await server?.stop();
    await telegram?.stop();
  });

  /** A private chat the fake bot can reach. */
  const newChat = (): number => {
    const id = nextChat++;
    bot.chats.push({ id, type: 'private', first_name: 'Ada' });
    return id;
  };

  /** An API client as the bot sets it up: Telegram's 429 waits honoured (shortened, so a test does not wait long). */
  const newApi = () => {
    const api = new Api(token, { apiRoot: telegram.url, timeoutSeconds: 5 });
    api.config.use(honourRetryAfter({ maxWaitSeconds: 5, maxRetries: 3 }));
    return api;
  };

  const newSender = (options: Partial<SenderOptions> = {}, db: Database = server.db) =>
    new Sender({
      outbox: new TelegramOutbox(db),
      api: newApi(),
      logger,
      botToken: token,
      options: { tickMs: 20, perChatGapMs: 0, batch: 25, ...options },
    });

  const queue = (chatId: number, text: string, extra: { editOf?: string; heldId?: string; kind?: string } = {}) =>
    outbox.enqueue({ accountId, chatId, kind: extra.kind ?? 'connections', text, ...extra }).then((id) => id!);

  const rowOf = async (id: string): Promise<Row> =>
    (
      await server.db.query<Row>(
        'SELECT status, attempts, last_error, message_id::text AS message_id, sent_at FROM telegram_outbox WHERE id = $1',
        [id],
      )
    ).rows[0]!;

  const sentTo = (chatId: number) => telegram.sent.filter((m) => m.chat_id === String(chatId));
  const sendCalls = (text: string) => telegram.calls.filter((c) => c.method === 'sendMessage' && c.body.text === text).length;

  it('sends one chat its messages in order, at least the configured gap apart', async () => {
    const chat = newChat();
    const ids: string[] = [];
    for (const n of [1, 2, 3, 4]) ids.push(await queue(chat, `in order ${n}`));
    const sender = newSender({ perChatGapMs: 300 });
    sender.start();
    try {
      await eventually(
        async () => sentTo(chat).length,
        (n) => n >= 4,
        15_000,
      );
    } finally {
      await sender.stop();
    }
    expect(sentTo(chat).map((m) => m.text)).toEqual(['in order 1', 'in order 2', 'in order 3', 'in order 4']);
    const rows = await Promise.all(ids.map(rowOf));
    expect(rows.map((r) => r.status)).toEqual(['sent', 'sent', 'sent', 'sent']);
    expect(rows.map((r) => r.message_id)).toEqual(sentTo(chat).map((m) => String(m.message_id)));
    for (let i = 1; i < rows.length; i++) {
      expect(new Date(rows[i]!.sent_at!).getTime() - new Date(rows[i - 1]!.sent_at!).getTime()).toBeGreaterThanOrEqual(300);
    }
  });

  it('wakes a sleeping sender when the notifier is nudged (a message sent again from the console)', async () => {
    const chat = newChat();
    // A tick far longer than the wait below: only the nudge can make it look again.
    const sender = newSender({ tickMs: 120_000 });
    const notifier = new Notifier({
      logger,
      links: new TelegramLinks(server.db),
      preferences: new NoticePreferences(server.db),
      outbox,
      enabled: true,
    });
    notifier.onQueued(() => sender.wake());
    sender.start();
    try {
      // Its first round found nothing; it sleeps now.
      await new Promise((resolve) => setTimeout(resolve, 200));
      await queue(chat, 'nudged');
      notifier.nudge();
      expect(
        (
          await eventually(
            async () => sentTo(chat),
            (sent) => sent.length > 0,
            20_000,
          )
        ).map((m) => m.text),
      ).toEqual(['nudged']);
    } finally {
      await sender.stop();
    }
  });

  it('sends to different chats in the same round, one message per chat', async () => {
    const chats = [newChat(), newChat(), newChat()];
    for (const chat of chats) {
      await queue(chat, `first to ${chat}`);
      await queue(chat, `second to ${chat}`);
    }
    const sender = newSender({ perChatGapMs: 60_000 });
    expect(await sender.round()).toBe(3);
    expect(chats.map((chat) => sentTo(chat).map((m) => m.text))).toEqual(chats.map((chat) => [`first to ${chat}`]));
    // The second of each waits for its chat's gap.
    expect(await sender.round()).toBe(0);
    expect(await newSender({ perChatGapMs: 0 }).round()).toBe(3);
    expect(chats.map((chat) => sentTo(chat).length)).toEqual([2, 2, 2]);
  });

  it("waits out Telegram's 429 and delivers the message once", async () => {
    const chat = newChat();
    const id = await queue(chat, 'after a 429');
    telegram.fail('sendMessage', 'rate_limited', 1, 1);
    try {
      expect(await newSender().round()).toBe(1);
    } finally {
      telegram.reset();
    }
    expect(sendCalls('after a 429')).toBe(2);
    expect(sentTo(chat).map((m) => m.text)).toEqual(['after a 429']);
    expect(await rowOf(id)).toMatchObject({ status: 'sent', attempts: 1, last_error: null });
  });

  it('retries a server error with growing waits, then gives up after the last attempt', async () => {
    const chat = newChat();
    const id = await queue(chat, 'Telegram is down');
    const sender = newSender();
    const waits: number[] = [];
    telegram.fail('sendMessage', 'server_error');
    try {
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        expect(await sender.round()).toBe(1);
        const { rows } = await server.db.query<{ status: string; attempts: number; last_error: string; wait: number }>(
          `SELECT status, attempts, last_error, extract(epoch FROM next_attempt_at - now())::float8 AS wait
             FROM telegram_outbox WHERE id = $1`,
          [id],
        );
        const row = rows[0]!;
        expect(row.attempts).toBe(attempt);
        expect(row.last_error).toBe('Internal Server Error');
        if (attempt < MAX_ATTEMPTS) {
          expect(row.status).toBe('pending');
          // Not due yet: nothing to claim until the wait is over.
          expect(await sender.round()).toBe(0);
          waits.push(Number(row.wait));
          await server.db.query('UPDATE telegram_outbox SET next_attempt_at = now() WHERE id = $1', [id]);
        } else {
          expect(row.status).toBe('failed');
        }
      }
    } finally {
      telegram.reset();
    }
    for (let i = 1; i < waits.length; i++) expect(waits[i]!).toBeGreaterThan(waits[i - 1]!);
    expect(waits[0]!).toBeGreaterThan(1);
    expect(waits.at(-1)!).toBeLessThanOrEqual(900);
    // Given up: no sender takes it again, until the owner sends it again.
    expect(await sender.round()).toBe(0);
    expect(sentTo(chat)).toEqual([]);
    expect(await outbox.retry(accountId, id)).toBe(true);
    expect(await sender.round()).toBe(1);
    expect(sentTo(chat).map((m) => m.text)).toEqual(['Telegram is down']);
  });

  it('gives up at once when Telegram refuses for good (the bot was blocked), and logs no token', async () => {
    const chat = newChat();
    const id = await queue(chat, 'blocked');
    telegram.fail('sendMessage', 'forbidden');
    try {
      expect(await newSender().round()).toBe(1);
    } finally {
      telegram.reset();
    }
    expect(await rowOf(id)).toMatchObject({ status: 'failed', attempts: 1, last_error: 'Forbidden: bot was blocked by the user' });
    expect((await outbox.undelivered(accountId)).map((m) => m.id)).toContain(id);
    expect(logs.join('')).not.toContain(token);
  });

  it('never sends a message twice when two senders drain the same outbox at once', async () => {
    // On Postgres the second sender has a pool of its own, as another replica would.
    const second: Database = server.config.DATABASE_URL
      ? createPostgresDatabase({ url: server.config.DATABASE_URL, poolSize: 4, timeoutMs: 10_000 })
      : server.db;
    const chats = [newChat(), newChat(), newChat(), newChat(), newChat()];
    const texts: string[] = [];
    for (let n = 1; n <= 8; n++) {
      for (const chat of chats) {
        texts.push(`race ${chat} #${n}`);
        await queue(chat, `race ${chat} #${n}`);
      }
    }
    const senders = [newSender({ perChatGapMs: 5, tickMs: 5, batch: 3 }), newSender({ perChatGapMs: 5, tickMs: 5, batch: 3 }, second)];
    for (const sender of senders) sender.start();
    try {
      await eventually(
        async () => telegram.sent.filter((m) => m.text.startsWith('race ')).length,
        (n) => n >= texts.length,
        30_000,
      );
      // A little longer: a duplicate would show up now.
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      await Promise.all(senders.map((s) => s.stop()));
      if (second !== server.db) await second.close();
    }
    const raced = telegram.sent.filter((m) => m.text.startsWith('race '));
    expect(raced.map((m) => m.text).sort()).toEqual([...texts].sort());
    for (const chat of chats) {
      expect(sentTo(chat).map((m) => m.text)).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((n) => `race ${chat} #${n}`));
    }
    expect(texts.reduce((sum, text) => sum + sendCalls(text), 0)).toBe(texts.length);
  });

  it('sends again a message whose sender died after claiming it, once its lease ran out', async () => {
    const chat = newChat();
    const id = await queue(chat, 'orphaned');
    // A sender claims it and dies before sending.
    expect((await outbox.claim({ limit: 25, leaseSeconds: 60, perChatGapMs: 0 })).map((m) => m.id)).toContain(id);
    const sender = newSender();
    expect(await sender.round()).toBe(0);
    expect(sentTo(chat)).toEqual([]);
    await server.db.query("UPDATE telegram_outbox SET leased_until = now() - interval '1 second' WHERE id = $1", [id]);
    expect(await sender.round()).toBe(1);
    expect(sentTo(chat).map((m) => m.text)).toEqual(['orphaned']);
    expect(await rowOf(id)).toMatchObject({ status: 'sent', attempts: 2 });
  });

  it('edits a sent message, waits for one still queued, and cancels an edit of one that never went out', async () => {
    const chat = newChat();
    const sender = newSender();

    const sent = await queue(chat, 'Approve this post?', { kind: 'approvals', heldId: 'held-outbox-1' });
    expect((await outbox.ofHeld('held-outbox-1'))?.id).toBe(sent);
    expect(await sender.round()).toBe(1);
    const edit = await queue(chat, 'Approve this post?\n\nApproved', { kind: 'edit', editOf: sent });
    expect(await sender.round()).toBe(1);
    const [message] = sentTo(chat);
    expect(message!.edits).toEqual(['Approve this post?\n\nApproved']);
    expect(await rowOf(edit)).toMatchObject({ status: 'sent' });

    // Queued before its message went out: the edit waits for it, then changes it.
    const queued = await queue(chat, 'Second post?');
    const laterEdit = await queue(chat, 'Second post?\n\nRejected', { kind: 'edit', editOf: queued });
    expect(await sender.round()).toBe(1);
    expect(await rowOf(laterEdit)).toMatchObject({ status: 'pending' });
    expect(await sender.round()).toBe(1);
    expect(sentTo(chat)[1]!.edits).toEqual(['Second post?\n\nRejected']);

    // Never sent (decided before it went out): the edit has nothing to change.
    const cancelled = await queue(chat, 'Third post?');
    expect(await outbox.cancelUnsent(cancelled)).toBe(true);
    const orphanEdit = await queue(chat, 'Third post?\n\nApproved', { kind: 'edit', editOf: cancelled });
    const editsBefore = telegram.calls.filter((c) => c.method === 'editMessageText').length;
    expect(await sender.round()).toBe(1);
    expect(await rowOf(orphanEdit)).toMatchObject({ status: 'cancelled' });
    expect(telegram.calls.filter((c) => c.method === 'editMessageText')).toHaveLength(editsBefore);
    expect(sentTo(chat)).toHaveLength(2);
  });
});
