import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { FakeTelegram, FakeUser } from '../fakes/telegram.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { Owner } from '../helpers/owner.js';
import { csrfFrom } from '../helpers/browser.js';
import { EXPIRED_TEXT, HELP_TEXT, NOT_LINKED_TEXT, PRIVATE_ONLY_TEXT, UNLINKED_TEXT } from '../../src/telegram-bot/linking.js';
import { newUser, postUpdate, secretOf, sentTo, startBotServer } from './support.js';

interface TelegramJson {
  available: boolean;
  linked: { telegram_user_id: string; username: string | null; first_name: string | null; linked_at: string } | null;
}

describe.each(backends())('linking an owner with the oauth3 bot (%s)', (backend) => {
  let telegram: FakeTelegram;
  let server: TestServer;
  let token: string;

  beforeAll(async () => {
    ({ telegram, token, server } = await startBotServer({ backend, username: 'oauth3_link_bot' }));
  });
  afterAll(async () => {
    await server?.stop();
    await telegram?.stop();
  });

  /** A message from `from` (in their private chat unless `chat` says otherwise), through the webhook. */
  async function say(from: FakeUser, text: string, chat?: Parameters<FakeTelegram['message']>[1]['chat']): Promise<void> {
    const res = await postUpdate(server, telegram.message(token, { from, text, ...(chat ? { chat } : {}) }), secretOf(telegram, token));
    expect(res.status).toBe(200);
  }

  async function newLink(owner: Owner): Promise<{ url: string; nonce: string }> {
    const res = await owner.api.send('POST', '/console/api/telegram/link');
    expect(res.status).toBe(200);
    const { url, expires_at } = (await res.json()) as { url: string; expires_at: string };
    const ttl = Date.parse(expires_at) - Date.now();
    expect(ttl).toBeGreaterThan(590_000);
    expect(ttl).toBeLessThanOrEqual(600_000);
    expect(url).toMatch(/^https:\/\/t\.me\/oauth3_link_bot\?start=[A-Za-z0-9_-]+$/);
    const nonce = new URL(url).searchParams.get('start')!;
    // At least 128 random bits in base64url, within Telegram's 64 characters for a start parameter.
    expect(nonce.length).toBeGreaterThanOrEqual(22);
    expect(nonce.length).toBeLessThanOrEqual(64);
    return { url, nonce };
  }

  const linkOf = async (owner: Owner) => ((await (await owner.api.get('/console/api/telegram')).json()) as TelegramJson).linked;

  const eventsOf = async (owner: Owner, kind: string) =>
    (await server.db.query<{ detail: unknown }>('SELECT detail FROM events WHERE account_id = $1 AND kind = $2', [owner.accountId, kind]))
      .rows;

  it('links the private chat that sends /start with a fresh nonce, once', async () => {
    const owner = await Owner.signUp(server);
    expect(await linkOf(owner)).toBeNull();
    const { nonce } = await newLink(owner);
    const ada = newUser('Ada');
    await say(ada, `/start ${nonce}`);
    expect(sentTo(telegram, ada.id)).toEqual([expect.stringContaining('Linked, Ada.')]);
    expect(await linkOf(owner)).toEqual({
      telegram_user_id: String(ada.id),
      username: ada.username,
      first_name: 'Ada',
      linked_at: expect.any(String),
    });
    expect(await eventsOf(owner, 'telegram.linked')).toHaveLength(1);
    // Only the digest is stored.
    const stored = await server.db.query<{ digest: string }>('SELECT digest FROM telegram_link_nonces');
    expect(stored.rows.map((r) => r.digest)).not.toContain(nonce);

    // Reused, by someone else: refused, and the link stays Ada's.
    const eve = newUser('Eve');
    await say(eve, `/start ${nonce}`);
    expect(sentTo(telegram, eve.id)).toEqual([EXPIRED_TEXT]);
    expect((await linkOf(owner))?.telegram_user_id).toBe(String(ada.id));
  });

  it('refuses an expired nonce and links nothing', async () => {
    const owner = await Owner.signUp(server);
    const { nonce } = await newLink(owner);
    await server.db.query("UPDATE telegram_link_nonces SET expires_at = now() - interval '1 second' WHERE account_id = $1", [
      owner.accountId,
    ]);
    const user = newUser('Bob');
    await say(user, `/start ${nonce}`);
    expect(sentTo(telegram, user.id)).toEqual([EXPIRED_TEXT]);
    expect(await linkOf(owner)).toBeNull();
  });

  it('refuses a malformed nonce (65 characters) without spending the real one', async () => {
    const owner = await Owner.signUp(server);
    const { nonce } = await newLink(owner);
    const user = newUser('Cy');
    const long = `${nonce}${'x'.repeat(65 - nonce.length)}`;
    expect(long).toHaveLength(65);
    await say(user, `/start ${long}`);
    await say(user, '/start not*base64url');
    expect(sentTo(telegram, user.id)).toEqual([EXPIRED_TEXT, EXPIRED_TEXT]);
    expect(await linkOf(owner)).toBeNull();
    await say(user, `/start ${nonce}`);
    expect((await linkOf(owner))?.telegram_user_id).toBe(String(user.id));
  });

  it('refuses a group, a supergroup and a channel, and the nonce still works in private', async () => {
    const owner = await Owner.signUp(server);
    const { nonce } = await newLink(owner);
    const user = newUser('Dee');
    const chats = [
      { id: -4001, type: 'group' as const, title: 'Friends' },
      { id: -1001234567890, type: 'supergroup' as const, title: 'Team' },
      { id: -1009876543210, type: 'channel' as const, title: 'News' },
    ];
    for (const chat of chats) {
      await say(user, `/start ${nonce}`, chat);
      expect(sentTo(telegram, chat.id)).toEqual([PRIVATE_ONLY_TEXT]);
    }
    expect(await linkOf(owner)).toBeNull();
    await say(user, `/start ${nonce}`);
    expect((await linkOf(owner))?.telegram_user_id).toBe(String(user.id));
  });

  it('/unlink in the chat ends the link, and says so when there is none', async () => {
    const owner = await Owner.signUp(server);
    const { nonce } = await newLink(owner);
    const user = newUser('Eli');
    await say(user, `/start ${nonce}`);
    await say(user, '/unlink');
    await say(user, '/unlink');
    expect(sentTo(telegram, user.id).slice(1)).toEqual([UNLINKED_TEXT, NOT_LINKED_TEXT]);
    expect(await linkOf(owner)).toBeNull();
    expect(await eventsOf(owner, 'telegram.unlinked')).toEqual([{ detail: expect.objectContaining({ via: 'telegram' }) }]);
  });

  it('/help, /start alone and anything else get the list of commands', async () => {
    const user = newUser('Fay');
    await say(user, '/help');
    await say(user, '/start');
    await say(user, 'what can you do?');
    await say(user, '/frobnicate');
    expect(sentTo(telegram, user.id)).toEqual([HELP_TEXT, HELP_TEXT, HELP_TEXT, HELP_TEXT]);
    expect(HELP_TEXT).toMatch(/\/start[\s\S]*\/unlink[\s\S]*\/help/);
  });

  it('the console page makes a link, shows the linked account and unlinks it', async () => {
    const owner = await Owner.signUp(server);
    const page = await (await owner.browser.request('/console/telegram')).text();
    expect(page).toContain('href="/console/telegram" aria-current="page"');
    expect(page).toContain('Make a link');

    const made = await owner.browser.postForm('/console/telegram/link', { csrf: csrfFrom(page) });
    expect(made.status).toBe(303);
    const madePage = await (await owner.browser.request(made.headers.get('location')!)).text();
    const url = /href="(https:\/\/t\.me\/oauth3_link_bot\?start=[A-Za-z0-9_-]+)"/.exec(madePage)?.[1];
    expect(url).toBeDefined();

    const user = newUser('Gus');
    await say(user, `/start ${new URL(url!).searchParams.get('start')!}`);
    const linkedPage = await (await owner.browser.request('/console/telegram')).text();
    expect(linkedPage).toContain(`@${user.username} (Gus)`);
    expect(linkedPage).toContain('Unlink Telegram');

    const unlinked = await owner.browser.postForm('/console/telegram/unlink', { csrf: csrfFrom(linkedPage) });
    expect(unlinked.status).toBe(303);
    const after = await (await owner.browser.request(unlinked.headers.get('location')!)).text();
    expect(after).toContain('Telegram is unlinked.');
    expect(after).toContain('Make a link');
    expect(await eventsOf(owner, 'telegram.unlinked')).toEqual([{ detail: expect.objectContaining({ via: 'console' }) }]);
  });

  it('the console API unlinks, and refuses without the CSRF token', async () => {
    const owner = await Owner.signUp(server);
    const { nonce } = await newLink(owner);
    await say(newUser('Hal'), `/start ${nonce}`);
    expect((await owner.api.send('DELETE', '/console/api/telegram/link', undefined, { csrf: null })).status).toBe(403);
    expect((await owner.api.send('POST', '/console/api/telegram/link', undefined, { csrf: null })).status).toBe(403);
    const res = await owner.api.send('DELETE', '/console/api/telegram/link');
    expect(await res.json()).toEqual({ unlinked: true });
    expect(await linkOf(owner)).toBeNull();
  });

  it('never puts the bot token in a page, an answer or a log line', async () => {
    const owner = await Owner.signUp(server);
    const bodies = [
      await (await owner.browser.request('/console/telegram')).text(),
      await (await owner.api.get('/console/api/telegram')).text(),
      await (await owner.api.send('POST', '/console/api/telegram/link')).text(),
    ];
    for (const body of [...bodies, server.logs.join('')]) expect(body).not.toContain(token.split(':')[1]);
  });
});

describe('the console without a bot', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('says the server has no bot and makes no link', async () => {
    const owner = await Owner.signUp(server);
    expect(await (await owner.browser.request('/console/telegram')).text()).toContain('has no Telegram bot');
    expect(await (await owner.api.get('/console/api/telegram')).json()).toEqual({
      available: false,
      linked: null,
      notices: expect.any(Object),
      undelivered: [],
    });
    expect((await owner.api.send('POST', '/console/api/telegram/link')).status).toBe(404);
    expect((await fetch(`${server.url}/telegram/webhook`, { method: 'POST', body: '{}' })).status).toBe(404);
  });
});
