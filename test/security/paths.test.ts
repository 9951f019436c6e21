import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { TestBrowser, csrfFrom, uidFrom } from '../helpers/browser.js';
import { Owner } from '../helpers/owner.js';
import { eventually } from '../helpers/console-api.js';
import { rawRequest } from '../helpers/raw-http.js';
import { canonicalPath } from '../../src/http/canonical-path.js';
import { PROVIDER_FIXED_PATHS } from '../../src/provider/routes.js';

/**
 * One path, one meaning (docs/threat-model.md J1): oidc-provider's router reads `/REG`, `/Device/` and `/reg/x/` as
 * its routes, while oauth3's guards compare paths exactly. Every variant of a guarded route's path must get the
 * guard's answer, a redirect to the canonical path, or a 404: never the handler without its guard.
 */

/** A small deterministic generator, so a failure names the variant that caused it and reruns alike. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** Variants of `path` that a lenient router could take for it: case, trailing and doubled slashes, encodings, dots. */
export function variantsOf(path: string, seeds = 3): string[] {
  const segments = path.split('/').slice(1);
  const first = segments[0]!;
  const rest = segments.slice(1).join('/');
  const tail = rest ? `/${rest}` : '';
  const flipped = (seed: number) => {
    const next = random(seed);
    let out = '';
    for (const char of path) out += next() < 0.5 ? char.toUpperCase() : char.toLowerCase();
    return out;
  };
  const variants = [
    path.toUpperCase(),
    `/${first.charAt(0).toUpperCase()}${first.slice(1)}${tail}`,
    `${path}/`,
    `${path.toUpperCase()}/`,
    `/${path}`,
    `/${first}/${tail}`,
    `/./${first}${tail}`,
    `/${first}/.${tail}`,
    `/x/../${first}${tail}`,
    `/%${first.charCodeAt(0).toString(16)}${first.slice(1)}${tail}`,
    ...(rest ? [`/${first}%2F${rest}`, `/${first}%2f${rest}`, `/${first}\\${rest}`] : [`${path}%2F`]),
    ...Array.from({ length: seeds }, (_, i) => flipped(i + 1)),
  ];
  return [...new Set(variants)].filter((variant) => variant !== path);
}

describe('every request path has one canonical form (J1)', () => {
  const fixed = [
    ...PROVIDER_FIXED_PATHS,
    '/auth/AbC-123_x',
    '/device/AbC-123_x',
    '/reg/Client_ID-1',
    '/interaction/Uid-1/consent',
    '/api/x/Case/Sensitive',
    '/console/api/tokens',
  ];

  /** True when the leading segments of `path` that match a fixed route but for case are in the route's own case. */
  const fixedCaseRestored = (path: string) =>
    PROVIDER_FIXED_PATHS.every((route) => {
      const head = path.split('/').slice(0, route.split('/').length).join('/');
      return head.toUpperCase() !== route.toUpperCase() || head === route;
    });

  it.each(fixed)('brings every variant of %s to it or refuses it', (path) => {
    expect(canonicalPath(path, PROVIDER_FIXED_PATHS)).toBe(path);
    for (const variant of variantsOf(path, 20)) {
      const canonical = canonicalPath(variant, PROVIDER_FIXED_PATHS);
      if (canonical === undefined) continue;
      // The same path but for the case of data segments (ids, upstream paths), which is theirs to keep...
      expect(canonical.toUpperCase()).toBe(path.toUpperCase());
      // ...while oidc-provider's fixed segments are always in their own case.
      expect(fixedCaseRestored(canonical)).toBe(true);
      // A variant that changed no letter's case comes back as the path itself.
      if (variant.replace(/[^A-Za-z]/g, '') === path.replace(/[^A-Za-z]/g, '')) expect(canonical).toBe(path);
      // The canonical form is its own canonical form, and never the start of a network-path reference (`//host`).
      expect(canonicalPath(canonical, PROVIDER_FIXED_PATHS)).toBe(canonical);
      expect(canonical.startsWith('//')).toBe(false);
    }
  });

  it("restores the case of oidc-provider's fixed segments only", () => {
    expect(canonicalPath('/TOKEN/INTROSPECTION', PROVIDER_FIXED_PATHS)).toBe('/token/introspection');
    expect(canonicalPath('/Session/End/Confirm', PROVIDER_FIXED_PATHS)).toBe('/session/end/confirm');
    expect(canonicalPath('/AUTH/AbC', PROVIDER_FIXED_PATHS)).toBe('/auth/AbC');
    expect(canonicalPath('/Console/API', PROVIDER_FIXED_PATHS)).toBe('/Console/API');
  });

  it('decodes unreserved characters, keeps other escapes, and has no form for an encoded separator', () => {
    expect(canonicalPath('/%74oken', PROVIDER_FIXED_PATHS)).toBe('/token');
    expect(canonicalPath('/api/x/a%20b', PROVIDER_FIXED_PATHS)).toBe('/api/x/a%20b');
    expect(canonicalPath('/api/x/a%2fb', PROVIDER_FIXED_PATHS)).toBeUndefined();
    expect(canonicalPath('/api/x/a%5Cb', PROVIDER_FIXED_PATHS)).toBeUndefined();
    expect(canonicalPath('/a/../../b', PROVIDER_FIXED_PATHS)).toBe('/b');
  });
});

/** The answer to one request with its path exactly as written, redirects not followed. */
async function send(server: TestServer, method: string, path: string, init: { headers?: Record<string, string>; body?: string } = {}) {
  const res = await rawRequest(server.url, path, { method, ...init });
  const text = await res.text();
  return { status: res.status, location: res.headers.get('location'), text };
}

describe.each(backends())('guarded routes under path variants on %s storage (J1)', (backend) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ backend, env: { REGISTRATION: 'open', REGISTRATION_PER_HOUR: '2' } });
  });
  afterAll(async () => {
    await server?.stop();
  });

  /**
   * A variant is refused (404) or sent to its canonical form (308), where the guards run: never served as it is. The
   * canonical form of a variant that changed an id's case names another resource, as it would anywhere.
   */
  const expectRefusedOrRedirected = (answer: { status: number; location: string | null }, variant: string) => {
    const canonical = canonicalPath(variant, PROVIDER_FIXED_PATHS);
    // Already canonical: another path (an id in another case), served with its guards like any other.
    if (canonical === variant) return;
    if (answer.status !== 308) return expect(answer.status).toBe(404);
    expect(canonical).toBeDefined();
    expect(new URL(answer.location!, server.url).pathname).toBe(canonical);
  };

  const register = (path: string) =>
    send(server, 'POST', path, {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        redirect_uris: ['https://app.example.com/cb'],
        client_name: 'path test',
        token_endpoint_auth_method: 'client_secret_basic',
      }),
    });

  it("never shows a registered client's secret or its digest, whatever the spelling of its configuration URL (F7)", async () => {
    // One of this server's two open registrations (REGISTRATION_PER_HOUR=2); the next test spends the other.
    const created = await register('/reg');
    expect(created.status).toBe(201);
    const { client_id: clientId, registration_access_token: token } = JSON.parse(created.text) as {
      client_id: string;
      registration_access_token: string;
    };
    const path = `/reg/${clientId}`;
    const read = await send(server, 'GET', path, { headers: { authorization: `Bearer ${token}` } });
    expect(read.status).toBe(200);
    expect(read.text).not.toMatch(/client_secret"|sha256:/);
    // An update at the real path answers with the client's metadata, still without its secret or digest.
    const updated = await send(server, 'PUT', path, {
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ client_id: clientId, redirect_uris: ['https://app.example.com/cb'], client_name: 'renamed' }),
    });
    expect(updated.status).toBe(200);
    const { registration_access_token: rotated } = JSON.parse(updated.text) as { registration_access_token: string };
    expect(JSON.parse(updated.text)).toMatchObject({ client_name: 'renamed' });
    expect(updated.text).not.toMatch(/client_secret"|sha256:/);

    const auth = { authorization: `Bearer ${rotated}` };
    for (const variant of variantsOf(path)) {
      const answer = await send(server, 'GET', variant, { headers: auth });
      expect(answer.text).not.toMatch(/client_secret"|sha256:/);
      expectRefusedOrRedirected(answer, variant);
      if (answer.location)
        expect((await send(server, 'GET', answer.location, { headers: auth })).text).not.toMatch(/client_secret"|sha256:/);
      const update = await send(server, 'PUT', variant, {
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ client_id: clientId, redirect_uris: ['https://app.example.com/cb'], client_name: 'renamed again' }),
      });
      if (canonicalPath(variant, PROVIDER_FIXED_PATHS) !== variant) expect(update.status).toBe(404);
      expect(update.text).not.toMatch(/client_secret"|sha256:/);
    }
  });

  it('keeps the open-registration limit, whatever the spelling of /reg', async () => {
    for (const variant of variantsOf('/reg')) expect((await register(variant)).status).toBe(404);
    // The variants neither used the budget nor went past it: the second registration, then the guard's 429.
    expect((await register('/reg')).status).toBe(201);
    expect((await register('/reg')).status).toBe(429);
    for (const variant of variantsOf('/reg')) expect([404, 429]).toContain((await register(variant)).status);
  });

  it('keeps the wrong-user-code limit, whatever the spelling of /device', async () => {
    const browser = new TestBrowser(server.url);
    const guess = async (path: string) => {
      const form = await browser.request('/device');
      const xsrf = /name="xsrf" value="([^"]+)"/.exec(await form.text())![1]!;
      const res = await browser.postForm(path, { xsrf, user_code: 'BCDF-GHJK' });
      await res.arrayBuffer();
      return res.status;
    };
    for (const variant of variantsOf('/device')) expect(await guess(variant)).toBe(404);
    // Ten wrong codes on the real path, then the guard answers 429 there and on every variant.
    for (let i = 0; i < 10; i++) expect(await guess('/device')).toBe(200);
    expect(await guess('/device')).toBe(429);
    for (const variant of variantsOf('/device')) expect([404, 429]).toContain(await guess(variant));
  });

  it('refuses introspection at any other spelling of its path', async () => {
    for (const variant of variantsOf('/token/introspection')) {
      const answer = await send(server, 'POST', variant, {
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'token=x',
      });
      expect(answer.status).toBe(404);
    }
  });

  it('records every signed-in browser, whatever the spelling of the resume URL, so the owner can end it', async () => {
    const owner = await Owner.signUp(server);
    const listed = async () =>
      ((await (await owner.api.get('/console/api/sessions')).json()) as { sessions: { uid: string }[] }).sessions.length;
    let expected = await eventually(listed, (n) => n === 1);
    const strangers: TestBrowser[] = [];
    for (const variant of variantsOf('/auth/UID', 2)) {
      // The same owner signs in on another browser; the last step (oidc-provider's resume URL) is respelled.
      const browser = new TestBrowser(server.url, owner.browser.authenticator);
      let step = await browser.navigate('/console');
      const uid = uidFrom(step.url);
      const csrf = csrfFrom(await step.response.text());
      const options = (await (
        await browser.postJson(`/interaction/${uid}/passkey/login/options`, {}, csrf)
      ).json()) as PublicKeyCredentialRequestOptionsJSON;
      const verify = await browser.postJson(`/interaction/${uid}/passkey/login`, browser.authenticator.authenticate(options), csrf);
      const { redirectTo } = (await verify.json()) as { redirectTo: string };
      const resume = new URL(redirectTo, server.url).pathname;
      const respelled = variant.replace(/UID/i, resume.split('/')[2]!);
      step = await browser.navigate(respelled);
      // Followed to the end, the sign-in either completed through the canonical path or was refused.
      if (step.url.startsWith(`${server.url}/console`) && step.response.status === 200) {
        expected = await eventually(listed, (n) => n === expected + 1);
        strangers.push(browser);
      } else {
        expect(step.response.status).toBe(404);
      }
    }
    expect(strangers.length).toBeGreaterThan(0);
    // "Sign out other devices" ends every one of them: none is left that the list did not show.
    expect((await owner.api.send('POST', '/console/api/sessions/sign-out-others', {})).status).toBe(200);
    for (const browser of strangers) {
      const step = await browser.navigate('/console');
      expect(step.url).toContain('/interaction/');
    }
  });

  it('answers the console API and the resource API only at their exact paths', async () => {
    const signOutOthers = (path: string) =>
      send(server, 'POST', path, { headers: { 'content-type': 'application/json', origin: 'https://evil.example' }, body: '{}' });
    // The guard's answer at the real path: no owner signed in.
    expect((await signOutOthers('/console/api/sessions/sign-out-others')).status).toBe(401);
    for (const variant of variantsOf('/console/api/sessions/sign-out-others')) expect((await signOutOthers(variant)).status).toBe(404);
    // The guard's answer at the real path: no bearer token.
    expect((await send(server, 'GET', '/api/me')).status).toBe(401);
    for (const variant of variantsOf('/api/me')) expectRefusedOrRedirected(await send(server, 'GET', variant), variant);
  });
});
