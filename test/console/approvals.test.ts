import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { Owner, callApi } from '../helpers/owner.js';
import { startFakeTelegram, type FakeChat, type FakeTelegram } from '../fakes/telegram.js';

interface ApprovalJson {
  id: string;
  action: string;
  app: { name: string; client_id: string; grant_id: string };
  text: string;
  payload: unknown;
  status: string;
  result: unknown;
  created_at: string;
  decided_at: string | null;
}

const channel: FakeChat = { id: -1001234567890, type: 'channel', title: 'Release notes', username: 'releasenotes' };
const CHAT_ID = String(channel.id);

/**
 * Approvals ("hold for my approval"): a post held by an app's limits waits in the console until
 * the owner approves it (then it is sent once, with the owner's bot, against a fake Telegram) or rejects it (then
 * never). Two racing approvals send one message.
 */
describe.each(backends())('approvals on %s storage', (backend) => {
  let server: TestServer;
  let telegram: FakeTelegram;
  let owner: Owner;
  let stranger: Owner;
  let botToken: string;
  let agent: { token: string; grantId: string };

  /** A held post of the owner's agent, as the resource API stores it (src/resource/kit.ts). */
  const hold = (text: string, grantId = agent.grantId) =>
    server.app.services.held.create({
      accountId: owner.accountId,
      grantId,
      clientId: 'oauth3-agents',
      action: 'telegram.send',
      payload: { chat_id: CHAT_ID, text },
      summary: text,
    });
  const approvals = async (who: Owner) =>
    (await (await who.api.get('/console/api/approvals')).json()) as { pending: ApprovalJson[]; recent: ApprovalJson[] };
  const approve = (id: string, who = owner) => who.api.send('POST', `/console/api/approvals/${id}/approve`);
  const sentTexts = () => telegram.sent.map((m) => m.text);

  const grantIds = async () =>
    ((await (await owner.api.get('/console/api/apps')).json()) as { apps: { grant_id: string }[] }).apps.map((a) => a.grant_id);
  /** An agent token with its grant id: the one grant the Connected apps page did not list before. */
  async function newAgent() {
    const before = new Set(await grantIds());
    const token = await owner.agentToken(['telegram.post_any']);
    const grantId = (await grantIds()).find((id) => !before.has(id))!;
    return { token, grantId };
  }

  beforeAll(async () => {
    telegram = await startFakeTelegram();
    server = await startTestServer({ backend, env: { TELEGRAM_API_ROOT: telegram.url, UPSTREAM_TIMEOUT_MS: '2000' } });
    owner = await Owner.signUp(server);
    stranger = await Owner.signUp(server);
    botToken = telegram.addBot({ username: 'owner_bot', chats: [channel] }).token;
    const connected = await owner.api.send('POST', '/console/api/connections', {
      kind: 'telegram.bot',
      bot_token: botToken,
      chats: '@releasenotes',
    });
    expect(connected.status).toBe(201);
    agent = await newAgent();
  });
  beforeEach(() => telegram.reset());
  afterAll(async () => {
    await server?.stop();
    await telegram?.stop();
  });

  it('holds a post of an app whose limits say so, and shows the owner its full text and who asked', async () => {
    const limits = await owner.api.send('PUT', `/console/api/apps/${agent.grantId}/policy`, { hold_for_approval: true });
    expect(limits.status).toBe(200);
    const text = 'Release 4.2 is out.\nRead the notes before upgrading.';
    const held = await callApi(server, '/telegram/messages', agent.token, { body: { chat: '@releasenotes', text } });
    expect(held.status).toBe(202);
    expect(held.body).toMatchObject({ status: 'pending_approval', id: expect.stringMatching(/^held_/) });
    expect(telegram.sent).toEqual([]);

    const { pending } = await approvals(owner);
    expect(pending).toEqual([
      expect.objectContaining({
        id: held.body.id,
        action: 'telegram.send',
        text,
        status: 'pending',
        decided_at: null,
        app: { name: expect.stringMatching(/^Your agent: /), client_id: 'oauth3-agents', grant_id: agent.grantId },
      }),
    ]);
    const page = await (await owner.browser.request('/console/approvals')).text();
    expect(page).toContain('Release 4.2 is out.\nRead the notes before upgrading.');
    expect(page).toContain('Send Telegram messages');
    expect(page).toContain(`action="/console/approvals/${String(held.body.id)}/approve"`);
    // The count is in the navigation of every page, and the overview says it in words.
    expect(page).toMatch(/Approvals <span class="nav-count">1<span class="visually-hidden"> waiting<\/span><\/span>/);
    expect(await (await owner.browser.request('/console')).text()).toContain('1 post waits for your approval.');
    expect((await approvals(stranger)).pending).toEqual([]);

    const res = await approve(String(held.body.id));
    expect(res.status).toBe(200);
    expect(((await res.json()) as { approval: ApprovalJson }).approval).toMatchObject({ status: 'approved', result: { chat: CHAT_ID } });
    expect(telegram.sent).toEqual([expect.objectContaining({ token: botToken, chat_id: CHAT_ID, text })]);
    await owner.api.send('PUT', `/console/api/apps/${agent.grantId}/policy`, { hold_for_approval: false });
  });

  it('sends an approved post exactly once when two approvals race: one 200, the other 409 already_decided', async () => {
    const before = telegram.sent.length;
    const held = await hold('Racing approvals');
    const answers = await Promise.all([approve(held.id), approve(held.id)]);
    expect(answers.map((r) => r.status).sort()).toEqual([200, 409]);
    const loser = answers.find((r) => r.status === 409)!;
    expect(await loser.json()).toMatchObject({ error: 'already_decided' });
    expect(sentTexts().slice(before)).toEqual(['Racing approvals']);
    expect(telegram.sent.at(-1)!.token).toBe(botToken);

    const again = await approve(held.id);
    expect(again.status).toBe(409);
    expect(sentTexts().slice(before)).toEqual(['Racing approvals']);
    const { recent } = await approvals(owner);
    expect(recent.find((r) => r.id === held.id)).toMatchObject({ status: 'approved', decided_at: expect.any(String) });
  });

  it('never sends a rejected post, and a rejected post cannot be approved afterwards', async () => {
    const before = telegram.sent.length;
    const held = await hold('Please never send this');
    const res = await owner.api.send('POST', `/console/api/approvals/${held.id}/reject`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { approval: ApprovalJson }).approval.status).toBe('rejected');
    expect((await approve(held.id)).status).toBe(409);
    expect((await owner.api.send('POST', `/console/api/approvals/${held.id}/reject`)).status).toBe(409);
    expect(telegram.sent).toHaveLength(before);
    expect((await approvals(owner)).recent.find((r) => r.id === held.id)!.status).toBe('rejected');
  });

  it('records a send that failed upstream as failed, with its code, and shows it on the page', async () => {
    telegram.fail('sendMessage', 'forbidden');
    const viaApi = await hold('The bot was kicked');
    const res = await approve(viaApi.id);
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: 'chat_forbidden' });
    expect((await approvals(owner)).recent.find((r) => r.id === viaApi.id)).toMatchObject({
      status: 'failed',
      result: { error: 'chat_forbidden' },
    });

    const viaPage = await hold('Kicked again');
    const form = await owner.browser.postForm(`/console/approvals/${viaPage.id}/approve`, { csrf: owner.csrf });
    expect(form.status).toBe(303);
    expect(form.headers.get('location')).toBe('/console/approvals?done=failed');
    const page = await (await owner.browser.request('/console/approvals?done=failed')).text();
    expect(page).toContain('role="alert">Approved, but sending failed.');
    expect(page).toContain('<code>chat_forbidden</code>');
    expect(telegram.sent.map((m) => m.text)).not.toContain('Kicked again');
  });

  it('approves and rejects from the page forms, back to the page with a notice', async () => {
    const yes = await hold('Approved from the page');
    const no = await hold('Rejected from the page');
    const approved = await owner.browser.postForm(`/console/approvals/${yes.id}/approve`, { csrf: owner.csrf });
    expect(approved.status).toBe(303);
    expect(approved.headers.get('location')).toBe('/console/approvals?done=approved');
    const rejected = await owner.browser.postForm(`/console/approvals/${no.id}/reject`, { csrf: owner.csrf });
    expect(rejected.headers.get('location')).toBe('/console/approvals?done=rejected');
    expect(sentTexts()).toContain('Approved from the page');
    expect(sentTexts()).not.toContain('Rejected from the page');
    const page = await (await owner.browser.request('/console/approvals?done=rejected')).text();
    expect(page).toContain('Rejected. It will not be sent');
    expect(page).toContain('Nothing is waiting for your approval.');
  });

  it("answers another owner's held post with 404 and leaves it pending", async () => {
    const held = await hold('Not for strangers');
    for (const path of [`/console/api/approvals/${held.id}/approve`, `/console/api/approvals/${held.id}/reject`]) {
      const res = await stranger.api.send('POST', path);
      expect(res.status).toBe(404);
      expect(await res.text()).not.toContain('Not for strangers');
    }
    expect((await stranger.browser.postForm(`/console/approvals/${held.id}/approve`, { csrf: stranger.csrf })).status).toBe(404);
    expect((await owner.api.send('POST', '/console/api/approvals/held_nosuchthing/approve')).status).toBe(404);
    expect((await owner.api.send('POST', `/console/api/approvals/${'x'.repeat(2000)}/approve`)).status).toBe(404);
    expect((await approvals(owner)).pending.map((p) => p.id)).toContain(held.id);
    expect(sentTexts()).not.toContain('Not for strangers');
    await owner.api.send('POST', `/console/api/approvals/${held.id}/reject`);
  });

  it('sends nothing for an app whose access was revoked since: 409 app_revoked, the post expires', async () => {
    const revoked = await newAgent();
    const held = await hold('From a revoked app', revoked.grantId);
    expect((await owner.api.send('DELETE', `/console/api/apps/${revoked.grantId}`)).status).toBe(200);
    const res = await approve(held.id);
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ error: 'app_revoked' });
    expect(sentTexts()).not.toContain('From a revoked app');
    expect((await approvals(owner)).recent.find((r) => r.id === held.id)!.status).toBe('expired');
  });

  it('requires the CSRF token and our own origin to approve or reject', async () => {
    const held = await hold('Guarded');
    for (const path of [`/console/api/approvals/${held.id}/approve`, `/console/api/approvals/${held.id}/reject`]) {
      expect((await owner.api.send('POST', path, undefined, { csrf: null })).status).toBe(403);
      expect((await owner.api.send('POST', path, undefined, { csrf: stranger.csrf })).status).toBe(403);
      expect((await owner.api.send('POST', path, undefined, { origin: 'https://evil.example' })).status).toBe(403);
    }
    expect((await owner.browser.postForm(`/console/approvals/${held.id}/approve`, {})).status).toBe(403);
    expect((await fetch(`${server.url}/console/api/approvals`)).status).toBe(401);
    expect((await approvals(owner)).pending.map((p) => p.id)).toContain(held.id);
    expect(sentTexts()).not.toContain('Guarded');
  });

  it('records each decision in the access log, and the bot token never reaches a response or a log line', async () => {
    const { rows } = await server.db.query<{ kind: string; outcome: string; grant_id: string }>(
      `SELECT kind, outcome, grant_id FROM events WHERE account_id = $1 AND kind LIKE 'action.%' ORDER BY id`,
      [owner.accountId],
    );
    expect(rows.map((r) => `${r.kind}:${r.outcome}`)).toEqual(
      expect.arrayContaining(['action.approved:ok', 'action.rejected:ok', 'action.approved:failure']),
    );
    expect(rows.every((r) => r.grant_id)).toBe(true);
    const pages = await Promise.all(
      ['/console/approvals', '/console/api/approvals', '/console/connections'].map(async (p) => (await owner.browser.request(p)).text()),
    );
    expect(pages.join('') + server.logs.join('')).not.toContain(botToken);
  });
});
