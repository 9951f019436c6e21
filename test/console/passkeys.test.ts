import { Owner } from '../helpers/owner.js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser } from 'playwright-core';
import type { PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestBrowser, csrfFrom, uidFrom } from '../helpers/browser.js';
import { signInToConsole } from '../helpers/console.js';
import { SoftwareAuthenticator, type Tamper } from '../helpers/authenticator.js';
import { consoleApi } from '../helpers/console-api.js';
import { addVirtualAuthenticator, chromiumAvailable, launchChromium, screenshot, viewports } from '../helpers/chromium.js';

interface PasskeyJson {
  id: string;
  name: string;
  created_at: string;
  last_used_at: string | null;
  backed_up: boolean;
  device_type: string;
}

const newDevice = (server: TestServer) => new SoftwareAuthenticator({ origin: server.url, rpId: new URL(server.url).hostname });

async function listPasskeys(owner: Pick<Owner, 'api'>): Promise<PasskeyJson[]> {
  const res = await owner.api.get('/console/api/passkeys');
  expect(res.status).toBe(200);
  return ((await res.json()) as { passkeys: PasskeyJson[] }).passkeys;
}

/** The add-passkey ceremony as console.js runs it, on `device` (a second authenticator: a phone, a security key). */
async function addPasskey(
  owner: Pick<Owner, 'api' | 'browser'>,
  device: SoftwareAuthenticator,
  extra: { name?: unknown; tamper?: Tamper } = {},
) {
  const options = await owner.api.send('POST', '/console/api/passkeys/options', {});
  expect(options.status).toBe(200);
  const credential = device.register((await options.json()) as PublicKeyCredentialCreationOptionsJSON, extra.tamper);
  const res = await owner.api.send('POST', '/console/api/passkeys', {
    credential,
    ...(extra.name === undefined ? {} : { name: extra.name }),
  });
  return { res, credential };
}

/** Tries to sign in to the console on a fresh browser with `device`'s passkey `credentialId`; returns the verify status. */
async function signInStatus(server: TestServer, device: SoftwareAuthenticator, credentialId: string): Promise<number> {
  const browser = new TestBrowser(server.url, device);
  const step = await browser.navigate('/console');
  const uid = uidFrom(step.url);
  const csrf = csrfFrom(await step.response.text());
  const options = (await (
    await browser.postJson(`/interaction/${uid}/passkey/login/options`, {}, csrf)
  ).json()) as PublicKeyCredentialRequestOptionsJSON;
  const assertion = device.authenticate(options, { credentialId });
  return (await browser.postJson(`/interaction/${uid}/passkey/login`, assertion, csrf)).status;
}

describe('console passkeys', () => {
  let server: TestServer;
  let alice: Owner;
  let bob: Owner;

  beforeAll(async () => {
    server = await startTestServer();
    alice = await Owner.signIn(server);
    bob = await Owner.signIn(server);
  });
  afterAll(() => server?.stop());

  it("lists the owner's passkeys with name, dates and backup state, and only theirs", async () => {
    const passkeys = await listPasskeys(alice);
    expect(passkeys).toEqual([
      {
        id: alice.browser.authenticator.credentials[0]!.id,
        name: 'Synced passkey',
        created_at: expect.any(String),
        last_used_at: null,
        backed_up: true,
        device_type: 'multiDevice',
      },
    ]);
    expect(passkeys.map((p) => p.id)).not.toContain(bob.browser.authenticator.credentials[0]!.id);
  });

  it('adds a passkey from another device with a trimmed name, excluding the ones already registered', async () => {
    const options = (await (await alice.api.send('POST', '/console/api/passkeys/options', {})).json()) as {
      excludeCredentials: { id: string }[];
      user: { id: string };
    };
    expect(options.excludeCredentials.map((c) => c.id)).toEqual((await listPasskeys(alice)).map((p) => p.id));
    // The new passkey extends this account: the same WebAuthn user handle.
    expect(options.user.id).toBe(alice.browser.authenticator.credentials[0]!.userHandle);

    const phone = newDevice(server);
    const { res, credential } = await addPasskey(alice, phone, { name: '  Phone  ' });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ id: credential.id, name: 'Phone', backed_up: true });
    expect((await listPasskeys(alice)).map((p) => p.name)).toEqual(['Synced passkey', 'Phone']);
    const events = await server.db.query<{ kind: string }>("SELECT kind FROM events WHERE kind = 'passkey.added' AND outcome = 'ok'");
    expect(events.rowCount).toBe(1);
  });

  it('refuses a replayed registration and one made for another origin (E7)', async () => {
    const key = newDevice(server);
    const first = await addPasskey(alice, key, { tamper: { origin: 'https://evil.example' } });
    expect(first.res.status).toBe(400);
    expect(await first.res.json()).toMatchObject({ error: 'passkey_failed' });

    const device = newDevice(server);
    const { res, credential } = await addPasskey(alice, device);
    expect(res.status).toBe(201);
    // Same response again: its challenge is spent, whether or not new options were issued since.
    const replay = await alice.api.send('POST', '/console/api/passkeys', { credential });
    expect(replay.status).toBe(400);
    await alice.api.send('POST', '/console/api/passkeys/options', {});
    const replayAfterOptions = await alice.api.send('POST', '/console/api/passkeys', { credential });
    expect(replayAfterOptions.status).toBe(400);
    // Cleanup for the tests below: leave alice with two passkeys.
    expect((await alice.api.send('DELETE', `/console/api/passkeys/${credential.id}`)).status).toBe(200);
  });

  it("refuses a registration over another owner's challenge", async () => {
    const options = (await (
      await bob.api.send('POST', '/console/api/passkeys/options', {})
    ).json()) as PublicKeyCredentialCreationOptionsJSON;
    const credential = newDevice(server).register(options);
    const res = await alice.api.send('POST', '/console/api/passkeys', { credential });
    expect(res.status).toBe(400);
    expect((await listPasskeys(alice)).map((p) => p.id)).not.toContain(credential.id);
    expect((await listPasskeys(bob)).map((p) => p.id)).not.toContain(credential.id);
  });

  it('renames a passkey through the API and through the page form', async () => {
    const [first] = await listPasskeys(alice);
    const res = await alice.api.send('PATCH', `/console/api/passkeys/${first!.id}`, { name: ' Laptop ' });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id: first!.id, name: 'Laptop' });

    const form = await alice.browser.postForm(`/console/passkeys/${first!.id}/rename`, { csrf: alice.csrf, name: 'Work laptop' });
    expect(form.status).toBe(303);
    expect(form.headers.get('location')).toBe('/console/passkeys?done=renamed');
    expect((await listPasskeys(alice))[0]!.name).toBe('Work laptop');
    const page = await (await alice.browser.request('/console/passkeys?done=renamed')).text();
    expect(page).toContain('Passkey renamed.');
  });

  it('rejects bad names and bodies with 400 naming the field', async () => {
    const [first] = await listPasskeys(alice);
    const path = `/console/api/passkeys/${first!.id}`;
    for (const body of [{ name: 123 }, { name: 'x'.repeat(61) }, { name: '   ' }, {}, { name: ['a'] }]) {
      const res = await alice.api.send('PATCH', path, body);
      expect(res.status).toBe(400);
      const error = (await res.json()) as { error: string; error_description: string };
      expect(error.error).toBe('invalid_request');
      expect(error.error_description).toMatch(/^name: /);
    }
    const notJson = await alice.browser.request(path, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', 'x-csrf-token': alice.csrf },
      body: '{',
    });
    expect(notJson.status).toBe(400);
    // A 60-character name (after trimming) is fine.
    expect((await alice.api.send('PATCH', path, { name: ` ${'n'.repeat(60)} ` })).status).toBe(200);

    const badAdd = await alice.api.send('POST', '/console/api/passkeys', { credential: 'x' });
    expect(badAdd.status).toBe(400);
    expect(((await badAdd.json()) as { error_description: string }).error_description).toMatch(/^credential/);
    const longName = await alice.api.send('POST', '/console/api/passkeys', {
      credential: { id: 'a', rawId: 'a', type: 'public-key', response: {} },
      name: 'x'.repeat(61),
    });
    expect(longName.status).toBe(400);
    expect(((await longName.json()) as { error_description: string }).error_description).toMatch(/^name: /);
  });

  it("answers 404 for another owner's passkey or a malformed id, and changes nothing", async () => {
    const bobsId = bob.browser.authenticator.credentials[0]!.id;
    const before = await listPasskeys(bob);
    for (const res of [
      await alice.api.send('PATCH', `/console/api/passkeys/${bobsId}`, { name: 'mine now' }),
      await alice.api.send('DELETE', `/console/api/passkeys/${bobsId}`),
      await alice.api.send('DELETE', `/console/api/passkeys/${'a'.repeat(1500)}`),
      await alice.api.send('PATCH', '/console/api/passkeys/not%20an%20id', { name: 'x' }),
      await alice.browser.postForm(`/console/passkeys/${bobsId}/rename`, { csrf: alice.csrf, name: 'mine now' }),
      await alice.browser.postForm(`/console/passkeys/${bobsId}/remove`, { csrf: alice.csrf }),
    ]) {
      expect(res.status).toBe(404);
      expect(await res.text()).not.toContain(bobsId);
    }
    expect(await listPasskeys(bob)).toEqual(before);
  });

  it('removes a passkey but never the last one (409), then the remaining one still signs in', async () => {
    const solo = await Owner.signIn(server);
    const [only] = await listPasskeys(solo);
    const last = await solo.api.send('DELETE', `/console/api/passkeys/${only!.id}`);
    expect(last.status).toBe(409);
    expect(await last.json()).toEqual({ error: 'last_passkey', error_description: expect.stringContaining('only passkey') });
    expect((await solo.browser.postForm(`/console/passkeys/${only!.id}/remove`, { csrf: solo.csrf })).status).toBe(409);

    const key = newDevice(server);
    const { res, credential } = await addPasskey(solo, key, { name: 'Security key' });
    expect(res.status).toBe(201);
    const removed = await solo.browser.postForm(`/console/passkeys/${only!.id}/remove`, { csrf: solo.csrf });
    expect(removed.status).toBe(303);
    expect(removed.headers.get('location')).toBe('/console/passkeys?done=removed');
    expect((await listPasskeys(solo)).map((p) => p.id)).toEqual([credential.id]);

    // The removed passkey no longer signs in (E6); the new one does.
    expect(await signInStatus(server, solo.browser.authenticator, only!.id)).toBe(400);
    const other = new TestBrowser(server.url, key);
    await signInToConsole(other, 'signin');
    const session = (await (await other.request('/console/api/session')).json()) as { account_id: string };
    expect(session.account_id).toBe(solo.browser.authenticator.credentials[0]!.userHandle);
    const kinds = await server.db.query<{ kind: string }>(
      "SELECT kind FROM events WHERE kind LIKE 'passkey.%' AND outcome = 'ok' AND account_id = $1 ORDER BY id",
      [session.account_id],
    );
    expect(kinds.rows.map((r) => r.kind)).toEqual(['passkey.added', 'passkey.removed']);
  });

  it('renders the page with labelled controls, escaped names and no inline script or style', async () => {
    const res = await alice.browser.request('/console/passkeys');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    const page = await res.text();
    expect(page).toMatch(/data-console-ceremony="add-passkey"/);
    expect(page).toContain('<script type="module" src="/static/console.js"></script>');
    expect(page).not.toMatch(/<script(?![^>]*\bsrc=)/);
    expect(page).not.toMatch(/\sstyle=|\son[a-z]+=/);
    // Every visible input has a <label for> (hidden CSRF fields need none).
    const inputs = [...page.matchAll(/<input(?![^>]*type="hidden")[^>]*\bid="([^"]+)"/g)].map((m) => m[1]);
    expect(inputs.length).toBeGreaterThan(1);
    for (const id of inputs) expect(page).toContain(`for="${id}"`);
    expect((await alice.browser.request('/static/console.js')).status).toBe(200);

    const [first] = await listPasskeys(alice);
    await alice.api.send('PATCH', `/console/api/passkeys/${first!.id}`, { name: '<img src=x onerror=alert(1)>' });
    const escaped = await (await alice.browser.request('/console/passkeys')).text();
    expect(escaped).not.toContain('<img src=x');
    expect(escaped).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });
});

describe('console passkeys: guards', () => {
  let server: TestServer;
  let owner: Owner;
  let id: string;

  beforeAll(async () => {
    server = await startTestServer();
    owner = await Owner.signIn(server);
    id = owner.browser.authenticator.credentials[0]!.id;
  });
  afterAll(() => server?.stop());

  const mutations = () =>
    [
      ['POST', '/console/api/passkeys/options', {}],
      ['POST', '/console/api/passkeys', { credential: {} }],
      ['PATCH', `/console/api/passkeys/${id}`, { name: 'x' }],
      ['DELETE', `/console/api/passkeys/${id}`, undefined],
    ] as const;

  it('answers 401 without a session', async () => {
    const stranger = consoleApi(new TestBrowser(server.url), owner.csrf);
    expect((await stranger.get('/console/api/passkeys')).status).toBe(401);
    for (const [method, path, body] of mutations()) expect((await stranger.send(method, path, body)).status).toBe(401);
    const page = await new TestBrowser(server.url).request('/console/passkeys');
    expect(page.status).toBe(302);
    expect(page.headers.get('location')).toBe('/console/login?return=%2Fconsole%2Fpasskeys');
  });

  it('answers 403 without the CSRF token, with a wrong one, or from a foreign origin', async () => {
    for (const [method, path, body] of mutations()) {
      expect((await owner.api.send(method, path, body, { csrf: null })).status).toBe(403);
      expect((await owner.api.send(method, path, body, { csrf: 'forged' })).status).toBe(403);
      const foreign = await owner.api.send(method, path, body, { origin: 'https://evil.example' });
      expect(foreign.status).toBe(403);
      expect(await foreign.json()).toMatchObject({ error: 'forbidden_origin' });
    }
    for (const action of ['rename', 'remove']) {
      expect((await owner.browser.postForm(`/console/passkeys/${id}/${action}`, { name: 'x' })).status).toBe(403);
      expect(
        (
          await owner.browser.postForm(
            `/console/passkeys/${id}/${action}`,
            { csrf: owner.csrf, name: 'x' },
            { origin: 'https://evil.example' },
          )
        ).status,
      ).toBe(403);
    }
    expect((await listPasskeys(owner))[0]!.name).toBe('Synced passkey');
  });
});

describe('console passkeys: adding needs a recent sign-in (E7)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { RECENT_SIGN_IN_SECONDS: '2' } });
  });
  afterAll(() => server?.stop());

  it('refuses with 403 recent_sign_in_required after the window, and works again after a fresh passkey check', async () => {
    const owner = await Owner.signIn(server);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const options = await owner.api.send('POST', '/console/api/passkeys/options', {});
    expect(options.status).toBe(403);
    expect(await options.json()).toMatchObject({ error: 'recent_sign_in_required' });
    const add = await owner.api.send('POST', '/console/api/passkeys', { credential: {} });
    expect(add.status).toBe(403);
    // Renaming is not sensitive: it still works.
    expect(
      (await owner.api.send('PATCH', `/console/api/passkeys/${owner.browser.authenticator.credentials[0]!.id}`, { name: 'Old' })).status,
    ).toBe(200);

    // /console/login?fresh=1 asks for the passkey again (prompt=login, max_age=0), then the same browser may add one.
    const { csrf } = await signInToConsole(owner.browser, 'signin', '/console/login?fresh=1&return=/console/passkeys');
    const fresh = { ...owner, csrf, api: consoleApi(owner.browser, csrf) };
    const { res } = await addPasskey(fresh, newDevice(server));
    expect(res.status).toBe(201);
  });
});

/** console.js in a real browser: the owner signs up on one device, then adds a passkey held by another. */
(chromiumAvailable() ? describe : describe.skip)('adding a passkey in Chromium', () => {
  let server: TestServer;
  let chromium: Browser;
  beforeAll(async () => {
    server = await startTestServer();
    chromium = await launchChromium();
  });
  afterAll(async () => {
    await chromium?.close();
    await server?.stop();
  });

  for (const [device, viewport] of Object.entries(viewports)) {
    it(`runs the ceremony from the page and shows the new passkey (${device})`, async () => {
      const context = await chromium.newContext({ viewport });
      const page = await context.newPage();
      const laptop = await addVirtualAuthenticator(context, page);
      await page.goto(`${server.url}/console/passkeys`);
      await page.getByRole('button', { name: /create an account/i }).click();
      await page.waitForURL(`${server.url}/console/passkeys`);

      // The laptop's authenticator already holds a passkey for this account (excluded); use a second one.
      const cdp = await context.newCDPSession(page);
      await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: laptop.authenticatorId });
      const phone = await addVirtualAuthenticator(context, page);
      await page.getByLabel('Name (optional)').fill('My phone');
      await page.getByRole('button', { name: 'Add a passkey' }).click();
      await page.waitForURL(/done=added/);
      expect(await page.getByRole('status').textContent()).toContain('Passkey added.');
      expect(await page.locator('td[data-label="Name"]').allTextContents()).toEqual(['Passkey', 'My phone']);
      expect(await phone.credentials()).toHaveLength(1);
      await screenshot(page, `console-passkeys-${device}`);
      await context.close();
    });
  }
});
