import { createHash, createHmac, randomBytes } from 'node:crypto';
import { expect } from '@jest/globals';
import { Redis } from 'ioredis';
import type { TestServer } from './server.js';
import { TestBrowser, authorize, csrfFrom, uidFrom } from './browser.js';
import { Owner } from './owner.js';
import { basic, redirectUri } from './token-flow.js';
import { serviceUrl } from './services.js';
import { INITIAL_ACCESS_TOKEN, createInitialAccessToken } from '../../src/registration/initial-access-tokens.js';
import { modelStorage } from '../../adapters/index.js';

/**
 * What an attacker with a copy of storage sees, and what the clients and browsers of a real server were given, for
 * the tests of docs/threat-model.md J2 (test/security/at-rest.test.ts).
 */

/** The cookie key the at-rest tests give their servers, so an attacker who also has it can be played. */
export const COOKIE_KEY = randomBytes(32).toString('base64url');

/** A cookie signed as oidc-provider's cookies (keygrip, HMAC-SHA1, base64url) verify it: `name=value; name.sig=…`. */
export function signedCookie(name: string, value: string, key = COOKIE_KEY): string {
  const sig = createHmac('sha1', key).update(`${name}=${value}`).digest('base64url');
  return `${name}=${value}; ${name}.sig=${sig}`;
}

/**
 * A browser that remembers every value the server handed it as a credential: each cookie it was sent, the
 * interaction ids in the URLs it was sent to, and the codes in redirects to the app.
 */
export class RecordingBrowser extends TestBrowser {
  readonly received = new Set<string>();
  private readonly lastCookies = new Map<string, string>();

  override async request(url: string, init: RequestInit & { origin?: string | null } = {}): Promise<Response> {
    const res = await super.request(url, init);
    for (const line of res.headers.getSetCookie()) {
      const [name = '', ...rest] = line.split(';')[0]!.split('=');
      const value = rest.join('=');
      this.lastCookies.set(name, value);
      if (value) this.received.add(value);
    }
    const location = res.headers.get('location');
    if (location) this.remember(new URL(location, this.origin));
    return res;
  }

  /** The session cookie this browser holds now. */
  sessionCookie(): string {
    const value = this.lastCookies.get('_session');
    if (!value) throw new Error('the browser holds no session cookie');
    return value;
  }

  private remember(url: URL): void {
    const id = /^\/(?:interaction|auth|device)\/([^/]+)/.exec(url.pathname)?.[1];
    if (id) this.received.add(id);
    for (const name of ['code', 'user_code']) {
      const value = url.searchParams.get(name);
      if (value) this.received.add(value);
    }
  }
}

/** Every row of every table of the server's schema, and with Redis every key under `oauth3:` with all it holds. */
export async function dumpStorage(server: TestServer): Promise<string[]> {
  const texts: string[] = [];
  const { rows: tables } = await server.db.query<{ name: string }>(
    `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`,
  );
  for (const { name } of tables) {
    const { rows } = await server.db.query<{ row: string }>(`SELECT row_to_json(t)::text AS row FROM "${name}" t`);
    texts.push(...rows.map((r) => `${name} ${r.row}`));
  }
  if (server.config.REDIS_URL) texts.push(...(await dumpRedis()));
  expect(texts.length).toBeGreaterThan(0);
  return texts;
}

async function dumpRedis(): Promise<string[]> {
  const redis = new Redis(serviceUrl('TEST_REDIS_URL')!);
  const texts: string[] = [];
  try {
    for await (const keys of redis.scanStream({ match: 'oauth3:*', count: 1000 })) {
      for (const key of keys as string[]) {
        const type = await redis.type(key);
        const value =
          type === 'hash'
            ? JSON.stringify(await redis.hgetall(key))
            : type === 'set'
              ? JSON.stringify(await redis.smembers(key))
              : type === 'string'
                ? String(await redis.get(key))
                : '';
        texts.push(`${key} ${value}`);
      }
    }
  } finally {
    await redis.quit();
  }
  return texts;
}

/** The values of `values` that appear anywhere in `dump`, with where. */
export const foundIn = (dump: string[], values: Iterable<string>) =>
  [...values].flatMap((value) => dump.filter((text) => text.includes(value)).map((text) => ({ value, text: text.slice(0, 300) })));

/** The hidden fields of the first form on a page (oidc-provider's device forms). */
export function hiddenFields(page: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const [, name, value] of page.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)) fields[name!] ??= value!;
  return fields;
}

export interface FormReply {
  status: number;
  body: Record<string, unknown>;
}

/** A form POST to the server as an app's back channel: HTTP Basic with its secret, or client_id in the body. */
export async function postForm(
  server: TestServer,
  path: string,
  form: Record<string, string>,
  client?: { clientId: string; clientSecret?: string },
): Promise<FormReply> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  const body = new URLSearchParams(form);
  if (client?.clientSecret) headers.authorization = basic(client.clientId, client.clientSecret);
  else if (client) body.set('client_id', client.clientId);
  const res = await fetch(`${server.url}${path}`, { method: 'POST', headers, body });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

const pkce = () => {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
};

/** Everything the flows gave out, by name for the attack tests, and all of it in `received`. */
export interface Issued {
  app: { clientId: string; clientSecret?: string };
  service: { clientId: string; clientSecret?: string };
  cli: { clientId: string };
  accessToken: string;
  refreshToken: string;
  /** The refresh token rotated away by the refresh (spent). */
  firstRefreshToken: string;
  code: string;
  pushedRequestId: string;
  serviceToken: string;
  deviceAccessToken: string;
  /** A device code nobody approved yet, with its user code. */
  pending: { deviceCode: string; userCode: string };
  initialAccessToken: string;
  registrationAccessToken: string;
  registrationClientUri: string;
  agentToken: string;
  sessionCookie: string;
  received: Set<string>;
}

/**
 * The flows of docs/threat-model.md J2 against one server, by one owner in one browser: authorization code + PKCE
 * with a refresh, a pushed authorization request, client credentials, the device flow, dynamic registration with
 * its registration access token, an agent token minted in the console, and the signed-in browser session.
 */
export async function runFlows(server: TestServer, browser: RecordingBrowser): Promise<Issued> {
  const received = browser.received;
  const keep = (...values: (string | undefined)[]) => {
    for (const value of values) if (value) received.add(value);
  };
  const app = await server.addClient({ name: 'App', redirectUris: [redirectUri] });
  const service = await server.addClient({ name: 'Service', grantTypes: ['client_credentials'], scope: 'echo.read' });
  const cli = await server.addClient({
    name: 'CLI',
    public: true,
    grantTypes: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
  });

  // Authorization code + PKCE, then a refresh (the first refresh token is spent).
  const first = pkce();
  const query = new URLSearchParams({
    client_id: app.clientId,
    response_type: 'code',
    redirect_uri: redirectUri,
    scope: 'openid offline_access echo.read',
    state: 'at-rest',
    code_challenge: first.challenge,
    code_challenge_method: 'S256',
    prompt: 'consent',
  });
  const callback = new URL(await authorize(browser, `${server.url}/auth?${query}`, { passkey: 'signup' }));
  const code = callback.searchParams.get('code')!;
  const redeemed = await postForm(
    server,
    '/token',
    { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: first.verifier },
    app,
  );
  expect(redeemed.status).toBe(200);
  const refreshed = await postForm(
    server,
    '/token',
    { grant_type: 'refresh_token', refresh_token: String(redeemed.body.refresh_token) },
    app,
  );
  expect(refreshed.status).toBe(200);
  keep(first.verifier, ...[redeemed, refreshed].flatMap((r) => [r.body.access_token, r.body.refresh_token, r.body.id_token].map(String)));

  // A pushed authorization request (RFC 9126), resumed through sign-in state and consent like any other.
  const second = pkce();
  const pushed = await postForm(
    server,
    '/request',
    {
      client_id: app.clientId,
      response_type: 'code',
      redirect_uri: redirectUri,
      scope: 'openid echo.read',
      state: 'pushed',
      code_challenge: second.challenge,
      code_challenge_method: 'S256',
      prompt: 'consent',
    },
    app,
  );
  expect(pushed.status).toBe(201);
  const requestUri = String(pushed.body.request_uri);
  const pushedRequestId = requestUri.split(':').pop()!;
  keep(requestUri, pushedRequestId);
  const pushedCallback = new URL(
    await authorize(browser, `${server.url}/auth?${new URLSearchParams({ client_id: app.clientId, request_uri: requestUri })}`, {
      passkey: 'none',
    }),
  );
  const pushedCode = pushedCallback.searchParams.get('code');
  expect(pushedCode).toEqual(expect.any(String));
  const pushedTokens = await postForm(
    server,
    '/token',
    { grant_type: 'authorization_code', code: pushedCode!, redirect_uri: redirectUri, code_verifier: second.verifier },
    app,
  );
  expect(pushedTokens.status).toBe(200);
  keep(second.verifier, String(pushedTokens.body.access_token), String(pushedTokens.body.id_token));

  // Client credentials.
  const machine = await postForm(server, '/token', { grant_type: 'client_credentials', scope: 'echo.read' }, service);
  expect(machine.status).toBe(200);
  keep(String(machine.body.access_token));

  // The device flow, approved in the owner's signed-in browser; and one more device request left pending.
  const device = await postForm(server, '/device/auth', { scope: 'openid offline_access echo.read' }, cli);
  expect(device.status).toBe(200);
  keep(String(device.body.device_code), String(device.body.user_code), String(device.body.user_code).replace('-', ''));
  const landing = await browser.request(String(device.body.verification_uri_complete));
  const confirmPage = await (await browser.postForm('/device', hiddenFields(await landing.text()))).text();
  const confirmed = await browser.postForm('/device', hiddenFields(confirmPage));
  expect(confirmed.status).toBe(303);
  const consent = await browser.navigate(confirmed.headers.get('location')!);
  const decided = await browser.postForm(`/interaction/${uidFrom(consent.url)}/consent`, {
    csrf: csrfFrom(await consent.response.text()),
    decision: 'approve',
  });
  expect(decided.status).toBe(303);
  expect((await browser.navigate(decided.headers.get('location')!)).response.status).toBe(200);
  const deviceTokens = await postForm(
    server,
    '/token',
    { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: String(device.body.device_code) },
    cli,
  );
  expect(deviceTokens.status).toBe(200);
  keep(...['access_token', 'refresh_token', 'id_token'].map((k) => String(deviceTokens.body[k])));
  const waiting = await postForm(server, '/device/auth', { scope: 'echo.read' }, cli);
  expect(waiting.status).toBe(200);
  const pending = { deviceCode: String(waiting.body.device_code), userCode: String(waiting.body.user_code) };
  keep(pending.deviceCode, pending.userCode, pending.userCode.replace('-', ''));

  // Dynamic registration behind an initial access token, and a read with the registration access token.
  const { token: initialAccessToken } = await createInitialAccessToken(modelStorage(server.db, INITIAL_ACCESS_TOKEN), 3600);
  const reg = await fetch(`${server.url}/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${initialAccessToken}` },
    body: JSON.stringify({ client_name: 'Registered', redirect_uris: [redirectUri], grant_types: ['authorization_code', 'refresh_token'] }),
  });
  expect(reg.status).toBe(201);
  const registered = (await reg.json()) as { registration_access_token: string; registration_client_uri: string; client_secret: string };
  const read = await fetch(registered.registration_client_uri, {
    headers: { authorization: `Bearer ${registered.registration_access_token}` },
  });
  expect(read.status).toBe(200);
  keep(initialAccessToken, registered.registration_access_token, registered.client_secret);

  // An agent token minted in the console, in the same signed-in browser.
  const owner = await Owner.signIn(server, browser);
  const agentToken = await owner.agentToken(['echo.read']);
  keep(agentToken);

  // Left waiting on the consent page, as a dump may catch them: an interaction resuming a pushed request, and one
  // resuming a device request (they name the pushed request, the device code and the browser's session).
  const third = pkce();
  const waitingPush = await postForm(
    server,
    '/request',
    {
      client_id: app.clientId,
      response_type: 'code',
      redirect_uri: redirectUri,
      scope: 'openid echo.read',
      state: 'waiting',
      code_challenge: third.challenge,
      code_challenge_method: 'S256',
      prompt: 'consent',
    },
    app,
  );
  expect(waitingPush.status).toBe(201);
  keep(String(waitingPush.body.request_uri), String(waitingPush.body.request_uri).split(':').pop());
  const atConsent = await browser.navigate(
    `/auth?${new URLSearchParams({ client_id: app.clientId, request_uri: String(waitingPush.body.request_uri) })}`,
  );
  expect(atConsent.url).toContain('/interaction/');
  const waitingDevice = await postForm(server, '/device/auth', { scope: 'echo.read' }, cli);
  keep(String(waitingDevice.body.device_code), String(waitingDevice.body.user_code));
  const deviceLanding = await browser.request(String(waitingDevice.body.verification_uri_complete));
  const deviceConfirm = await (await browser.postForm('/device', hiddenFields(await deviceLanding.text()))).text();
  const deviceConsent = await browser.postForm('/device', hiddenFields(deviceConfirm));
  expect(deviceConsent.headers.get('location')).toContain('/interaction/');

  return {
    app,
    service,
    cli,
    accessToken: String(refreshed.body.access_token),
    refreshToken: String(refreshed.body.refresh_token),
    firstRefreshToken: String(redeemed.body.refresh_token),
    code,
    pushedRequestId,
    serviceToken: String(machine.body.access_token),
    deviceAccessToken: String(deviceTokens.body.access_token),
    pending,
    initialAccessToken,
    registrationAccessToken: registered.registration_access_token,
    registrationClientUri: registered.registration_client_uri,
    agentToken,
    sessionCookie: browser.sessionCookie(),
    received,
  };
}
