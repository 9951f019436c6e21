import { Owner } from '../helpers/owner.js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser } from 'playwright-core';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { TestBrowser } from '../helpers/browser.js';
import { signInToConsole } from '../helpers/console.js';
import { consoleApi, eventually } from '../helpers/console-api.js';
import { addVirtualAuthenticator, chromiumAvailable, launchChromium, screenshot } from '../helpers/chromium.js';
import { codeFlow } from '../helpers/code-flow.js';

const redirectUri = 'http://127.0.0.1:8765/callback';

/** The delete confirmation as console.js runs it: options, the passkey prompt, then the deletion itself. */
async function confirmOptions(owner: Owner) {
  const res = await owner.api.send('POST', '/console/api/account/delete/options', {});
  expect(res.status).toBe(200);
  return res.json() as Promise<{ challenge: string; rpId: string; allowCredentials: { id: string }[] }>;
}

const count = async (server: TestServer, sql: string, accountId: string) => (await server.db.query(sql, [accountId])).rowCount;

describe.each(backends())('deleting an account on %s storage', (backend) => {
  let server: TestServer;
  let config: oidc.Configuration;

  beforeAll(async () => {
    server = await startTestServer({ backend });
    const { clientId, clientSecret } = await server.addClient({ name: 'Deletion test app', redirectUris: [redirectUri] });
    config = await oidc.discovery(new URL(server.url), clientId, clientSecret, undefined, { execute: [oidc.allowInsecureRequests] });
  });
  afterAll(() => server?.stop());

  /** An app's tokens for the browser's owner, through the real pages (signs up on a fresh browser). */
  async function appTokens(browser: TestBrowser) {
    return codeFlow(
      config,
      browser,
      { redirect_uri: redirectUri, scope: 'openid offline_access tweet.post', prompt: 'consent' },
      {
        passkey: browser.authenticator.credentials.length ? 'none' : 'signup',
        consent: 'approve',
      },
    );
  }

  it('shows what deletion does and asks for a passkey on the page', async () => {
    const owner = await Owner.signIn(server);
    const res = await owner.browser.request('/console/account');
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).toContain('data-console-ceremony="delete-account"');
    expect(page).toContain('for="delete-confirm"');
    expect(page).toContain('<script type="module" src="/static/console.js"></script>');
    expect(page).not.toMatch(/<script(?![^>]*\bsrc=)|\sstyle=/);
  });

  it('revokes every app token, signs out every browser and forgets the passkey, after a passkey confirmation', async () => {
    const browser = new TestBrowser(server.url);
    const tokens = await appTokens(browser);
    expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(true);
    const owner = await Owner.signIn(server, browser);
    const phone = await Owner.signIn(server, new TestBrowser(server.url, browser.authenticator));
    await eventually(
      () => count(server, 'SELECT 1 FROM browser_sessions WHERE account_id = $1', owner.accountId),
      (n) => n === 2,
    );
    const bystander = await Owner.signIn(server);

    const options = await confirmOptions(owner);
    // The browser offers only this owner's passkeys.
    expect(options.allowCredentials.map((c) => c.id)).toEqual([browser.authenticator.credentials[0]!.id]);
    const res = await owner.api.send('POST', '/console/api/account/delete', browser.authenticator.authenticate(options as never));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ deleted: true });

    // App tokens are dead, the refresh token too (threat model C6).
    expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(false);
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    // Every browser of the owner is signed out; another owner is untouched.
    expect((await owner.api.get('/console/api/session')).status).toBe(401);
    expect((await phone.api.get('/console/api/session')).status).toBe(401);
    expect((await bystander.api.get('/console/api/session')).status).toBe(200);
    // The passkey no longer signs in.
    await expect(signInToConsole(new TestBrowser(server.url, browser.authenticator), 'signin')).rejects.toThrow(
      /console sign-in failed: 400/,
    );

    // Nothing of the account is left but the one trace that it was deleted.
    for (const table of [
      'accounts WHERE id = $1',
      'passkeys WHERE account_id = $1',
      'browser_sessions WHERE account_id = $1',
      'agent_tokens WHERE account_id = $1',
      "oidc_models WHERE payload->>'accountId' = $1",
    ]) {
      expect([table, await count(server, `SELECT 1 FROM ${table}`, owner.accountId)]).toEqual([table, 0]);
    }
    const left = await server.db.query<{ kind: string; ip: string | null }>('SELECT kind, ip FROM events WHERE account_id = $1', [
      owner.accountId,
    ]);
    expect(left.rows).toEqual([{ kind: 'account.deleted', ip: null }]);
  });

  it("refuses another owner's passkey, a replayed or missing confirmation, and bad bodies, deleting nothing", async () => {
    const owner = await Owner.signIn(server);
    const other = await Owner.signIn(server);

    // A valid assertion, but by another owner's passkey, over this owner's challenge (E6).
    const options = await confirmOptions(owner);
    const foreign = other.browser.authenticator.authenticate({ ...options, allowCredentials: [] });
    const refused = await owner.api.send('POST', '/console/api/account/delete', foreign);
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ error: 'passkey_not_yours' });

    // The challenge was spent by that attempt: a genuine assertion over it now fails too (E2).
    const late = owner.browser.authenticator.authenticate(options as never);
    expect((await owner.api.send('POST', '/console/api/account/delete', late)).status).toBe(400);
    // No options asked for at all.
    expect(
      (
        await owner.api.send(
          'POST',
          '/console/api/account/delete',
          owner.browser.authenticator.authenticate({ challenge: 'AAAA', rpId: options.rpId }),
        )
      ).status,
    ).toBe(400);
    // Another session's challenge: the other owner's options, answered by this owner's passkey.
    const othersOptions = await confirmOptions(other);
    expect(
      (
        await owner.api.send(
          'POST',
          '/console/api/account/delete',
          owner.browser.authenticator.authenticate({ ...othersOptions, allowCredentials: [] }),
        )
      ).status,
    ).toBe(400);

    for (const body of [
      {},
      { id: 5 },
      { id: 'x'.repeat(2000), rawId: 'x', type: 'public-key', response: {} },
      { id: 'a', rawId: 'a', type: 'password', response: {} },
    ]) {
      await confirmOptions(owner);
      const res = await owner.api.send('POST', '/console/api/account/delete', body);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: 'invalid_request' });
    }

    expect((await owner.api.get('/console/api/session')).status).toBe(200);
    expect((await other.api.get('/console/api/session')).status).toBe(200);
    expect(await count(server, 'SELECT 1 FROM accounts WHERE id = $1', owner.accountId)).toBe(1);
    expect(await count(server, 'SELECT 1 FROM accounts WHERE id = $1', other.accountId)).toBe(1);
    const failures = await server.db.query(
      "SELECT 1 FROM events WHERE kind = 'account.delete' AND outcome = 'failure' AND account_id = $1",
      [owner.accountId],
    );
    expect(failures.rowCount).toBeGreaterThanOrEqual(3);
  });

  it('answers 401 without a session and 403 without CSRF protection', async () => {
    const owner = await Owner.signIn(server);
    const stranger = consoleApi(new TestBrowser(server.url), owner.csrf);
    for (const path of ['/console/api/account/delete/options', '/console/api/account/delete']) {
      expect((await stranger.send('POST', path, {})).status).toBe(401);
      expect((await owner.api.send('POST', path, {}, { csrf: null })).status).toBe(403);
      expect((await owner.api.send('POST', path, {}, { csrf: 'forged' })).status).toBe(403);
      expect((await owner.api.send('POST', path, {}, { origin: 'https://evil.example' })).status).toBe(403);
    }
    // Even a valid assertion is refused without the CSRF header.
    const options = await confirmOptions(owner);
    const assertion = owner.browser.authenticator.authenticate(options as never);
    expect((await owner.api.send('POST', '/console/api/account/delete', assertion, { csrf: null })).status).toBe(403);
    expect(await count(server, 'SELECT 1 FROM accounts WHERE id = $1', owner.accountId)).toBe(1);
    const page = await new TestBrowser(server.url).request('/console/account');
    expect(page.status).toBe(302);
  });
});

/** console.js in a real browser: the box must be ticked, the passkey confirms, and the owner lands on the home page. */
(chromiumAvailable() ? describe : describe.skip)('deleting an account in Chromium', () => {
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

  it('confirms with the passkey, deletes, and leaves the console', async () => {
    const context = await chromium.newContext({ viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    await addVirtualAuthenticator(context, page);
    await page.goto(`${server.url}/console/account`);
    await page.getByRole('button', { name: /create an account/i }).click();
    await page.waitForURL(`${server.url}/console/account`);
    const accountId = ((await (await page.request.get(`${server.url}/console/api/session`)).json()) as { account_id: string }).account_id;

    const remove = page.getByRole('button', { name: 'Delete my account' });
    expect(await remove.isDisabled()).toBe(true);
    await page.getByLabel(/I understand/).check();
    expect(await remove.isEnabled()).toBe(true);
    await screenshot(page, 'console-account-phone');
    await remove.click();
    await page.waitForURL(`${server.url}/?done=deleted`);
    expect((await page.request.get(`${server.url}/console/api/session`)).status()).toBe(401);
    expect(await count(server, 'SELECT 1 FROM accounts WHERE id = $1', accountId)).toBe(0);
    await context.close();
  });
});
