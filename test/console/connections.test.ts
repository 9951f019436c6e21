import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { Owner } from '../helpers/owner.js';
import type { ConnectionJson } from '../helpers/connections.js';
import { startFakeTelegram, type FakeChat, type FakeTelegram } from '../fakes/telegram.js';

interface WayJson {
  id: string;
  provider: string;
  title: string;
  method: 'paste' | 'oauth';
  fields?: { name: string; type: string }[];
  oauth_provider?: string;
}

const channel: FakeChat = { id: -1001234567890, type: 'channel', title: 'Release notes', username: 'releasenotes' };
const fakehub = {
  id: 'fakehub',
  title: 'FakeHub',
  authorizationUrl: 'http://127.0.0.1:9/oauth/authorize',
  tokenUrl: 'http://127.0.0.1:9/oauth/token',
  clientId: 'fakehub-client',
  scopes: ['read'],
};

/**
 * Connected accounts: an owner connects a Telegram bot by pasting its token (checked against a
 * fake Bot API before it is saved), starts an OAuth connect with a configured provider, and disconnects. No page,
 * JSON answer or log line ever holds a pasted credential (threat model G2).
 */
describe.each(backends())('connected accounts on %s storage', (backend) => {
  let server: TestServer;
  let telegram: FakeTelegram;
  let owner: Owner;
  let stranger: Owner;
  /** Every bot token pasted in this suite, to prove none comes back anywhere. */
  const secrets: string[] = [];

  const newBot = (username: string) => {
    const { token } = telegram.addBot({ username, chats: [channel] });
    secrets.push(token);
    return token;
  };
  const list = async (who: Owner) =>
    (await (await who.api.get('/console/api/connections')).json()) as { connections: ConnectionJson[]; ways: WayJson[] };

  beforeAll(async () => {
    telegram = await startFakeTelegram();
    server = await startTestServer({
      backend,
      env: { TELEGRAM_API_ROOT: telegram.url, UPSTREAM_TIMEOUT_MS: '2000', UPSTREAM_PROVIDERS: JSON.stringify([fakehub]) },
    });
    owner = await Owner.signUp(server);
    stranger = await Owner.signUp(server);
  });
  beforeEach(() => telegram.reset());
  afterAll(async () => {
    await server?.stop();
    await telegram?.stop();
  });

  it('offers every way to connect from the plugins and the configured providers, with secrets as password fields', async () => {
    const { ways } = await list(owner);
    const bot = ways.find((w) => w.id === 'telegram.bot');
    expect(bot).toMatchObject({ provider: 'telegram', method: 'paste' });
    expect(bot!.fields).toContainEqual(expect.objectContaining({ name: 'bot_token', type: 'password' }));
    expect(ways).toContainEqual(
      expect.objectContaining({ id: 'oauth2:fakehub', title: 'FakeHub', method: 'oauth', oauth_provider: 'fakehub' }),
    );
    // X by OAuth needs the operator's X client id, which this server lacks: it is not offered.
    expect(ways.filter((w) => w.method === 'oauth').map((w) => w.oauth_provider)).toEqual(['fakehub']);

    const page = await (await owner.browser.request('/console/connections')).text();
    expect(page).toContain('<h1>Connected accounts</h1>');
    expect(page).toMatch(/<input id="telegram-bot-bot_token" name="bot_token" type="password"/);
    expect(page).toContain('action="/console/connections/oauth/fakehub"');
  });

  it('checks a pasted bot token with Telegram, saves it, and lists the bot by name, never its token', async () => {
    const token = newBot('news_bot');
    const res = await owner.api.send('POST', '/console/api/connections', {
      kind: 'telegram.bot',
      bot_token: token,
      chats: '@releasenotes',
    });
    const text = await res.text();
    expect(res.status).toBe(201);
    expect(text).not.toContain(token);
    expect(JSON.parse(text)).toEqual({
      connection: expect.objectContaining({
        provider: 'telegram',
        kind: 'telegram.bot',
        label: '@news_bot',
        status: 'active',
        needs_relink: false,
      }),
    });
    expect(telegram.calls).toContainEqual(expect.objectContaining({ token, method: 'getMe' }));

    const listed = await owner.api.get('/console/api/connections');
    const listedText = await listed.text();
    expect(listedText).not.toContain(token);
    expect((JSON.parse(listedText) as { connections: ConnectionJson[] }).connections).toEqual([
      expect.objectContaining({ label: '@news_bot', provider: 'telegram', last_used_at: null }),
    ]);
    const page = await (await owner.browser.request('/console/connections')).text();
    expect(page).toContain('@news_bot');
    expect(page).not.toContain(token);
    // Stored sealed: the token is in no column of the row.
    expect(JSON.stringify((await server.db.query('SELECT * FROM connections')).rows)).not.toContain(token);
  });

  it('refuses a token Telegram does not accept with 400 invalid_credential, saves nothing and does not echo it', async () => {
    const token = newBot('gone_bot');
    telegram.revoke(token);
    const before = (await list(stranger)).connections.length;
    const res = await stranger.api.send('POST', '/console/api/connections', {
      kind: 'telegram.bot',
      bot_token: token,
      chats: '@releasenotes',
    });
    const text = await res.text();
    expect(res.status).toBe(400);
    expect(JSON.parse(text)).toEqual({ error: 'invalid_credential', error_description: expect.any(String) });
    expect(text).not.toContain(token);
    expect((await list(stranger)).connections).toHaveLength(before);
  });

  it('refuses malformed input before calling Telegram, naming the field', async () => {
    const calls = telegram.calls.length;
    const res = await stranger.api.send('POST', '/console/api/connections', {
      kind: 'telegram.bot',
      bot_token: 'not-a-token-at-all',
      chats: '@releasenotes',
    });
    const body = (await res.json()) as { error: string; error_description: string };
    expect(res.status).toBe(400);
    expect(body.error).toBe('invalid_request');
    expect(body.error_description).toMatch(/^Bot token: /);
    expect(body.error_description).not.toContain('not-a-token-at-all');
    expect(telegram.calls).toHaveLength(calls);

    for (const bad of [{ kind: 'nope', bot_token: 'x' }, { bot_token: 'x' }, ['telegram.bot']]) {
      const answer = await stranger.api.send('POST', '/console/api/connections', bad);
      expect(answer.status).toBe(400);
    }
    expect((await list(stranger)).connections).toEqual([]);
  });

  it('answers an unreachable Telegram with 502 and saves nothing', async () => {
    const token = newBot('down_bot');
    telegram.fail('getMe', 'bad_gateway');
    const res = await stranger.api.send('POST', '/console/api/connections', {
      kind: 'telegram.bot',
      bot_token: token,
      chats: '@releasenotes',
    });
    const text = await res.text();
    expect(res.status).toBe(502);
    expect(text).not.toContain(token);
    expect((await list(stranger)).connections).toEqual([]);
  });

  it('connects from the page form; a refused token shows the problem in that form without the token', async () => {
    const bad = newBot('typo_bot');
    telegram.revoke(bad);
    const refused = await stranger.browser.postForm('/console/connections', {
      csrf: stranger.csrf,
      kind: 'telegram.bot',
      bot_token: bad,
      chats: '@releasenotes',
    });
    const page = await refused.text();
    expect(refused.status).toBe(400);
    expect(page).toMatch(/<p class="field-error" role="alert" id="telegram-bot-problem">[^<]*Telegram did not accept this bot token/);
    // Each field points at the problem, so a screen reader reads it with the field.
    expect(page).toMatch(/<input id="telegram-bot-bot_token" name="bot_token"[^>]*aria-describedby="telegram-bot-problem[ "]/);
    expect(page).not.toContain(bad);
    // What is not secret stays typed.
    expect(page).toMatch(/<textarea id="telegram-bot-chats" name="chats"[^>]*>@releasenotes<\/textarea>/);

    const good = newBot('form_bot');
    const res = await stranger.browser.postForm('/console/connections', {
      csrf: stranger.csrf,
      kind: 'telegram.bot',
      bot_token: good,
      chats: '@releasenotes',
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/console/connections?done=connected');
    const after = await (await stranger.browser.request('/console/connections?done=connected')).text();
    expect(after).toContain('Account connected.');
    expect(after).toContain('@form_bot');
    expect(after).not.toContain(good);
  });

  it('shows a connection the upstream refused as "Needs re-link", with what to do', async () => {
    const [connection] = await server.app.connections.list(stranger.accountId);
    await server.app.connections.markNeedsRelink(connection!, 'Telegram answered 401');
    const { connections } = await list(stranger);
    expect(connections[0]).toMatchObject({ status: 'needs_relink', needs_relink: true, last_error: 'Telegram answered 401' });
    const page = await (await stranger.browser.request('/console/connections')).text();
    expect(page).toContain('Needs re-link');
    expect(page).toContain('connect it again below');
  });

  it('starts an OAuth connect: state and PKCE stay on the server, the owner is sent to the provider', async () => {
    const res = await owner.api.send('POST', '/console/api/connections/oauth/fakehub');
    expect(res.status).toBe(200);
    const url = new URL(((await res.json()) as { authorization_url: string }).authorization_url);
    expect(url.origin + url.pathname).toBe(fakehub.authorizationUrl);
    expect(url.searchParams.get('client_id')).toBe('fakehub-client');
    expect(url.searchParams.get('redirect_uri')).toBe(`${server.url}/connections/callback`);
    expect(url.searchParams.get('state')).toEqual(expect.any(String));
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    const { rows } = await server.db.query<{ account_id: string; return_to: string }>(
      'SELECT account_id, return_to FROM upstream_auth_requests WHERE state = $1',
      [url.searchParams.get('state')],
    );
    expect(rows).toEqual([{ account_id: owner.accountId, return_to: '/console/connections' }]);

    const form = await owner.browser.postForm('/console/connections/oauth/fakehub', { csrf: owner.csrf });
    expect(form.status).toBe(303);
    expect(form.headers.get('location')).toMatch(new RegExp(`^${fakehub.authorizationUrl}\\?`));

    expect((await owner.api.send('POST', '/console/api/connections/oauth/nosuchprovider')).status).toBe(404);
    expect((await owner.api.send('POST', '/console/api/connections/oauth/..%2Fadmin')).status).toBe(404);
  });

  it("answers another owner's connection with 404 and leaves it connected; the owner disconnects it", async () => {
    const [mine] = (await list(owner)).connections;
    const viaApi = await stranger.api.send('DELETE', `/console/api/connections/${mine!.id}`);
    expect(viaApi.status).toBe(404);
    expect(await viaApi.text()).not.toContain('news_bot');
    expect((await stranger.browser.postForm(`/console/connections/${mine!.id}/disconnect`, { csrf: stranger.csrf })).status).toBe(404);
    expect((await owner.api.send('DELETE', '/console/api/connections/con_nosuchthing')).status).toBe(404);
    expect((await owner.api.send('DELETE', `/console/api/connections/${'x'.repeat(3000)}`)).status).toBe(404);
    expect((await list(owner)).connections.map((c) => c.id)).toEqual([mine!.id]);

    const res = await owner.api.send('DELETE', `/console/api/connections/${mine!.id}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ removed: true });
    expect((await list(owner)).connections).toEqual([]);
    expect((await owner.api.send('DELETE', `/console/api/connections/${mine!.id}`)).status).toBe(404);

    const [theirs] = (await list(stranger)).connections;
    const form = await stranger.browser.postForm(`/console/connections/${theirs!.id}/disconnect`, { csrf: stranger.csrf });
    expect(form.status).toBe(303);
    expect(form.headers.get('location')).toBe('/console/connections?done=disconnected');
    expect((await list(stranger)).connections).toEqual([]);
  });

  it('requires a session, the CSRF token and our own origin for every change', async () => {
    const token = newBot('guarded_bot');
    const body = { kind: 'telegram.bot', bot_token: token, chats: '@releasenotes' };
    expect((await fetch(`${server.url}/console/api/connections`)).status).toBe(401);
    expect(
      (
        await fetch(`${server.url}/console/api/connections`, {
          method: 'POST',
          headers: { origin: server.url, 'content-type': 'application/json', 'x-csrf-token': owner.csrf },
          body: JSON.stringify(body),
        })
      ).status,
    ).toBe(401);
    expect((await owner.api.send('POST', '/console/api/connections', body, { csrf: null })).status).toBe(403);
    expect((await owner.api.send('POST', '/console/api/connections', body, { csrf: stranger.csrf })).status).toBe(403);
    expect((await owner.api.send('POST', '/console/api/connections', body, { origin: 'https://evil.example' })).status).toBe(403);
    expect(
      (await owner.browser.postForm('/console/connections', { kind: 'telegram.bot', bot_token: token, chats: '@releasenotes' })).status,
    ).toBe(403);
    expect((await owner.api.send('POST', '/console/api/connections/oauth/fakehub', undefined, { csrf: null })).status).toBe(403);
    expect((await owner.browser.postForm('/console/connections/oauth/fakehub', {}, { origin: 'https://evil.example' })).status).toBe(403);
    expect((await list(owner)).connections).toEqual([]);
    expect(telegram.calls.filter((c) => c.token === token)).toEqual([]);

    const saved = await owner.api.send('POST', '/console/api/connections', body);
    const { connection } = (await saved.json()) as { connection: ConnectionJson };
    expect((await owner.api.send('DELETE', `/console/api/connections/${connection.id}`, undefined, { csrf: null })).status).toBe(403);
    expect(
      (await owner.api.send('DELETE', `/console/api/connections/${connection.id}`, undefined, { origin: 'https://evil.example' })).status,
    ).toBe(403);
    expect((await owner.browser.postForm(`/console/connections/${connection.id}/disconnect`, {})).status).toBe(403);
    expect((await list(owner)).connections.map((c) => c.id)).toEqual([connection.id]);
  });

  it('records connecting and disconnecting in the access log, and no pasted token reaches a log line', async () => {
    const { rows } = await server.db.query<{ kind: string; detail: Record<string, unknown> }>(
      `SELECT kind, detail FROM events WHERE account_id = $1 AND kind LIKE 'connection.%' ORDER BY id`,
      [owner.accountId],
    );
    expect(rows.map((r) => r.kind)).toEqual(['connection.added', 'connection.removed', 'connection.added']);
    expect(rows[0]!.detail).toEqual({ provider: 'telegram', kind: 'telegram.bot', label: '@news_bot' });
    const everything = JSON.stringify((await server.db.query('SELECT * FROM events')).rows) + server.logs.join('');
    expect(secrets.length).toBeGreaterThan(5);
    for (const secret of secrets) expect(everything).not.toContain(secret);
  });
});
