import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { callApi } from '../helpers/owner.js';
import { echoPlugin, startEchoUpstream } from '../resource/echo-plugin.js';
import {
  COOKIE_KEY,
  RecordingBrowser,
  dumpStorage,
  foundIn,
  hiddenFields,
  postForm,
  runFlows,
  signedCookie,
  type Issued,
} from '../helpers/at-rest.js';
import { TestBrowser } from '../helpers/browser.js';
import { digestOf } from '../../src/db/at-rest-keys.js';

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/** The console's answer to a browser presenting this session cookie: 200 signed in, a redirect to sign in otherwise. */
async function consoleWith(server: TestServer, sessionId: string): Promise<number> {
  const res = await fetch(`${server.url}/console`, { headers: { cookie: signedCookie('_session', sessionId) }, redirect: 'manual' });
  return res.status;
}

/**
 * docs/threat-model.md J2, no usable credential at rest: after real flows on a real server, a copy of every table and
 * every Redis key holds none of the values its clients and browser were given, and what it does hold (their
 * digests) is refused wherever the values are accepted: at the resource API, introspection, the token endpoint, the
 * registration endpoints and as a session cookie, even signed with the server's own cookie key.
 */
describe.each(backends())('no usable credential at rest on %s storage', (backend) => {
  let server: TestServer;
  let upstream: Awaited<ReturnType<typeof startEchoUpstream>>;
  let issued: Issued;
  let dump: string[];

  beforeAll(async () => {
    upstream = await startEchoUpstream();
    server = await startTestServer({ backend, env: { COOKIE_KEYS: COOKIE_KEY }, plugins: [echoPlugin(() => upstream.url)] });
    issued = await runFlows(server, new RecordingBrowser(server.url));
    // The browser-session tracker writes without being awaited (src/console/session-tracker.ts).
    for (let i = 0; i < 60 && !(await server.db.query('SELECT 1 FROM browser_sessions')).rows.length; i++)
      await new Promise((r) => setTimeout(r, 50));
    dump = await dumpStorage(server);
  });
  afterAll(async () => {
    await server?.stop();
    await upstream?.close();
  });

  it('J2 keeps none of the values its clients and the browser received, in any table or Redis key', () => {
    // The flows gave out every kind: tokens, codes, device and user codes, registration tokens, cookies, interaction ids.
    expect(issued.received.size).toBeGreaterThan(25);
    expect(foundIn(dump, issued.received)).toEqual([]);
  });

  it('J2 holds each of them as a digest (the dump above did see the entries)', () => {
    const stored = [
      digestOf('AccessToken', issued.accessToken),
      digestOf('RefreshToken', issued.refreshToken),
      digestOf('AccessToken', issued.serviceToken),
      digestOf('AccessToken', issued.agentToken),
      digestOf('RegistrationAccessToken', issued.registrationAccessToken),
      digestOf('InitialAccessToken', issued.initialAccessToken),
      digestOf('DeviceCode', issued.pending.deviceCode),
      digestOf('Session', issued.sessionCookie),
    ];
    for (const digest of stored) expect({ digest, stored: dump.some((text) => text.includes(digest)) }).toEqual({ digest, stored: true });
  });

  it('J2 refuses a stored access token digest at the resource API and at introspection, and accepts the token itself', async () => {
    for (const token of [issued.accessToken, issued.agentToken, issued.deviceAccessToken]) {
      expect((await callApi(server, '/echo/items/1', token)).status).toBe(200);
      expect((await callApi(server, '/echo/items/1', digestOf('AccessToken', token))).status).toBe(401);
    }
    const introspect = (token: string, client: Issued['app']) => postForm(server, '/token/introspection', { token }, client);
    expect((await introspect(issued.accessToken, issued.app)).body.active).toBe(true);
    expect((await introspect(digestOf('AccessToken', issued.accessToken), issued.app)).body).toEqual({ active: false });
    expect((await introspect(digestOf('RefreshToken', issued.refreshToken), issued.app)).body).toEqual({ active: false });
    expect((await introspect(issued.serviceToken, issued.service)).body.active).toBe(true);
    expect((await introspect(digestOf('AccessToken', issued.serviceToken), issued.service)).body).toEqual({ active: false });
  });

  it('J2 refuses a stored refresh token, authorization code or device code digest at the token endpoint', async () => {
    const refresh = await postForm(
      server,
      '/token',
      { grant_type: 'refresh_token', refresh_token: digestOf('RefreshToken', issued.refreshToken) },
      issued.app,
    );
    expect({ status: refresh.status, error: refresh.body.error }).toEqual({ status: 400, error: 'invalid_grant' });
    const code = await postForm(
      server,
      '/token',
      {
        grant_type: 'authorization_code',
        code: digestOf('AuthorizationCode', issued.code),
        redirect_uri: 'https://app.example.com/callback',
        code_verifier: 'x'.repeat(43),
      },
      issued.app,
    );
    expect(code.body.error).toBe('invalid_grant');
    // The pending device code itself is only waiting; its digest is no device code at all.
    const device = (value: string) => postForm(server, '/token', { grant_type: DEVICE_GRANT, device_code: value }, issued.cli);
    expect((await device(digestOf('DeviceCode', issued.pending.deviceCode))).body.error).toBe('invalid_grant');
    expect((await device(issued.pending.deviceCode)).body.error).toBe('authorization_pending');
    // Nor did the refused digest spend the refresh token it was taken from.
    const real = await postForm(server, '/token', { grant_type: 'refresh_token', refresh_token: issued.refreshToken }, issued.app);
    expect(real.status).toBe(200);
  });

  it('J2 refuses stored registration and initial access token digests at the registration endpoints', async () => {
    const read = (token: string) => fetch(issued.registrationClientUri, { headers: { authorization: `Bearer ${token}` } });
    expect((await read(digestOf('RegistrationAccessToken', issued.registrationAccessToken))).status).toBe(401);
    expect((await read(issued.registrationAccessToken)).status).toBe(200);
    const register = (token: string) =>
      fetch(`${server.url}/reg`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ client_name: 'Intruder', redirect_uris: ['https://intruder.example/cb'] }),
      });
    expect((await register(digestOf('InitialAccessToken', issued.initialAccessToken))).status).toBe(401);
  });

  it('J2 does not sign in a browser presenting the stored session digest as its cookie, signed with the server key', async () => {
    // The same signing of the real session id is accepted: the refusal is the digest's, not the signature's.
    expect(await consoleWith(server, issued.sessionCookie)).toBe(200);
    expect(await consoleWith(server, digestOf('Session', issued.sessionCookie))).toBe(302);
    const { rows } = await server.db.query<{ session_id: string }>('SELECT session_id FROM browser_sessions');
    for (const { session_id: stored } of rows) expect(await consoleWith(server, stored)).toBe(302);
    expect(rows.length).toBeGreaterThan(0);
  });

  it('J2 does not accept a stored user code, nor its plain digest, on the verification page', async () => {
    const browser = new TestBrowser(server.url);
    const enter = async (userCode: string) => {
      const { xsrf } = hiddenFields(await (await browser.request('/device')).text());
      return (await browser.postForm('/device', { xsrf: xsrf!, user_code: userCode })).text();
    };
    const { rows } = await server.db.query<{ user_code: string }>(
      `SELECT user_code FROM oidc_models WHERE model = 'DeviceCode' AND user_code IS NOT NULL`,
    );
    // User codes are digested under a key from the master key (adapters/at-rest.ts): a dump gives neither them nor
    // anything the page takes for them.
    for (const value of [digestOf('DeviceCode', issued.pending.userCode.replace('-', '')), ...rows.map((r) => r.user_code)]) {
      expect(await enter(value)).toContain('That code is not right.');
    }
    expect(await enter(issued.pending.userCode)).toContain('Connect CLI on a device?');
  });
});
