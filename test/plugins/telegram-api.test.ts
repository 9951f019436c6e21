import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { Owner, callApi } from '../helpers/owner.js';
import type { ConnectionJson } from '../helpers/connections.js';
import { redirectUri, type Client } from '../helpers/token-flow.js';
import { startFakeTelegram, type FakeChat, type Failure, type FakeTelegram } from '../fakes/telegram.js';

const channel: FakeChat = { id: -1001234567890, type: 'channel', title: 'Release notes', username: 'releasenotes' };
const group: FakeChat = { id: -4000000001, type: 'group', title: 'Team' };
const elsewhere: FakeChat = { id: -4000000099, type: 'group', title: 'Not on the list' };

/**
 * Telegram end to end: an owner connects a bot in the console; an app (through consent) and an
 * agent (a minted token) send messages with `telegram.post_any`; the fake Bot API receives exactly those messages
 * with the owner's bot token, which no response and no log line ever shows (threat model G2).
 */
describe('Telegram messages through the resource API', () => {
  let fake: FakeTelegram;
  let server: TestServer;
  let owner: Owner;
  let botToken: string;
  let client: Client;
  let appToken: string;
  let agentToken: string;
  /** Every bot token a test handed to the server, and every response body and header the server sent back. */
  const tokens: string[] = [];
  const seen: string[] = [];

  const api = async (path: string, token: string | undefined, init: Parameters<typeof callApi>[3] = {}) => {
    const reply = await callApi(server, path, token, init);
    reply.headers.forEach((value, name) => seen.push(`${name}: ${value}`));
    seen.push(reply.text);
    return reply;
  };
  const post = (token: string, body: Record<string, unknown>) => api('/telegram/messages', token, { body });

  async function consoleCall(who: Owner, method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown) {
    const res =
      method === 'GET'
        ? await who.api.get(path)
        : method === 'POST'
          ? await who.api.send('POST', path, body)
          : await who.browser.request(path, {
              method,
              headers: { accept: 'application/json', 'content-type': 'application/json', 'x-csrf-token': who.csrf },
              body: JSON.stringify(body),
            });
    const text = await res.text();
    seen.push(text);
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  }
  const connect = (who: Owner, bot_token: string, chats: unknown) =>
    consoleCall(who, 'POST', '/console/api/connections', { kind: 'telegram.bot', bot_token, chats });
  const connectionsOf = async (who: Owner) =>
    (await consoleCall(who, 'GET', '/console/api/connections')).body.connections as ConnectionJson[];
  const newBot = (username: string, chats: FakeChat[] = [channel, group]) => {
    const { token } = fake.addBot({ username, chats });
    tokens.push(token);
    return token;
  };
  /** The app's grant, to set its policy as the owner would in the console. */
  async function setAppPolicy(policy: Record<string, unknown>) {
    const apps = (await consoleCall(owner, 'GET', '/console/api/apps')).body.apps as { grant_id: string; client_id: string }[];
    const grant = apps.find((a) => a.client_id === client.clientId)!;
    const reply = await consoleCall(owner, 'PUT', `/console/api/apps/${grant.grant_id}/policy`, policy);
    expect(reply.status).toBe(200);
  }

  beforeAll(async () => {
    fake = await startFakeTelegram();
    server = await startTestServer({ env: { TELEGRAM_API_ROOT: fake.url, UPSTREAM_TIMEOUT_MS: '1000' } });
    owner = await Owner.signUp(server);
    botToken = newBot('release_bot');
    client = await server.addClient({ name: 'Release app', redirectUris: [redirectUri] });
  });
  beforeEach(() => fake.reset());
  afterAll(async () => {
    await server?.stop();
    await fake?.stop();
  });

  describe('connecting a bot in the console', () => {
    it("checks the token with Telegram, labels the connection with the bot's @username, and never echoes the token", async () => {
      const reply = await connect(owner, botToken, '@releasenotes\n-4000000001');
      expect(reply.status).toBe(201);
      expect(reply.body.connection).toMatchObject({ provider: 'telegram', kind: 'telegram.bot', label: '@release_bot', status: 'active' });
      expect(fake.calls.filter((c) => c.token === botToken).map((c) => c.method)).toEqual(expect.arrayContaining(['getMe', 'getChat']));
      expect(await connectionsOf(owner)).toEqual([expect.objectContaining({ label: '@release_bot' })]);
    });

    it('refuses a token Telegram rejects with 400 invalid_credential and saves nothing', async () => {
      const stranger = await Owner.signUp(server);
      const revoked = newBot('gone_bot');
      fake.revoke(revoked);
      const reply = await connect(stranger, revoked, ['-4000000001']);
      expect({ status: reply.status, error: reply.body.error }).toEqual({ status: 400, error: 'invalid_credential' });
      expect(await connectionsOf(stranger)).toEqual([]);
    });

    it('refuses a chat the bot cannot see with 400 chat_not_found naming it, and saves nothing', async () => {
      const stranger = await Owner.signUp(server);
      const reply = await connect(stranger, newBot('lonely_bot', [group]), ['-4000000001', '@releasenotes']);
      expect({ status: reply.status, error: reply.body.error }).toEqual({ status: 400, error: 'chat_not_found' });
      expect(reply.body.error_description).toContain('@releasenotes');
      expect(await connectionsOf(stranger)).toEqual([]);
    });
  });

  describe('sending', () => {
    beforeAll(async () => {
      appToken = (await owner.appToken(client, 'telegram.post_any')).accessToken;
      agentToken = await owner.agentToken(['telegram.post_any']);
    });

    it("an app with a token from consent sends a message; Telegram receives exactly it, from the owner's bot", async () => {
      const before = fake.sent.length;
      const reply = await post(appToken, { chat: '@releasenotes', text: 'v2.1 is out' });
      expect(reply.status).toBe(201);
      expect(reply.body).toEqual({ message_id: expect.any(Number), chat: '-1001234567890' });
      // The username was resolved when the bot was connected; the message goes to that channel's stable id.
      expect(fake.sent.slice(before)).toEqual([
        expect.objectContaining({ token: botToken, chat_id: '-1001234567890', text: 'v2.1 is out' }),
      ]);
    });

    it('an agent with a minted token sends with a parse mode and silently', async () => {
      const before = fake.sent.length;
      const reply = await post(agentToken, {
        chat: '-4000000001',
        text: '<b>build green</b>',
        parse_mode: 'HTML',
        disable_notification: true,
      });
      expect(reply.status).toBe(201);
      expect(fake.sent.slice(before)).toEqual([
        expect.objectContaining({
          token: botToken,
          chat_id: '-4000000001',
          text: '<b>build green</b>',
          parse_mode: 'HTML',
          disable_notification: true,
        }),
      ]);
    });

    it('lists the chats the owner allowed, without the token', async () => {
      const reply = await api('/telegram/chats', agentToken);
      expect(reply.status).toBe(200);
      expect(reply.body).toEqual({
        bot: '@release_bot',
        chats: [
          { id: '-1001234567890', username: '@releasenotes', title: 'Release notes', type: 'channel' },
          { id: '-4000000001', username: null, title: 'Team', type: 'group' },
        ],
      });
    });

    it("refuses a chat outside the owner's list with 403 chat_not_allowed, and Telegram hears nothing", async () => {
      fake.addBot({ username: 'unused', chats: [elsewhere] });
      const calls = fake.calls.length;
      for (const chat of [String(elsewhere.id), '@someotherchannel']) {
        const reply = await post(appToken, { chat, text: 'hello' });
        expect({ status: reply.status, error: reply.body.error }).toEqual({ status: 403, error: 'chat_not_allowed' });
      }
      expect(fake.calls.length).toBe(calls);
    });

    it('refuses a token without telegram.post_any with 403 insufficient_scope', async () => {
      const reader = await owner.agentToken(['tweet.read']);
      const calls = fake.calls.length;
      const reply = await post(reader, { chat: '-4000000001', text: 'hello' });
      expect({ status: reply.status, error: reply.body.error }).toEqual({ status: 403, error: 'insufficient_scope' });
      expect(reply.headers.get('www-authenticate')).toMatch(/^Bearer .*insufficient_scope/);
      expect((await api('/telegram/chats', reader)).status).toBe(403);
      expect(fake.calls.length).toBe(calls);
    });

    it.each([
      ['an empty text', { chat: '-4000000001', text: '' }],
      ['a blank text', { chat: '-4000000001', text: '  \n ' }],
      ['a text over 4096 characters', { chat: '-4000000001', text: 'x'.repeat(4097) }],
      ['an unknown parse mode', { chat: '-4000000001', text: 'hi', parse_mode: 'BBCode' }],
      ['a chat that is not a chat id or @username', { chat: '../../getUpdates', text: 'hi' }],
    ])('refuses %s with 400 before calling Telegram', async (_name, body) => {
      const calls = fake.calls.length;
      const reply = await post(agentToken, body);
      expect({ status: reply.status, error: reply.body.error }).toEqual({ status: 400, error: 'invalid_request' });
      expect(fake.calls.length).toBe(calls);
    });

    it('answers 409 not_connected for an owner who has not connected a bot', async () => {
      const stranger = await Owner.signUp(server);
      const reply = await post(await stranger.agentToken(['telegram.post_any']), { chat: '-4000000001', text: 'hello' });
      expect({ status: reply.status, error: reply.body.error }).toEqual({ status: 409, error: 'not_connected' });
    });
  });

  describe('when Telegram fails', () => {
    it.each<[Failure, number, string]>([
      ['forbidden', 403, 'chat_forbidden'],
      ['parse_error', 400, 'invalid_message'],
      ['rate_limited', 429, 'upstream_rate_limited'],
      ['server_error', 502, 'upstream_error'],
      ['bad_gateway', 502, 'upstream_error'],
      ['garbage', 502, 'upstream_error'],
      ['malformed', 502, 'upstream_error'],
      ['hang', 504, 'upstream_timeout'],
    ])('Telegram answering %s gives %i %s', async (failure, status, error) => {
      fake.fail('sendMessage', failure);
      const reply = await post(agentToken, { chat: '-4000000001', text: 'hello *world', parse_mode: 'MarkdownV2' });
      expect({ status: reply.status, error: reply.body.error }).toEqual({ status, error });
      expect(reply.body.error_description).toEqual(expect.any(String));
      if (failure === 'rate_limited') expect(reply.headers.get('retry-after')).toBe('17');
      if (failure === 'parse_error') expect(reply.body.error_description).toMatch(/can't parse entities/);
    });

    it('marks the connection for re-linking when Telegram rejects the token, and stops calling it until the owner reconnects', async () => {
      const stranger = await Owner.signUp(server);
      const oldToken = newBot('soon_revoked_bot');
      expect((await connect(stranger, oldToken, ['-4000000001'])).status).toBe(201);
      const token = await stranger.agentToken(['telegram.post_any']);
      fake.revoke(oldToken);

      const refused = await post(token, { chat: '-4000000001', text: 'hello' });
      expect({ status: refused.status, error: refused.body.error }).toEqual({ status: 409, error: 'reconnect_required' });
      expect(await connectionsOf(stranger)).toEqual([expect.objectContaining({ label: '@soon_revoked_bot', status: 'needs_relink' })]);

      const calls = fake.calls.length;
      const again = await post(token, { chat: '-4000000001', text: 'hello' });
      expect({ status: again.status, error: again.body.error }).toEqual({ status: 409, error: 'reconnect_required' });
      expect(fake.calls.length).toBe(calls);

      const newToken = newBot('fresh_bot');
      expect((await connect(stranger, newToken, ['-4000000001'])).status).toBe(201);
      const before = fake.sent.length;
      expect((await post(token, { chat: '-4000000001', text: 'back again' })).status).toBe(201);
      expect(fake.sent.slice(before)).toEqual([expect.objectContaining({ token: newToken, chat_id: '-4000000001', text: 'back again' })]);
    });
  });

  describe("the owner's policy for the app", () => {
    afterAll(() => setAppPolicy({}));

    it('refuses a message with a blocked word with 403 policy_blocked_word, and Telegram hears nothing', async () => {
      await setAppPolicy({ blocked_words: ['launch date'] });
      const calls = fake.calls.length;
      const reply = await post(appToken, { chat: '-4000000001', text: 'The Launch Date is friday' });
      expect({ status: reply.status, error: reply.body.error }).toEqual({ status: 403, error: 'policy_blocked_word' });
      expect(fake.calls.length).toBe(calls);
    });

    it("holds a message for approval, and sends it from the owner's bot when the owner approves it", async () => {
      await setAppPolicy({ hold_for_approval: true });
      const before = fake.sent.length;
      const held = await post(appToken, { chat: '@releasenotes', text: 'waiting for the owner' });
      expect(held.status).toBe(202);
      expect(held.body).toMatchObject({ status: 'pending_approval', id: expect.any(String) });
      expect(fake.sent.length).toBe(before);

      const approved = await consoleCall(owner, 'POST', `/console/api/approvals/${String(held.body.id)}/approve`);
      expect(approved.status).toBe(200);
      expect(approved.body.approval).toMatchObject({
        status: 'approved',
        result: { message_id: expect.any(Number), chat: '-1001234567890' },
      });
      expect(fake.sent.slice(before)).toEqual([
        expect.objectContaining({ token: botToken, chat_id: '-1001234567890', text: 'waiting for the owner' }),
      ]);
    });

    it('marks the connection for re-linking when a held message is approved after Telegram stopped accepting the bot', async () => {
      const other = await Owner.signUp(server);
      const doomed = newBot('approval_bot');
      expect((await connect(other, doomed, ['-4000000001'])).status).toBe(201);
      const otherApp = await other.appToken(client, 'telegram.post_any');
      const apps = (await consoleCall(other, 'GET', '/console/api/apps')).body.apps as { grant_id: string; client_id: string }[];
      const grant = apps.find((a) => a.client_id === client.clientId)!;
      expect((await consoleCall(other, 'PUT', `/console/api/apps/${grant.grant_id}/policy`, { hold_for_approval: true })).status).toBe(200);
      const held = await post(otherApp.accessToken, { chat: '-4000000001', text: 'sent after revocation' });
      expect(held.status).toBe(202);
      fake.revoke(doomed);

      const approved = await consoleCall(other, 'POST', `/console/api/approvals/${String(held.body.id)}/approve`);
      expect({ status: approved.status, error: approved.body.error }).toEqual({ status: 409, error: 'reconnect_required' });
      expect(await connectionsOf(other)).toEqual([expect.objectContaining({ label: '@approval_bot', status: 'needs_relink' })]);
    });
  });

  it('never shows a bot token in any response or log line, even after upstream errors, timeouts and garbage replies (G2)', () => {
    expect(tokens.length).toBeGreaterThan(3);
    expect(server.logs.length).toBeGreaterThan(0);
    const logs = server.logs.join('\n');
    const responses = seen.join('\n');
    for (const token of tokens) {
      for (const form of [token, encodeURIComponent(token), token.split(':')[1]!]) {
        expect(logs).not.toContain(form);
        expect(responses).not.toContain(form);
      }
    }
  });
});
