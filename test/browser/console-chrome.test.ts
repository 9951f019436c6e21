import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../helpers/server.js';
import {
  addVirtualAuthenticator,
  chromiumAvailable,
  fitsWidth,
  launchChromium,
  newPasskeyPage,
  screenshot,
  viewports,
  seriousProblems,
  signUpAt,
} from '../helpers/chromium.js';
import { authorizationRequest } from '../helpers/code-flow.js';
import { consoleSections } from '../../src/console/views/layout.js';

const redirectUri = 'http://127.0.0.1:8765/callback';

/**
 * The console's frame in real Chromium: the name given at sign-up greets the owner everywhere (never an account id),
 * the overview is a dashboard, the navigation is one row on a laptop and one Menu button on a phone (with and
 * without JavaScript), unknown pages get a styled 404, and axe-core finds nothing serious on any page at either width.
 */
(chromiumAvailable() ? describe : describe.skip)('the console frame in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let config: oidc.Configuration;

  beforeAll(async () => {
    server = await startTestServer();
    const { clientId, clientSecret } = await server.addClient({ name: 'Newsroom', redirectUris: [redirectUri] });
    config = await oidc.discovery(new URL(server.url), clientId, clientSecret, undefined, { execute: [oidc.allowInsecureRequests] });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** Signs up at /console with a passkey, typing `name` (if any) in the sign-up's name field. */
  async function signUp(viewport: { width: number; height: number }, name?: string) {
    const session = await newPasskeyPage(browser, viewport);
    await signUpAt(session.page, `${server.url}/console`, name);
    return session;
  }

  it('greets the owner by the name given at sign-up on the overview and the consent page, and the profile changes it', async () => {
    const { page, context, consoleMessages } = await signUp(viewports.desktop, '  Ada   Lovelace ');
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Hello, Ada Lovelace');
    expect(await page.getByText('Signed in as').locator('strong').textContent()).toBe('Ada Lovelace');
    const { rows } = await server.db.query<{ id: string }>('SELECT id FROM accounts ORDER BY created_at DESC LIMIT 1');
    expect(await page.content()).not.toContain(rows[0]!.id.slice(0, 8));

    // The dashboard: nothing connected yet, nothing to do, and this sign-up as the last sign-in.
    await expect(page.getByText('Nothing needs your attention.').isVisible()).resolves.toBe(true);
    await expect(page.getByRole('heading', { name: 'Last sign-in' }).isVisible()).resolves.toBe(true);
    await expect(page.getByText('when you created the account').isVisible()).resolves.toBe(true);

    const request = await authorizationRequest(config, { redirect_uri: redirectUri, scope: 'openid tweet.post', prompt: 'consent' });
    await page.goto(request.url);
    await page.getByRole('button', { name: 'Allow' }).waitFor();
    expect(await page.locator('.signed-in').textContent()).toBe('Signed in as Ada Lovelace');

    await page.goto(`${server.url}/console/profile`);
    await page.getByLabel('Your name').fill('Countess of Lovelace');
    await page.getByRole('button', { name: 'Save profile' }).click();
    await page.waitForURL(/\/console\/profile/);
    await page.goto(`${server.url}/console`);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Hello, Countess of Lovelace');

    // A name longer than 64 characters is refused beside its field, and nothing changes.
    await page.goto(`${server.url}/console/profile`);
    await page.getByLabel('Your name').evaluate((input: HTMLInputElement) => input.removeAttribute('maxlength'));
    await page.getByLabel('Your name').fill('x'.repeat(65));
    await page.getByRole('button', { name: 'Save profile' }).click();
    await expect(page.getByText('A name has at most 64 characters.').isVisible()).resolves.toBe(true);
    expect(consoleMessages.filter((m) => /Content Security Policy|error/i.test(m) && !/status of 400/.test(m))).toEqual([]);
    await context.close();
  });

  it('says "your account" rather than an id when the owner gave no name', async () => {
    const { page, context } = await signUp(viewports.desktop);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Your oauth3 console');
    await expect(page.getByRole('link', { name: 'Add your name' }).isVisible()).resolves.toBe(true);
    const request = await authorizationRequest(config, { redirect_uri: redirectUri, scope: 'openid tweet.post', prompt: 'consent' });
    await page.goto(request.url);
    await page.getByRole('button', { name: 'Allow' }).waitFor();
    expect(await page.locator('.signed-in').textContent()).toBe('Signed in to your oauth3 account');
    await context.close();
  });

  it('fits the navigation in one row on a laptop and a phone, opens one menu at a time, and shows the waiting count', async () => {
    const { page, context } = await signUp(viewports.desktop, 'Grace');
    const accountId = (await server.db.query<{ id: string }>('SELECT id FROM accounts ORDER BY created_at DESC LIMIT 1')).rows[0]!.id;
    const header = page.locator('.site-header');
    expect((await header.boundingBox())!.height).toBeLessThan(80);
    const nav = page.getByRole('navigation', { name: 'Console sections' });
    // The keyboard focus ring: dark amber, 4.6:1 on the page background (the lighter amber was about 2:1).
    await page.locator('.brand').focus();
    await page.keyboard.press('Tab');
    const ring = await page.evaluate(() => {
      const style = getComputedStyle(document.activeElement!);
      return `${style.outlineStyle} ${style.outlineColor}`;
    });
    expect(ring).toBe('solid rgb(180, 83, 9)');
    await screenshot(page, 'chrome-focus-desktop');
    // Closed menus hide their links; opening "Security" shows its three.
    await expect(nav.getByRole('link', { name: 'Passkeys' }).count()).resolves.toBe(0);
    const summary = (label: string) => nav.locator('summary', { hasText: label });
    await summary('Security').click();
    await expect(nav.getByRole('link', { name: 'Passkeys' }).isVisible()).resolves.toBe(true);
    await expect(nav.getByRole('link', { name: 'Access log' }).isVisible()).resolves.toBe(true);
    await screenshot(page, 'chrome-nav-open-desktop');
    // Opening another closes it; Escape closes that one too.
    await summary('Access').click();
    await expect(nav.getByRole('link', { name: 'Passkeys' }).count()).resolves.toBe(0);
    await expect(nav.getByRole('link', { name: 'Agent tokens' }).isVisible()).resolves.toBe(true);
    await page.keyboard.press('Escape');
    await expect(nav.getByRole('link', { name: 'Agent tokens' }).count()).resolves.toBe(0);
    await summary('Security').click();
    await nav.getByRole('link', { name: 'Sessions' }).click();
    await page.waitForURL(`${server.url}/console/sessions`);
    await expect(nav.locator('.nav-group-current summary').textContent()).resolves.toBe('Security');

    // A held post: its count shows on the closed "Access" menu (and the phone's Menu button), not only inside.
    await server.db.query(
      `INSERT INTO held_actions (id, account_id, grant_id, client_id, action, payload, summary)
       VALUES ('held_chrome_1', $1, 'grant-x', 'client-x', 'tweet.post', '{"text":"hi"}', 'Post: hi')`,
      [accountId],
    );
    await page.goto(`${server.url}/console`);
    await expect(nav.getByText('Access 1 waiting').isVisible()).resolves.toBe(true);
    await expect(page.getByText('1 post waits for your approval.').isVisible()).resolves.toBe(true);

    await page.setViewportSize(viewports.phone);
    await page.goto(`${server.url}/console`);
    // One row on a phone too: brand, Menu, Sign out, a small part of the first screen.
    expect((await header.boundingBox())!.height).toBeLessThan(0.12 * viewports.phone.height);
    const menu = nav.locator('.nav-menu-button');
    expect(await menu.textContent()).toBe('Menu 1 waiting');
    await screenshot(page, 'chrome-overview-phone');
    await menu.click();
    await expect(nav.getByRole('link', { name: 'Telegram' }).isVisible()).resolves.toBe(true);
    expect(await fitsWidth(page)).toBe(true);
    await screenshot(page, 'chrome-nav-open-phone');
    await nav.getByRole('link', { name: 'Telegram' }).click();
    await page.waitForURL(`${server.url}/console/telegram`);
    await context.close();
  });

  it('opens the menus without JavaScript', async () => {
    const { page, context } = await signUp(viewports.desktop, 'Edsger');
    const state = await context.storageState();
    for (const viewport of Object.values(viewports)) {
      const plain = await browser.newContext({ viewport, javaScriptEnabled: false, storageState: state });
      const p = await plain.newPage();
      await p.goto(`${server.url}/console`);
      const nav = p.getByRole('navigation', { name: 'Console sections' });
      if (viewport === viewports.phone) await nav.locator('.nav-menu-button').click();
      else await nav.locator('summary', { hasText: 'Accounts' }).click();
      await nav.getByRole('link', { name: 'Connected accounts' }).click();
      await p.waitForURL(`${server.url}/console/connections`);
      await plain.close();
    }
    await page.close();
    await context.close();
  });

  it('answers an unknown page with a styled 404 for a browser, and leaves JSON clients and the provider alone', async () => {
    const page404 = await fetch(`${server.url}/no-such-page`, { headers: { accept: 'text/html' } });
    expect(page404.status).toBe(404);
    expect(page404.headers.get('content-type')).toContain('text/html');
    const text = await page404.text();
    expect(text).toContain('<h1 id="error-title">Page not found</h1>');
    expect(text).toContain('href="/"');
    const inConsole = await fetch(`${server.url}/console/no-such-page`, { headers: { accept: 'text/html' } });
    expect(inConsole.status).toBe(404);
    expect(await inConsole.text()).toContain('Page not found');

    const json = await fetch(`${server.url}/no-such-page`, { headers: { accept: 'application/json' } });
    expect(json.status).toBe(404);
    expect(json.headers.get('content-type') ?? '').not.toContain('text/html');
    // oidc-provider's own endpoints answer as they did, never with this page: its paths are left to it.
    for (const [path, status] of [
      ['/token', 404],
      ['/session/end/nope', 404],
      ['/reg/no-such-client', 401],
    ] as const) {
      const res = await fetch(`${server.url}${path}`, { headers: { accept: 'text/html' } });
      expect(res.status).toBe(status);
      expect(await res.text()).not.toContain('Page not found');
    }
    const discovery = await fetch(`${server.url}/.well-known/openid-configuration`, { headers: { accept: 'text/html' } });
    expect(discovery.status).toBe(200);
  });

  it.each([
    ['desktop', viewports.desktop, 'light'],
    ['phone', viewports.phone, 'light'],
    ['desktop-dark', viewports.desktop, 'dark'],
  ] as const)(
    'finds no serious accessibility problem on any page (%s)',
    async (device, viewport, colorScheme) => {
      const problems: Record<string, string[]> = {};
      const check = async (page: Page, name: string) => {
        const found = await seriousProblems(page);
        if (found.length) problems[name] = found;
        expect(await page.locator('h1').count()).toBe(1);
        expect(await page.locator('html').getAttribute('lang')).toBe('en');
        expect(await fitsWidth(page)).toBe(true);
        await screenshot(page, `chrome-${name.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '') || 'home'}-${device}`);
      };

      // axe-core is injected as a script of its own, which the pages' Content Security Policy would refuse.
      const context = await browser.newContext({ viewport, colorScheme, bypassCSP: true });
      const page = await context.newPage();
      await addVirtualAuthenticator(context, page);
      await page.goto(`${server.url}/`);
      await check(page, 'home');
      await page.goto(`${server.url}/deployment`);
      await check(page, 'deployment');
      await page.goto(`${server.url}/no-such-page`);
      await check(page, '404');
      // Sign-in, then consent, as an app's request brings them.
      const request = await authorizationRequest(config, { redirect_uri: redirectUri, scope: 'openid tweet.post', prompt: 'consent' });
      await page.goto(request.url);
      await page.getByRole('button', { name: 'Create an account with a passkey' }).waitFor();
      await check(page, 'sign-in');
      await page.getByLabel('Your name').fill('Alan');
      await page.getByRole('button', { name: 'Create an account with a passkey' }).click();
      await page.getByRole('button', { name: 'Allow' }).waitFor();
      await check(page, 'consent');
      for (const section of consoleSections) {
        await page.goto(`${server.url}${section.path}`);
        await check(page, section.path);
      }
      // An open menu is part of the page too.
      await page.goto(`${server.url}/console`);
      await page.locator(viewport === viewports.phone ? '.nav-menu-button' : '.nav-group summary >> nth=0').click();
      await check(page, 'console-menu-open');
      expect(problems).toEqual({});
      await context.close();
    },
    240_000,
  );
});
