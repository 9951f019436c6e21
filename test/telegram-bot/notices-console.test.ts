import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { FakeTelegram, FakeUser } from '../fakes/telegram.js';
import type { TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { Owner } from '../helpers/owner.js';
import { csrfFrom } from '../helpers/browser.js';
import { eventually } from '../helpers/console-api.js';
import { NOTICE_KINDS } from '../../src/notices/kinds.js';
import { linkChat, sentTo, startBotServer, waitForSent } from './support.js';

interface Undelivered {
  id: string;
  kind: string;
  created_at: string;
  preview: string;
  reason: string;
  telegram_said: string | null;
  state: 'gave_up' | 'retrying';
  next_attempt_at: string | null;
  attempts: number;
}

interface TelegramJson {
  linked: unknown;
  notices: Record<string, boolean>;
  undelivered: Undelivered[];
}

const allOn = Object.fromEntries(Object.keys(NOTICE_KINDS).map((kind) => [kind, true]));

describe.each(backends())('the Telegram page: notices and undelivered messages (%s)', (backend) => {
  let telegram: FakeTelegram;
  let server: TestServer;
  let token: string;

  beforeAll(async () => {
    ({ telegram, token, server } = await startBotServer({ backend, username: 'oauth3_notices_bot' }));
  });
  afterAll(async () => {
    await server?.stop();
    await telegram?.stop();
  });

  /** A new owner whose Telegram is linked through the bot, as in Telegram; the bot's "Linked" reply is already sent. */
  async function linkedOwner(): Promise<{ owner: Owner; user: FakeUser }> {
    const owner = await Owner.signUp(server);
    return { owner, user: await linkChat(server, telegram, token, owner) };
  }

  const describeOf = async (owner: Owner) => (await (await owner.api.get('/console/api/telegram')).json()) as TelegramJson;

  const notify = (owner: Owner, kind: keyof typeof NOTICE_KINDS, text: string) => server.app.notifier.send(owner.accountId, { kind, text });

  const eventsOf = async (owner: Owner, kind: string) =>
    (
      await server.db.query<{ detail: unknown }>('SELECT detail FROM events WHERE account_id = $1 AND kind = $2 ORDER BY id', [
        owner.accountId,
        kind,
      ])
    ).rows.map((r) => r.detail);

  it('saves the switches from the API and reads them back; a switched-off kind is not sent', async () => {
    const { owner, user } = await linkedOwner();
    expect((await describeOf(owner)).notices).toEqual(allOn);

    const res = await owner.api.send('PUT', '/console/api/telegram/notices', { connections: false, daily_limit: false });
    expect(res.status).toBe(200);
    const expected = { ...allOn, connections: false, daily_limit: false };
    expect(((await res.json()) as { notices: unknown }).notices).toEqual(expected);
    expect((await describeOf(owner)).notices).toEqual(expected);
    expect(await eventsOf(owner, 'telegram.notices_changed')).toEqual([{ switched_on: [], switched_off: ['connections', 'daily_limit'] }]);

    expect(await notify(owner, 'connections', 'Connected X as @ada')).toBeUndefined();
    expect(await notify(owner, 'new_access', 'An app got access')).toEqual(expect.any(String));
    const texts = await waitForSent(telegram, user.id, 2);
    expect(texts.slice(1)).toEqual(['An app got access']);

    // On again: sent again. A body naming only some kinds leaves the others as they were.
    expect((await owner.api.send('PUT', '/console/api/telegram/notices', { connections: true })).status).toBe(200);
    expect((await describeOf(owner)).notices).toEqual({ ...allOn, daily_limit: false });
    await notify(owner, 'connections', 'Connected X as @ada');
    expect((await waitForSent(telegram, user.id, 3)).slice(1)).toEqual(['An app got access', 'Connected X as @ada']);
    expect((await eventsOf(owner, 'telegram.notices_changed')).at(-1)).toEqual({ switched_on: ['connections'], switched_off: [] });
  });

  it('saves the switches from the page form: what is not ticked is off', async () => {
    const { owner } = await linkedOwner();
    const page = await (await owner.browser.request('/console/telegram')).text();
    for (const [kind, label] of Object.entries(NOTICE_KINDS)) {
      expect(page).toContain(`name="${kind}" value="on" checked`);
      expect(page).toContain(label);
    }
    const res = await owner.browser.postForm('/console/telegram/notices', { csrf: csrfFrom(page), approvals: 'on', token_theft: 'on' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/console/telegram?done=notices');
    const notices = (await describeOf(owner)).notices;
    expect(
      Object.entries(notices)
        .filter(([, on]) => on)
        .map(([kind]) => kind),
    ).toEqual(['approvals', 'token_theft']);
    const after = await (await owner.browser.request('/console/telegram?done=notices')).text();
    expect(after).toContain('name="approvals" value="on" checked');
    expect(after).toContain('name="connections" value="on">');
    expect(after).toContain('Saved.');
  });

  it('refuses an unknown kind and a value that is not true or false, and changes nothing', async () => {
    const { owner } = await linkedOwner();
    const res = await owner.api.send('PUT', '/console/api/telegram/notices', { connections: false, weather: true });
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain('weather');
    const wrong = await owner.api.send('PUT', '/console/api/telegram/notices', { connections: 'no' });
    expect(wrong.status).toBe(400);
    expect(JSON.stringify(await wrong.json())).toContain('connections');
    const page = await (await owner.browser.request('/console/telegram')).text();
    const form = await owner.browser.postForm('/console/telegram/notices', { csrf: csrfFrom(page), weather: 'on' });
    expect(form.status).toBe(400);
    expect((await describeOf(owner)).notices).toEqual(allOn);
    expect(await eventsOf(owner, 'telegram.notices_changed')).toEqual([]);
  });

  it('refuses a change without the CSRF token, from another origin, or by another owner', async () => {
    const { owner } = await linkedOwner();
    const other = await Owner.signUp(server);
    expect((await owner.api.send('PUT', '/console/api/telegram/notices', { approvals: false }, { csrf: null })).status).toBe(403);
    expect((await owner.api.send('PUT', '/console/api/telegram/notices', { approvals: false }, { csrf: other.csrf })).status).toBe(403);
    expect(
      (await owner.api.send('PUT', '/console/api/telegram/notices', { approvals: false }, { origin: 'https://evil.example' })).status,
    ).toBe(403);
    expect((await owner.browser.postForm('/console/telegram/notices', { connections: 'on' })).status).toBe(403);
    // The other owner's own switches are theirs: with no Telegram linked there is nothing to switch.
    expect((await other.api.send('PUT', '/console/api/telegram/notices', { approvals: false })).status).toBe(409);
    expect((await describeOf(owner)).notices).toEqual(allOn);
  });

  it('lists a message Telegram refused for good, with its reason, and sends it again on request', async () => {
    const { owner, user } = await linkedOwner();
    telegram.fail('sendMessage', 'forbidden');
    try {
      await notify(owner, 'new_access', 'Acme Notes can now read your posts.\nSecond line, not in the preview.');
      const listed = await eventually(
        () => describeOf(owner),
        (json) => json.undelivered.some((m) => m.state === 'gave_up'),
        10_000,
      );
      expect(listed.undelivered).toEqual([
        {
          id: expect.any(String),
          kind: 'new_access',
          created_at: expect.any(String),
          preview: 'Acme Notes can now read your posts.',
          reason: expect.stringContaining('You blocked the bot'),
          telegram_said: 'Forbidden: bot was blocked by the user',
          state: 'gave_up',
          next_attempt_at: null,
          attempts: 1,
        },
      ]);
      expect(JSON.stringify(listed)).not.toContain(token);
      const page = await (await owner.browser.request('/console/telegram')).text();
      expect(page).toContain('Not delivered');
      expect(page).toContain('Gave up');
      expect(page).toContain('Telegram said: Forbidden: bot was blocked by the user');
      expect(page).toContain(`/console/telegram/undelivered/${listed.undelivered[0]!.id}/retry`);
      expect(page).not.toContain('Second line');
    } finally {
      telegram.reset();
    }

    const { id } = (await describeOf(owner)).undelivered[0]!;
    const page = await (await owner.browser.request('/console/telegram')).text();
    const res = await owner.browser.postForm(`/console/telegram/undelivered/${id}/retry`, { csrf: csrfFrom(page) });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/console/telegram?done=resent');
    expect((await waitForSent(telegram, user.id, 2))[1]).toMatch(/^Acme Notes can now read your posts\./);
    expect(
      (
        await eventually(
          () => describeOf(owner),
          (json) => json.undelivered.length === 0,
          5000,
        )
      ).undelivered,
    ).toEqual([]);
    // Sent now: nothing left to send again.
    expect((await owner.api.send('POST', `/console/api/telegram/undelivered/${id}/retry`)).status).toBe(404);
  });

  it('shows a message that failed for a passing reason as still being retried', async () => {
    const { owner } = await linkedOwner();
    telegram.fail('sendMessage', 'server_error');
    try {
      await notify(owner, 'connections', 'Connected X as @ada');
      const listed = await eventually(
        () => describeOf(owner),
        (json) => json.undelivered.length > 0,
        10_000,
      );
      const [message] = listed.undelivered;
      expect(message).toMatchObject({ state: 'retrying', telegram_said: 'Internal Server Error', attempts: 1 });
      expect(message!.reason).toMatch(/could not be reached/);
      expect(Date.parse(message!.next_attempt_at!)).toBeGreaterThan(Date.now());
      const page = await (await owner.browser.request('/console/telegram')).text();
      expect(page).toContain('Retrying');
      expect(page).toContain('Next try');
      // Still being retried: not one to send again.
      expect((await owner.api.send('POST', `/console/api/telegram/undelivered/${message!.id}/retry`)).status).toBe(404);
    } finally {
      telegram.reset();
    }
  });

  it('drops what was queued for a chat once it is unlinked: nothing reaches a chat that no longer speaks for the owner', async () => {
    const { owner, user } = await linkedOwner();
    telegram.fail('sendMessage', 'server_error');
    let queued: string | undefined;
    try {
      queued = await notify(owner, 'connections', 'Connected X as @ada');
      await eventually(
        () => describeOf(owner),
        (json) => json.undelivered.length > 0,
        10_000,
      );
      expect((await owner.api.send('DELETE', '/console/api/telegram/link')).status).toBe(200);
    } finally {
      telegram.reset();
    }
    const { rows } = await server.db.query<{ status: string }>('SELECT status FROM telegram_outbox WHERE id = $1', [queued]);
    expect(rows).toEqual([{ status: 'cancelled' }]);
    expect((await describeOf(owner)).undelivered).toEqual([]);
    // Nothing but the "Linked" reply ever reached the old chat.
    expect(sentTo(telegram, user.id)).toHaveLength(1);
  });

  it("never lets another owner send one's undelivered message again, nor an unknown id", async () => {
    const { owner, user } = await linkedOwner();
    const other = await linkedOwner();
    telegram.fail('sendMessage', 'forbidden');
    try {
      await notify(owner, 'token_theft', 'A token was used twice');
      await eventually(
        () => describeOf(owner),
        (json) => json.undelivered.some((m) => m.state === 'gave_up'),
        10_000,
      );
    } finally {
      telegram.reset();
    }
    const { id } = (await describeOf(owner)).undelivered[0]!;
    expect((await other.owner.api.send('POST', `/console/api/telegram/undelivered/${id}/retry`)).status).toBe(404);
    const page = await (await other.owner.browser.request('/console/telegram')).text();
    expect((await other.owner.browser.postForm(`/console/telegram/undelivered/${id}/retry`, { csrf: csrfFrom(page) })).status).toBe(404);
    expect((await other.owner.api.get('/console/api/telegram')).status).toBe(200);
    expect((await describeOf(other.owner)).undelivered).toEqual([]);
    for (const bad of ['999999999', '0', 'abc', '1%20OR%201=1']) {
      expect((await owner.api.send('POST', `/console/api/telegram/undelivered/${bad}/retry`)).status).toBe(404);
    }
    // Untouched: still given up, and never sent.
    const { rows } = await server.db.query<{ status: string; attempts: number }>(
      'SELECT status, attempts FROM telegram_outbox WHERE id = $1',
      [id],
    );
    expect(rows).toEqual([{ status: 'failed', attempts: 1 }]);
    expect(sentTo(telegram, user.id)).toHaveLength(1);
    // Without the CSRF token, not even the owner.
    expect((await owner.api.send('POST', `/console/api/telegram/undelivered/${id}/retry`, undefined, { csrf: null })).status).toBe(403);
    expect((await owner.api.send('POST', `/console/api/telegram/undelivered/${id}/retry`)).status).toBe(200);
    expect((await waitForSent(telegram, user.id, 2))[1]).toBe('A token was used twice');
  });
});
