import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { removeStorage, restartTestServer, startTestServer, storageOf, type TestServer } from '../helpers/server.js';
import { TestBrowser } from '../helpers/browser.js';
import { Owner } from '../helpers/owner.js';

/** A browser that keeps every Set-Cookie line it is sent, to read the attributes a jar does not keep. */
function recordingBrowser(origin: string): { browser: TestBrowser; setCookies: string[] } {
  const browser = new TestBrowser(origin);
  const setCookies: string[] = [];
  const request = browser.request.bind(browser);
  browser.request = async (url, init) => {
    const res = await request(url, init);
    setCookies.push(...res.headers.getSetCookie());
    return res;
  };
  return { browser, setCookies };
}

const attributes = (line: string) =>
  line
    .split(';')
    .slice(1)
    .map((part) => part.trim().toLowerCase());
const named = (lines: string[], name: string) => lines.filter((line) => line.startsWith(`${name}=`) && !line.startsWith(`${name}=;`));

describe('D7: session cookies cannot be read by scripts, sent cross-site on a post, or forged', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('sets the session and interaction cookies HttpOnly, SameSite=Lax and signed', async () => {
    const { browser, setCookies } = recordingBrowser(server.url);
    await Owner.signIn(server, browser);
    for (const name of ['_session', '_interaction', '_interaction_resume']) {
      const lines = named(setCookies, name);
      expect(lines.length).toBeGreaterThan(0);
      for (const line of lines) {
        expect(attributes(line)).toEqual(expect.arrayContaining(['httponly', 'samesite=lax']));
        // Served over http on localhost: a Secure cookie would never come back.
        expect(attributes(line)).not.toContain('secure');
      }
      // Each has its signature beside it (keygrip, under the cookie keys).
      expect(named(setCookies, `${name}.sig`).length).toBeGreaterThanOrEqual(lines.length);
    }
  });

  it('refuses a session cookie whose signature does not match', async () => {
    const { browser } = recordingBrowser(server.url);
    await Owner.signIn(server, browser);
    expect((await browser.navigate('/console')).url).toBe(`${server.url}/console`);
    // The same cookie values with the signature of another value: the console no longer knows this browser.
    const forged = new TestBrowser(server.url);
    const jar = (browser as unknown as { jar: Map<string, { name: string; value: string; path: string }> }).jar;
    const session = [...jar.values()].find((c) => c.name === '_session')!;
    const res = await forged.request('/console', {
      headers: { cookie: `_session=${session.value}; _session.sig=${randomBytes(20).toString('base64url')}` },
    });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toMatch(/^\/console\/login/);
  });

  it('marks cookies Secure when the issuer is https', async () => {
    const secure = await startTestServer({ env: { ISSUER: 'https://oauth3.test' } });
    try {
      const query = new URLSearchParams({
        client_id: 'oauth3-console',
        response_type: 'code',
        redirect_uri: 'https://oauth3.test/console/callback',
        scope: 'openid',
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
        code_challenge_method: 'S256',
      });
      const res = await fetch(`http://127.0.0.1:${secure.config.PORT}/auth?${query}`, { redirect: 'manual' });
      expect(res.status).toBe(303);
      const lines = named(res.headers.getSetCookie(), '_interaction');
      expect(lines.length).toBeGreaterThan(0);
      for (const line of lines) expect(attributes(line)).toEqual(expect.arrayContaining(['secure', 'httponly', 'samesite=lax']));
    } finally {
      await secure.stop();
    }
  });
});

/** The session cookie pair a browser holds now, as a Cookie header. */
function sessionCookieOf(browser: TestBrowser): string {
  const jar = (browser as unknown as { jar: Map<string, { name: string; value: string }> }).jar;
  return [...jar.values()]
    .filter((c) => c.name === '_session' || c.name === '_session.sig')
    .map((c) => `${c.name}=${c.value}`)
    .join('; ');
}

describe('D7: rotating the cookie keys keeps sessions alive until the old key is removed', () => {
  const oldKey = randomBytes(32).toString('base64url');
  const newKey = randomBytes(32).toString('base64url');
  const servers: TestServer[] = [];
  afterAll(async () => {
    for (const server of servers) await server.stop();
    if (servers[0]) await removeStorage(storageOf(servers[0]));
  });

  it('signs with the newest key and still accepts the older one', async () => {
    const first = await startTestServer({ keepStorage: true, env: { COOKIE_KEYS: oldKey } });
    servers.push(first);
    const owner = await Owner.signUp(first);
    const signedWithOldKey = sessionCookieOf(owner.browser);
    await first.stop();

    const rotated = await restartTestServer(first, { keepStorage: true, env: { COOKIE_KEYS: `${newKey},${oldKey}` } });
    servers.push(rotated);
    expect((await owner.browser.navigate('/console')).url).toBe(`${first.url}/console`);
    await rotated.stop();

    // A visit under both keys re-signed the browser's cookie with the newest one.
    expect(sessionCookieOf(owner.browser)).not.toBe(signedWithOldKey);

    const removed = await restartTestServer(first, { keepStorage: true, env: { COOKIE_KEYS: newKey } });
    servers.push(removed);
    expect((await owner.browser.navigate('/console')).url).toBe(`${first.url}/console`);
    // A cookie signed only with the removed key is no longer accepted.
    const res = await fetch(`${first.url}/console`, { headers: { cookie: signedWithOldKey }, redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toMatch(/^\/console\/login/);
  });
});

describe('I5: error responses carry no stack trace and no internal message', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { REGISTRATION: 'open' } });
  });
  afterAll(async () => {
    await server?.stop();
  });

  const INTERNALS = /\n\s+at |node_modules|\.[cm]?[jt]s:\d+|Error: |SELECT |INSERT |syntax error/;

  it.each([
    ['malformed JSON to registration', '/reg', { 'content-type': 'application/json' }, '{"redirect_uris": ['],
    [
      'a NUL byte in a client id',
      '/token',
      { 'content-type': 'application/x-www-form-urlencoded' },
      'grant_type=client_credentials&client_id=a%00b&client_secret=x',
    ],
    ['a form that is not a form', '/token', { 'content-type': 'application/x-www-form-urlencoded' }, '%%%'],
    ['JSON where a form is expected', '/token/introspection', { 'content-type': 'application/json' }, '{"token":1}'],
    ['a huge parameter', '/token', { 'content-type': 'application/x-www-form-urlencoded' }, `grant_type=${'x'.repeat(100_000)}`],
    ['a console call without a session', '/console/api/tokens', { 'content-type': 'application/json' }, '{'],
    ['a resource call with a broken body', '/api/me', { 'content-type': 'application/json', authorization: 'Bearer x' }, '{'],
  ])('answers %s without internals', async (_name, path, headers, body) => {
    const res = await fetch(`${server.url}${path}`, { method: 'POST', headers, body });
    const text = await res.text();
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(text).not.toMatch(INTERNALS);
  });

  it('answers pages that fail without internals', async () => {
    for (const path of [
      '/interaction/unknown-uid',
      '/auth/unknown-uid',
      '/device/unknown-uid',
      '/reg/unknown-client',
      '/session/end/confirm',
    ]) {
      const res = await fetch(`${server.url}${path}`, { headers: { accept: 'text/html' } });
      const text = await res.text();
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(text).not.toMatch(INTERNALS);
    }
  });
});
