import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import { startFakeTelegram, type FakeTelegram, type FakeUpdate, type FakeUser, type ReceivedMessage } from '../fakes/telegram.js';
import { FakeX } from '../fakes/x.js';
import { removeStorage, startTestServer, storageOf, type KeptStorage, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { Owner, callApi } from '../helpers/owner.js';
import { eventually } from '../helpers/console-api.js';
import { NoticePreferences } from '../../src/notices/preferences.js';
import { NOTICE_KINDS, type NoticeKind } from '../../src/notices/kinds.js';
import { APPROVE_BUTTON, REJECT_BUTTON, approvalButtons, approvalText } from '../../src/notices/approval-notice.js';
import { ALREADY_DECIDED_TEXT, APP_REVOKED_TEXT, REFUSED_TEXT } from '../../src/telegram-bot/approvals.js';
import { newUser, postUpdate, secretOf, WEBHOOK_URL } from './support.js';

interface ApprovalJson {
  id: string;
  app: { name: string };
  text: string;
  status: string;
}

/** One owner as these tests need them: signed in, X connected by cookie, an agent held for approval, maybe a linked chat. */
interface Poster {
  owner: Owner;
  agent: string;
  grantId: string;
  xHandle: string;
  user?: FakeUser;
}

/** Everything a server and its fakes share in one suite. */
class Setup {
  constructor(
    readonly telegram: FakeTelegram,
    readonly x: FakeX,
    readonly token: string,
  ) {}

  env(): Record<string, string> {
    return this.x.env({
      TELEGRAM_BOT_TOKEN: this.token,
      TELEGRAM_API_ROOT: this.telegram.url,
      TELEGRAM_WEBHOOK_URL: WEBHOOK_URL,
      UPSTREAM_TIMEOUT_MS: '2000',
    });
  }

  /** Posts an update to `server`'s webhook, as Telegram would. */
  async post(server: TestServer, update: FakeUpdate): Promise<void> {
    const res = await postUpdate(server, update, secretOf(this.telegram, this.token));
    expect(res.status).toBe(200);
  }

  /** A new owner with X connected and an agent whose posts wait for approval; their chat linked unless told otherwise. */
  async poster(server: TestServer, options: { link?: boolean } = {}): Promise<Poster> {
    const owner = await Owner.signUp(server);
    const cookie = this.x.signIn(this.x.user());
    const connected = await owner.api.send('POST', '/console/api/connections', {
      kind: 'x.cookie',
      auth_token: cookie.auth_token,
      ct0: cookie.ct0,
    });
    expect(connected.status).toBe(201);
    const agent = await owner.agentToken(['tweet.post']);
    const apps = (await (await owner.api.get('/console/api/apps')).json()) as { apps: { grant_id: string }[] };
    expect(apps.apps).toHaveLength(1);
    const grantId = apps.apps[0]!.grant_id;
    expect((await owner.api.send('PUT', `/console/api/apps/${grantId}/policy`, { hold_for_approval: true })).status).toBe(200);
    const poster: Poster = { owner, agent, grantId, xHandle: `@${cookie.user.username}` };
    if (options.link === false) return poster;
    const made = await owner.api.send('POST', '/console/api/telegram/link');
    const nonce = new URL(((await made.json()) as { url: string }).url).searchParams.get('start')!;
    const user = newUser('Owner');
    await this.post(server, this.telegram.message(this.token, { from: user, text: `/start ${nonce}` }));
    return { ...poster, user };
  }

  /** A post the poster's agent makes, held for approval: its id. */
  async hold(server: TestServer, poster: Poster, text: string): Promise<string> {
    const res = await callApi(server, '/tweet', poster.agent, { body: { text } });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ status: 'pending_approval' });
    return String(res.body.id);
  }

  /** The approval message for `heldId` in the user's chat, once the bot has sent it. */
  async approvalMessage(user: FakeUser, heldId: string): Promise<ReceivedMessage> {
    const find = () =>
      this.telegram.sent.filter((m) => m.chat_id === String(user.id) && JSON.stringify(m.reply_markup ?? {}).includes(heldId));
    const found = await eventually(
      async () => find(),
      (list) => list.length > 0,
      10_000,
    );
    expect(found).toHaveLength(1);
    return found[0]!;
  }

  /** Waits until the message has been edited (the outcome appended, buttons gone). */
  async edited(message: ReceivedMessage): Promise<string> {
    await eventually(
      async () => message.edits.length,
      (n) => n > 0,
      10_000,
    );
    expect(message.edits).toHaveLength(1);
    return message.edits[0]!;
  }

  answersTo(update: FakeUpdate): FakeTelegram['answers'] {
    const id = (update.callback_query as { id: string }).id;
    return this.telegram.answers.filter((a) => a.callback_query_id === id);
  }

  postsWith(text: string) {
    return this.x.posts.filter((p) => p.text === text);
  }
}

const approvals = async (owner: Owner) =>
  (await (await owner.api.get('/console/api/approvals')).json()) as { pending: ApprovalJson[]; recent: ApprovalJson[] };
const statusOf = async (owner: Owner, id: string) => {
  const { pending, recent } = await approvals(owner);
  return [...pending, ...recent].find((a) => a.id === id)?.status;
};

describe('approval buttons', () => {
  it('fit Telegram’s 64 bytes of callback data, for the longest held id the pattern allows', () => {
    for (const id of ['held_AbCdEfGhIjKlMnOp', `held_${'x'.repeat(40)}`]) {
      const [row] = approvalButtons(id);
      expect(row!.map((b) => b.text)).toEqual([APPROVE_BUTTON, REJECT_BUTTON]);
      expect(row!.map((b) => b.data)).toEqual([`held:approve:${id}`, `held:reject:${id}`]);
      for (const b of row!) expect(Buffer.byteLength(b.data, 'utf8')).toBeLessThanOrEqual(64);
    }
  });

  it('say how long a post waits when it has an expiry, and that it waits until decided when it has none', () => {
    const base = { app: 'News bot', action: 'tweet.post', provider: 'x', account: { label: '@alice', needsRelink: false }, text: 'Hi' };
    expect(approvalText(base)).toContain('It waits until you decide');
    const now = new Date('2026-12-06T10:00:00Z');
    expect(approvalText({ ...base, now, expiresAt: new Date('2026-12-06T13:00:00Z') })).toContain('It waits about 3 hours for your answer');
    expect(approvalText({ ...base, account: undefined })).toContain('none is connected now');
  });
});

describe.each(backends())('approving held posts from oauth3’s Telegram bot (%s)', (backend) => {
  let setup: Setup;
  let telegram: FakeTelegram;
  let x: FakeX;
  let server: TestServer;
  let ada: Poster & { user: FakeUser };

  beforeAll(async () => {
    telegram = await startFakeTelegram();
    x = await FakeX.start();
    setup = new Setup(telegram, x, telegram.addBot({ username: 'oauth3_approvals_bot' }).token);
    server = await startTestServer({ backend, env: setup.env() });
    ada = (await setup.poster(server)) as Poster & { user: FakeUser };
  });
  beforeEach(() => x.clearFailures());
  afterAll(async () => {
    await server?.stop();
    await telegram?.stop();
    await x?.close();
  });

  const press = async (message: ReceivedMessage, button: string, from: FakeUser = ada.user) => {
    const update = telegram.press(setup.token, { from, message, button });
    await setup.post(server, update);
    return update;
  };

  it('sends one message with the app, the account and the exact post; Approve sends it once and edits the message', async () => {
    const text = 'Release 4.2 is out.\nRead the notes *before* upgrading: <https://example.test/notes>';
    const heldId = await setup.hold(server, ada, text);
    const message = await setup.approvalMessage(ada.user, heldId);
    const app = (await approvals(ada.owner)).pending.find((p) => p.id === heldId)!.app.name;
    expect(app).toMatch(/^Your agent: agent /);
    expect(message.text).toBe(
      [
        `⏸ ${app} wants to post on X using your X account ${ada.xHandle}.`,
        '',
        'The post, exactly as it would go out:',
        '',
        text,
        '',
        'It waits until you decide, here or in your oauth3 console. Nothing is sent unless you approve.',
      ].join('\n'),
    );
    expect(message.parse_mode).toBeUndefined();
    expect(message.reply_markup).toEqual({
      inline_keyboard: [
        [
          { text: '✅ Approve', callback_data: `held:approve:${heldId}` },
          { text: '❌ Reject', callback_data: `held:reject:${heldId}` },
        ],
      ],
    });
    const held = await server.db.query<{ detail: unknown; client_id: string; grant_id: string }>(
      "SELECT detail, client_id, grant_id FROM events WHERE account_id = $1 AND kind = 'action.held'",
      [ada.owner.accountId],
    );
    expect(held.rows).toContainEqual({
      detail: { held_id: heldId, action: 'tweet.post', provider: 'x' },
      client_id: 'oauth3-agents',
      grant_id: ada.grantId,
    });
    expect(setup.postsWith(text)).toEqual([]);

    const original = message.text;
    const update = await press(message, APPROVE_BUTTON);
    expect(setup.postsWith(text)).toHaveLength(1);
    expect(setup.answersTo(update)).toEqual([expect.objectContaining({ text: 'Approved and sent.' })]);
    expect(await setup.edited(message)).toBe(`${original}\n\n✅ Approved and sent.`);
    expect(message.reply_markup).toBeUndefined();
    expect(await statusOf(ada.owner, heldId)).toBe('approved');
    // Exactly one message about this post reached the chat.
    expect(telegram.sent.filter((m) => m.text.includes(text))).toHaveLength(1);
  });

  it('Reject sends nothing and edits the message', async () => {
    const text = `Please never post this ${Date.now()}`;
    const heldId = await setup.hold(server, ada, text);
    const message = await setup.approvalMessage(ada.user, heldId);
    const update = await press(message, REJECT_BUTTON);
    expect(setup.answersTo(update)).toEqual([expect.objectContaining({ text: 'Rejected.' })]);
    expect(await setup.edited(message)).toMatch(/\n\n❌ Rejected\. It will not be sent\.$/);
    expect(message.reply_markup).toBeUndefined();
    expect(await statusOf(ada.owner, heldId)).toBe('rejected');
    expect(setup.postsWith(text)).toEqual([]);
  });

  it('a double press (two updates, one button) sends once; the second is answered "already decided"', async () => {
    const text = `Pressed twice ${Date.now()}`;
    const heldId = await setup.hold(server, ada, text);
    const message = await setup.approvalMessage(ada.user, heldId);
    const first = telegram.press(setup.token, { from: ada.user, message, button: APPROVE_BUTTON });
    const second = telegram.press(setup.token, { from: ada.user, message, button: APPROVE_BUTTON });
    expect(first.update_id).not.toBe(second.update_id);
    await Promise.all([setup.post(server, first), setup.post(server, second)]);
    expect(setup.postsWith(text)).toHaveLength(1);
    const said = [...setup.answersTo(first), ...setup.answersTo(second)].map((a) => a.text).sort();
    expect(said).toEqual(['Already decided.', 'Approved and sent.'].sort());
    expect(ALREADY_DECIDED_TEXT).toBe('Already decided.');
    await setup.edited(message);
    await sleep(300);
    expect(message.edits).toHaveLength(1);
  });

  it('refuses a press by another Telegram user, from another owner’s chat, or from a group, and sends nothing', async () => {
    const text = `Not yours ${Date.now()}`;
    const heldId = await setup.hold(server, ada, text);
    const message = await setup.approvalMessage(ada.user, heldId);

    // Someone else pressing the button on Ada's message (as if it had reached them).
    const eve = newUser('Eve');
    const byEve = await press(message, APPROVE_BUTTON, eve);
    // Another owner, in their own linked chat, sending a press with Ada's held id.
    const bob = (await setup.poster(server)) as Poster & { user: FakeUser };
    const fromBob = telegram.press(setup.token, {
      from: bob.user,
      message: { ...message, chat_id: String(bob.user.id) },
      button: APPROVE_BUTTON,
    });
    await setup.post(server, fromBob);
    // Ada herself, but in a group chat.
    const inGroup = telegram.press(setup.token, { from: ada.user, message: { ...message, chat_id: '-4001' }, button: APPROVE_BUTTON });
    await setup.post(server, inGroup);

    for (const update of [byEve, fromBob, inGroup])
      expect(setup.answersTo(update)).toEqual([{ callback_query_id: expect.any(String), text: REFUSED_TEXT, show_alert: true }]);
    expect(setup.postsWith(text)).toEqual([]);
    expect(await statusOf(ada.owner, heldId)).toBe('pending');
    expect(message.edits).toEqual([]);
    // Nobody else can approve or reject it from the console either.
    expect((await bob.owner.api.send('POST', `/console/api/approvals/${heldId}/approve`)).status).toBe(404);

    // Ada's own press still works afterwards.
    await press(message, REJECT_BUTTON);
    expect(await statusOf(ada.owner, heldId)).toBe('rejected');
  });

  it('refuses the presses of a disabled owner: a disabled account can no longer act from its chat', async () => {
    const cy = (await setup.poster(server)) as Poster & { user: FakeUser };
    const text = `From a disabled account ${Date.now()}`;
    const heldId = await setup.hold(server, cy, text);
    const message = await setup.approvalMessage(cy.user, heldId);
    await server.app.accounts.disable(cy.owner.accountId);
    const update = await press(message, APPROVE_BUTTON, cy.user);
    expect(setup.answersTo(update)).toEqual([expect.objectContaining({ text: REFUSED_TEXT, show_alert: true })]);
    expect(setup.postsWith(text)).toEqual([]);
    const { rows } = await server.db.query<{ status: string }>('SELECT status FROM held_actions WHERE id = $1', [heldId]);
    expect(rows).toEqual([{ status: 'pending' }]);
  });

  it('handles a replayed update once', async () => {
    const text = `Replayed ${Date.now()}`;
    const heldId = await setup.hold(server, ada, text);
    const message = await setup.approvalMessage(ada.user, heldId);
    const update = telegram.press(setup.token, { from: ada.user, message, button: APPROVE_BUTTON });
    await setup.post(server, update);
    await setup.post(server, update);
    expect(setup.postsWith(text)).toHaveLength(1);
    expect(setup.answersTo(update)).toHaveLength(1);
  });

  it('the console deciding updates the message; a later press sends nothing again and is answered "already decided"', async () => {
    const text = `Decided in the console ${Date.now()}`;
    const heldId = await setup.hold(server, ada, text);
    const message = await setup.approvalMessage(ada.user, heldId);
    expect((await ada.owner.api.send('POST', `/console/api/approvals/${heldId}/approve`)).status).toBe(200);
    expect(setup.postsWith(text)).toHaveLength(1);
    expect(await setup.edited(message)).toMatch(/\n\n✅ Approved and sent\.$/);
    expect(message.reply_markup).toBeUndefined();

    // The buttons are gone from the message, but an older copy of the chat may still show them.
    const late = telegram.press(setup.token, { from: ada.user, message, data: `held:approve:${heldId}` });
    await setup.post(server, late);
    expect(setup.answersTo(late)).toEqual([expect.objectContaining({ text: ALREADY_DECIDED_TEXT })]);
    expect(setup.postsWith(text)).toHaveLength(1);

    // And a console rejection shows too.
    const other = `Rejected in the console ${Date.now()}`;
    const otherId = await setup.hold(server, ada, other);
    const otherMessage = await setup.approvalMessage(ada.user, otherId);
    expect((await ada.owner.api.send('POST', `/console/api/approvals/${otherId}/reject`)).status).toBe(200);
    expect(await setup.edited(otherMessage)).toMatch(/\n\n❌ Rejected\. It will not be sent\.$/);
    expect(setup.postsWith(other)).toEqual([]);
  });

  it('says so when sending fails upstream, and when the app lost its access meanwhile', async () => {
    const text = `X says no ${Date.now()}`;
    const heldId = await setup.hold(server, ada, text);
    const message = await setup.approvalMessage(ada.user, heldId);
    x.fail({ status: 503, body: { errors: [{ message: 'Over capacity' }] } }, { path: /CreateTweet|\/2\/tweets/, times: 5 });
    const update = await press(message, APPROVE_BUTTON);
    expect(setup.answersTo(update)).toEqual([
      expect.objectContaining({ text: expect.stringMatching(/^Approved, but sending failed: \S/) }),
    ]);
    expect(await setup.edited(message)).toMatch(/\n\n⚠️ Approved, but sending failed \(\w+\)/);
    expect(await statusOf(ada.owner, heldId)).toBe('failed');
    x.clearFailures();

    const revokedText = `From a revoked app ${Date.now()}`;
    const revokedId = await setup.hold(server, ada, revokedText);
    const revokedMessage = await setup.approvalMessage(ada.user, revokedId);
    // Revoking the app also revokes its token; a new agent keeps the other tests posting.
    expect((await ada.owner.api.send('DELETE', `/console/api/apps/${ada.grantId}`)).status).toBe(200);
    const late = await press(revokedMessage, APPROVE_BUTTON);
    expect(setup.answersTo(late)).toEqual([expect.objectContaining({ text: APP_REVOKED_TEXT })]);
    expect(setup.postsWith(revokedText)).toEqual([]);
    expect(await statusOf(ada.owner, revokedId)).toBe('expired');
    expect(await setup.edited(revokedMessage)).toMatch(/the app no longer has access/);
    ada.agent = await ada.owner.agentToken(['tweet.post']);
    const apps = (await (await ada.owner.api.get('/console/api/apps')).json()) as { apps: { grant_id: string }[] };
    ada.grantId = apps.apps[0]!.grant_id;
    await ada.owner.api.send('PUT', `/console/api/apps/${ada.grantId}/policy`, { hold_for_approval: true });
  });

  it('sends nothing to an owner who switched approvals off, who still decides in the console', async () => {
    const carol = (await setup.poster(server)) as Poster & { user: FakeUser };
    const kinds = Object.keys(NOTICE_KINDS) as NoticeKind[];
    await new NoticePreferences(server.db).set(
      carol.owner.accountId,
      kinds.filter((k) => k !== 'approvals'),
    );
    const text = `Quiet please ${Date.now()}`;
    const heldId = await setup.hold(server, carol, text);
    const queued = await server.db.query('SELECT id FROM telegram_outbox WHERE held_id = $1', [heldId]);
    expect(queued.rows).toEqual([]);
    expect((await ada.owner.api.send('POST', `/console/api/approvals/${heldId}/approve`)).status).toBe(404);
    expect((await carol.owner.api.send('POST', `/console/api/approvals/${heldId}/approve`)).status).toBe(200);
    expect(setup.postsWith(text)).toHaveLength(1);
    await sleep(300);
    // Only the reply to /start reached Carol's chat.
    expect(telegram.sent.filter((m) => m.chat_id === String(carol.user.id))).toHaveLength(1);
  });

  it('sends nothing for a held post when no chat is linked', async () => {
    const dan = await setup.poster(server, { link: false });
    const before = telegram.sent.length;
    const text = `Nobody to tell ${Date.now()}`;
    const heldId = await setup.hold(server, dan, text);
    expect((await server.db.query('SELECT id FROM telegram_outbox WHERE held_id = $1', [heldId])).rows).toEqual([]);
    await sleep(300);
    expect(telegram.sent.slice(before).filter((m) => m.text.includes(text))).toEqual([]);
    expect(await statusOf(dan.owner, heldId)).toBe('pending');
  });

  it('ignores button data that is not an approval, and never puts the bot token in a log line', async () => {
    const text = `Odd data ${Date.now()}`;
    const heldId = await setup.hold(server, ada, text);
    const message = await setup.approvalMessage(ada.user, heldId);
    for (const data of [`held:approve:${heldId}x!`, `held:publish:${heldId}`, `held:approve:${'x'.repeat(70)}`, 'held:approve:']) {
      const update = telegram.press(setup.token, { from: ada.user, message, data });
      await setup.post(server, update);
      expect(setup.answersTo(update)).toEqual([]);
    }
    expect(await statusOf(ada.owner, heldId)).toBe('pending');
    expect(server.logs.join('')).not.toContain(setup.token.split(':')[1]);
  });
});

describe.each(backends().filter((b) => b !== 'pglite'))('two replicas deciding one held post (%s)', (backend) => {
  let setup: Setup;
  let telegram: FakeTelegram;
  let x: FakeX;
  let first: TestServer;
  let second: TestServer;
  let storage: KeptStorage;

  beforeAll(async () => {
    telegram = await startFakeTelegram();
    x = await FakeX.start();
    setup = new Setup(telegram, x, telegram.addBot({ username: 'oauth3_pair_approvals_bot' }).token);
    first = await startTestServer({ backend, env: setup.env(), keepStorage: true });
    storage = storageOf(first);
    second = await startTestServer({ backend, env: setup.env(), storage, keepStorage: true });
  });
  afterAll(async () => {
    await second?.stop();
    await first?.stop();
    await removeStorage(storage);
    await telegram?.stop();
    await x?.close();
  });

  it('each receiving a press at the same time: the post goes out exactly once', async () => {
    const ada = (await setup.poster(first)) as Poster & { user: FakeUser };
    for (let round = 0; round < 3; round++) {
      const text = `Two replicas, round ${round} ${Date.now()}`;
      const heldId = await setup.hold(first, ada, text);
      const message = await setup.approvalMessage(ada.user, heldId);
      const a = telegram.press(setup.token, { from: ada.user, message, button: APPROVE_BUTTON });
      const b = telegram.press(setup.token, { from: ada.user, message, button: APPROVE_BUTTON });
      await Promise.all([setup.post(first, a), setup.post(second, b)]);
      expect(setup.postsWith(text)).toHaveLength(1);
      const said = [...setup.answersTo(a), ...setup.answersTo(b)].map((r) => r.text).sort();
      expect(said).toEqual(['Already decided.', 'Approved and sent.'].sort());
      await setup.edited(message);
      expect(await statusOf(ada.owner, heldId)).toBe('approved');
    }
  }, 60_000);
});
