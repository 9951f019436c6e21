import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { Owner, callApi } from '../helpers/owner.js';
import { redirectUri, type Client } from '../helpers/token-flow.js';
import { FakeX, type FakeXUser } from '../fakes/x.js';

const headersText = (headers: Headers) => {
  const lines: string[] = [];
  headers.forEach((value, name) => lines.push(`${name}: ${value}`));
  return lines.join('\n');
};

const X_APP = { clientId: 'oauth3-x-app', clientSecret: 'x-app-secret-value-123' };

/**
 * The X plugin end to end: owners connect X by cookie and by OAuth, apps and
 * agents post, delete and read with tweet.* tokens, and the fake X receives exactly those posts with exactly the
 * owner's credential. Every response and log line is searched for the credentials (threat model G2).
 */
describe('the Twitter/X plugin', () => {
  let x: FakeX;
  let server: TestServer;
  let cookieOwner: Owner;
  let cookie: { auth_token: string; ct0: string; user: FakeXUser };
  let app: Client;
  /** Every response body and header block the tests saw, searched for credentials at the end. */
  const seen: string[] = [];
  /** Credentials pasted or handed out by X along the way, searched for at the end too. */
  const secrets: string[] = [];

  const api = async (path: string, token: string, init: Parameters<typeof callApi>[3] = {}) => {
    const res = await callApi(server, path, token, init);
    seen.push(res.text, headersText(res.headers));
    return res;
  };
  const consoleCall = async (owner: Owner, method: 'POST' | 'DELETE', path: string, body?: unknown) => {
    const res = await owner.api.send(method, path, body);
    const text = await res.text();
    seen.push(text, headersText(res.headers));
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, text };
  };
  const connections = async (owner: Owner) =>
    ((await (await owner.api.get('/console/api/connections')).json()) as { connections: Record<string, unknown>[] }).connections;

  beforeAll(async () => {
    x = await FakeX.start();
    x.oauthClients.set(X_APP.clientId, { secret: X_APP.clientSecret });
    server = await startTestServer({
      env: x.env({ X_CLIENT_ID: X_APP.clientId, X_CLIENT_SECRET: X_APP.clientSecret, UPSTREAM_TIMEOUT_MS: '2000' }),
    });
    cookieOwner = await Owner.signUp(server);
    cookie = x.signIn(x.user('alice_x'));
    app = await server.addClient({ name: 'Poster app', redirectUris: [redirectUri] });
  });
  afterAll(async () => {
    await server?.stop();
    await x?.close();
  });
  beforeEach(() => x.clearFailures());

  describe('connecting by cookie', () => {
    it('refuses a cookie X does not accept with 400 invalid_credential and saves nothing', async () => {
      const res = await consoleCall(cookieOwner, 'POST', '/console/api/connections', {
        kind: 'x.cookie',
        auth_token: 'c'.repeat(40),
        ct0: 'd'.repeat(160),
      });
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('invalid_credential');
      expect(res.text).not.toContain('c'.repeat(40));
      expect(await connections(cookieOwner)).toEqual([]);
    });

    it('checks the cookie with X, then saves it labelled with the handle, never showing it', async () => {
      const res = await consoleCall(cookieOwner, 'POST', '/console/api/connections', {
        kind: 'x.cookie',
        auth_token: cookie.auth_token,
        ct0: cookie.ct0,
      });
      expect(res.status).toBe(201);
      expect(res.body.connection).toMatchObject({ provider: 'x', kind: 'x.cookie', label: '@alice_x', status: 'active' });
      expect(x.requests.at(-1)!.path).toBe('/i/api/1.1/account/verify_credentials.json');
      const listed = await connections(cookieOwner);
      expect(listed).toHaveLength(1);
      expect(JSON.stringify(listed)).not.toContain(cookie.auth_token);
    });
  });

  describe('connecting by auth_token alone', () => {
    let tokenOwner: Owner;
    let session: { auth_token: string; ct0: string; user: FakeXUser };
    beforeAll(async () => {
      tokenOwner = await Owner.signUp(server);
      session = x.signIn(x.user('frank_x'));
    });

    it('asks only for auth_token, with numbered steps for Chrome, Firefox and Safari', async () => {
      const page = await (await tokenOwner.browser.request('/console/connections/connect/x')).text();
      seen.push(page);
      const form = /<form method="post" action="\/console\/connections" class="connect-form">[\s\S]*?<\/form>/.exec(page)![0];
      expect([...form.matchAll(/<input id="[^"]+" name="([^"]+)"/g)].map((m) => m[1])).toEqual(['auth_token']);
      expect(form).not.toContain('ct0');
      for (const browser of ['Chrome', 'Firefox', 'Safari']) expect(page).toContain(`<summary>In ${browser}</summary>`);
      expect(page).toMatch(/<ol class="steps">\s*<li>Open x\.com and sign in\.<\/li>/);
    });

    it('gets ct0 from X, saves the account, and posts with the pair X accepted', async () => {
      const res = await consoleCall(tokenOwner, 'POST', '/console/api/connections', { kind: 'x.cookie', auth_token: session.auth_token });
      expect(res.status).toBe(201);
      expect(res.body.connection).toMatchObject({ provider: 'x', kind: 'x.cookie', label: '@frank_x', status: 'active' });
      const handed = x.ct0For(session.auth_token)!;
      const token = await tokenOwner.agentToken(['tweet.post']);
      const posted = await api('/tweet', token, { body: { text: 'Only auth_token was pasted' } });
      expect(posted.status).toBe(201);
      expect(x.posts.at(-1)).toMatchObject({
        text: 'Only auth_token was pasted',
        credential: { auth_token: session.auth_token, ct0: handed },
      });
    });

    it('says plainly on the page when X refuses the auth_token, and keeps no trace of it in the form', async () => {
      const refused = 'f0'.repeat(20);
      const res = await tokenOwner.browser.postForm('/console/connections', {
        csrf: tokenOwner.csrf,
        kind: 'x.cookie',
        auth_token: refused,
      });
      const page = await res.text();
      seen.push(page, headersText(res.headers));
      expect(res.status).toBe(400);
      expect(page).toContain('X did not accept this auth_token: it has expired, you signed out of x.com, or it was copied incompletely.');
      expect(page).toContain('aria-invalid="true"');
      expect(page).not.toContain(refused);
      secrets.push(refused, x.ct0For(refused)!);
    });

    it('says plainly when X cannot be reached', async () => {
      x.fail('reset');
      const res = await consoleCall(tokenOwner, 'POST', '/console/api/connections', { kind: 'x.cookie', auth_token: session.auth_token });
      expect(res).toMatchObject({
        status: 502,
        body: { error: 'upstream_error', error_description: 'X could not be reached. Try again later.' },
      });
    });

    afterAll(() => {
      secrets.push(session.auth_token, session.ct0, ...x.handedCt0.map((h) => h.ct0));
    });
  });

  describe('calling the API with a cookie connection', () => {
    it("posts with an agent token: X receives exactly that post with exactly the owner's cookie", async () => {
      const token = await cookieOwner.agentToken(['tweet.post']);
      const before = x.posts.length;
      const res = await api('/tweet', token, { body: { text: 'Hello from an agent 🤖' } });
      expect(res.status).toBe(201);
      expect(res.body).toEqual({ id: expect.stringMatching(/^\d+$/), text: 'Hello from an agent 🤖' });
      expect(x.posts.slice(before)).toEqual([
        {
          id: res.body.id,
          text: 'Hello from an agent 🤖',
          userId: cookie.user.id,
          via: 'web',
          credential: { auth_token: cookie.auth_token, ct0: cookie.ct0 },
        },
      ]);
    });

    it("posts with an app's token obtained through consent, including replies and quotes", async () => {
      const { accessToken } = await cookieOwner.appToken(app, 'tweet.post');
      const first = await api('/tweet', accessToken, { body: { text: 'An app speaks' } });
      expect(first.status).toBe(201);
      const reply = await api('/tweet', accessToken, { body: { text: 'and replies', reply_to: first.body.id } });
      const quote = await api('/tweet', accessToken, { body: { text: 'and quotes', quote: first.body.id } });
      expect(x.posts.find((p) => p.id === reply.body.id)).toMatchObject({
        reply_to: first.body.id,
        credential: { auth_token: cookie.auth_token },
      });
      expect(x.posts.find((p) => p.id === quote.body.id)).toMatchObject({ quote: first.body.id });
    });

    it('reads the profile and recent posts with tweet.read, and deletes with tweet.delete', async () => {
      const poster = await cookieOwner.agentToken(['tweet.post']);
      const made = await api('/tweet', poster, { body: { text: `to be deleted ${Date.now()}` } });
      const reader = await cookieOwner.agentToken(['tweet.read']);
      expect((await api('/me', reader)).body).toEqual({ id: cookie.user.id, username: 'alice_x', name: cookie.user.name });
      const recent = await api('/tweets?limit=2', reader);
      expect(recent.status).toBe(200);
      expect(recent.body.tweets).toHaveLength(2);
      expect((recent.body.tweets as { id: string }[])[0]!.id).toBe(made.body.id);

      const deleter = await cookieOwner.agentToken(['tweet.delete']);
      const deleted = await api(`/tweet/${made.body.id as string}`, deleter, { method: 'DELETE' });
      expect(deleted).toMatchObject({ status: 200, body: { id: made.body.id, deleted: true } });
      expect(x.deleted.at(-1)).toEqual({ id: made.body.id, via: 'web', credential: { auth_token: cookie.auth_token, ct0: cookie.ct0 } });
    });

    it('refuses a call without the scope it needs with 403 insufficient_scope, before X hears of it', async () => {
      const reader = await cookieOwner.agentToken(['tweet.read']);
      const calls = x.requests.length;
      const post = await api('/tweet', reader, { body: { text: 'not allowed' } });
      expect(post.status).toBe(403);
      expect(post.body.error).toBe('insufficient_scope');
      expect(post.headers.get('www-authenticate')).toMatch(/insufficient_scope/);
      expect((await api('/tweet/123', reader, { method: 'DELETE' })).status).toBe(403);
      const poster = await cookieOwner.agentToken(['tweet.post']);
      expect((await api('/me', poster)).status).toBe(403);
      expect(x.requests.length).toBe(calls);
    });

    it.each([
      ['an empty text', { text: '   ' }],
      ['281 characters', { text: 'a'.repeat(281) }],
      ['a reply_to that is not a post id', { text: 'hi', reply_to: '../1' }],
      ['a quote that is not a post id', { text: 'hi', quote: 'abc' }],
      ['an unknown field', { text: 'hi', media: 'x' }],
    ])('refuses %s with 400 invalid_request', async (_what, body) => {
      const token = await cookieOwner.agentToken(['tweet.post']);
      const res = await api('/tweet', token, { body });
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('invalid_request');
    });

    it('counts the 280 characters in code points, as X does', async () => {
      const token = await cookieOwner.agentToken(['tweet.post']);
      const res = await api('/tweet', token, { body: { text: '🙂'.repeat(280) } });
      expect(res.status).toBe(201);
    });

    it('refuses a malformed post id or limit with 400', async () => {
      const token = await cookieOwner.agentToken(['tweet.read', 'tweet.delete']);
      expect((await api('/tweet/12ab', token, { method: 'DELETE' })).status).toBe(400);
      expect((await api('/tweets?limit=0', token)).status).toBe(400);
      expect((await api('/tweets?limit=101', token)).status).toBe(400);
    });
  });

  describe("X's failures, as the API answers them", () => {
    let token: string;
    beforeAll(async () => {
      token = await cookieOwner.agentToken(['tweet.post', 'tweet.read', 'tweet.delete']);
    });

    it('passes X 429 on as 429 upstream_rate_limited with Retry-After', async () => {
      x.fail({ status: 429, body: { errors: [{ code: 88, message: 'Rate limit exceeded' }] }, headers: { 'retry-after': '42' } });
      const res = await api('/tweet', token, { body: { text: 'rate limited' } });
      expect(res.status).toBe(429);
      expect(res.body.error).toBe('upstream_rate_limited');
      expect(res.headers.get('retry-after')).toBe('42');
    });

    it('answers a duplicate post with 409 duplicate_post', async () => {
      expect((await api('/tweet', token, { body: { text: 'said twice' } })).status).toBe(201);
      const again = await api('/tweet', token, { body: { text: 'said twice' } });
      expect(again).toMatchObject({ status: 409, body: { error: 'duplicate_post' } });
    });

    it('answers deleting an unknown post with 404 tweet_not_found', async () => {
      expect(await api('/tweet/99999', token, { method: 'DELETE' })).toMatchObject({ status: 404, body: { error: 'tweet_not_found' } });
    });

    it.each([
      ['X 503', 502, 'upstream_error', { status: 503, body: { errors: [{ message: 'Over capacity' }] } }],
      ['a malformed reply', 502, 'upstream_error', 'garbage' as const],
      ['no answer in time', 504, 'upstream_timeout', 'hang' as const],
    ])('answers %s with %s %s', async (_what, status, code, failure) => {
      x.fail(failure);
      const res = await api('/tweet', token, { body: { text: `failing ${code}` } });
      expect(res.status).toBe(status);
      expect(res.body.error).toBe(code);
    });
  });

  describe('holding a post for the owner', () => {
    it("keeps an app's post until the owner approves it, then X receives it with the owner's cookie", async () => {
      const { accessToken } = await cookieOwner.appToken(app, 'tweet.post');
      const apps = (await (await cookieOwner.api.get('/console/api/apps')).json()) as { apps: { grant_id: string; client_id: string }[] };
      const grant = apps.apps.find((a) => a.client_id === app.clientId)!;
      const put = await cookieOwner.browser.request(`/console/api/apps/${grant.grant_id}/policy`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', accept: 'application/json', 'x-csrf-token': cookieOwner.csrf },
        body: JSON.stringify({ hold_for_approval: true }),
      });
      expect(put.status).toBe(200);

      const before = x.posts.length;
      const held = await api('/tweet', accessToken, { body: { text: 'Please approve me' } });
      expect(held.status).toBe(202);
      expect(x.posts.length).toBe(before);

      const approved = await consoleCall(cookieOwner, 'POST', `/console/api/approvals/${held.body.id as string}/approve`);
      expect(approved.status).toBe(200);
      expect(x.posts.slice(before)).toEqual([
        expect.objectContaining({ text: 'Please approve me', credential: { auth_token: cookie.auth_token, ct0: cookie.ct0 } }),
      ]);
    });
  });

  describe('a cookie X no longer accepts', () => {
    it('answers 409 reconnect_required, marks the connection for re-linking, and stops calling X', async () => {
      const owner = await Owner.signUp(server);
      const session = x.signIn(x.user('dave_x'));
      expect(
        (
          await consoleCall(owner, 'POST', '/console/api/connections', {
            kind: 'x.cookie',
            auth_token: session.auth_token,
            ct0: session.ct0,
          })
        ).status,
      ).toBe(201);
      const token = await owner.agentToken(['tweet.post']);
      x.signOut(session.auth_token);

      const res = await api('/tweet', token, { body: { text: 'after sign-out' } });
      expect(res).toMatchObject({ status: 409, body: { error: 'reconnect_required' } });
      expect(await connections(owner)).toEqual([expect.objectContaining({ status: 'needs_relink', needs_relink: true })]);
      const calls = x.requests.length;
      expect((await api('/tweet', token, { body: { text: 'again' } })).status).toBe(409);
      expect(x.requests.length).toBe(calls);
    });
  });

  describe('connecting by X OAuth 2.0', () => {
    let oauthOwner: Owner;
    let user: FakeXUser;

    beforeAll(async () => {
      oauthOwner = await Owner.signUp(server);
      user = x.user('carol_x');
      x.approveAs = user;
    });

    it('connects through X with PKCE and offline.access, labelled with the X username', async () => {
      const started = await consoleCall(oauthOwner, 'POST', '/console/api/connections/oauth/x');
      expect(started.status).toBe(200);
      const authorization = new URL(started.body.authorization_url as string);
      expect(authorization.origin + authorization.pathname).toBe(`${x.url}/i/oauth2/authorize`);
      expect(authorization.searchParams.get('code_challenge_method')).toBe('S256');
      expect(authorization.searchParams.get('scope')!.split(' ')).toEqual(expect.arrayContaining(['tweet.write', 'offline.access']));

      const atX = await fetch(authorization, { redirect: 'manual' });
      const callback = atX.headers.get('location')!;
      expect(callback.startsWith(`${server.url}/connections/callback?`)).toBe(true);
      const back = await oauthOwner.browser.request(callback);
      expect([302, 303]).toContain(back.status);
      expect(await connections(oauthOwner)).toEqual([
        expect.objectContaining({ provider: 'x', kind: 'oauth2', label: 'carol_x', status: 'active' }),
      ]);
    });

    it("posts through twitter-api-v2: X's v2 API receives the post with the owner's access token", async () => {
      const token = await oauthOwner.agentToken(['tweet.post', 'tweet.read', 'tweet.delete']);
      const before = x.posts.length;
      const res = await api('/tweet', token, { body: { text: 'Posted with OAuth' } });
      expect(res.status).toBe(201);
      const issued = x.issued.filter((t) => t.userId === user.id).at(-1)!;
      expect(x.posts.slice(before)).toEqual([
        { id: res.body.id, text: 'Posted with OAuth', userId: user.id, via: 'api', credential: { access_token: issued.access_token } },
      ]);
      expect((await api('/me', token)).body).toEqual({ id: user.id, username: 'carol_x', name: user.name });
      expect((await api('/tweets?limit=1', token)).body.tweets as unknown[]).toEqual([{ id: res.body.id, text: 'Posted with OAuth' }]);
      expect((await api(`/tweet/${res.body.id as string}`, token, { method: 'DELETE' })).status).toBe(200);
    });

    it('refreshes an expired X token once for 20 concurrent calls, then calls X with the new one', async () => {
      const token = await oauthOwner.agentToken(['tweet.read']);
      await server.db.query("UPDATE connections SET expires_at = now() - interval '1 minute' WHERE account_id = $1", [
        oauthOwner.accountId,
      ]);
      const refreshes = x.refreshes;
      x.refreshDelayMs = 150;
      const replies = await Promise.all(Array.from({ length: 20 }, () => api('/me', token)));
      x.refreshDelayMs = 0;
      expect(replies.map((r) => r.status)).toEqual(Array(20).fill(200));
      expect(x.refreshes - refreshes).toBe(1);
      const newest = x.issued.filter((t) => t.userId === user.id).at(-1)!;
      expect(x.requests.at(-1)!.headers.authorization).toBe(`Bearer ${newest.access_token}`);
    });
  });

  it('never shows or logs an X credential: cookie, ct0, access or refresh token (threat model G2)', () => {
    secrets.push(cookie.auth_token, cookie.ct0, X_APP.clientSecret, ...x.issued.flatMap((t) => [t.access_token, t.refresh_token]));
    expect(secrets.length).toBeGreaterThan(8);
    const everything = [...seen, ...server.logs].join('\n');
    for (const secret of secrets) expect(everything).not.toContain(secret);
    expect(server.logs.length).toBeGreaterThan(0);
  });
});
