import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import * as oidc from 'openid-client';
import http from 'node:http';
import { freePort, startTestServer, type TestServer } from '../helpers/server.js';
import { addVirtualAuthenticator, chromiumAvailable, launchChromium, screenshot, viewports } from '../helpers/chromium.js';
import { startFakeTelegram, type FakeTelegram } from '../fakes/telegram.js';

/**
 * The owner's console in real Chromium: an owner signs up at /console with a passkey, manages passkeys, sessions, agent
 * tokens and connected apps by clicking through the pages, and every page is screenshotted at desktop and phone width.
 * The steps share one server and one owner, so they run in order.
 */
(chromiumAvailable() ? describe : describe.skip)('the console in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let laptop: Device;
  let ownerLabel: string;
  let introspectionEndpoint: string;
  let resourceServer: { clientId: string; clientSecret: string };
  let app: { config: oidc.Configuration; server: http.Server; redirectUri: string; callbacks: string[] };
  let telegram: FakeTelegram;
  /** Every console message of every page, to catch Content Security Policy violations. */
  const consoleMessages: string[] = [];

  beforeAll(async () => {
    telegram = await startFakeTelegram();
    server = await startTestServer({ env: { TELEGRAM_API_ROOT: telegram.url } });
    browser = await launchChromium();
    const rs = await server.addClient({ name: 'RS', grantTypes: ['client_credentials'], scope: 'tweet.read', resourceServer: true });
    resourceServer = { clientId: rs.clientId, clientSecret: rs.clientSecret! };
    const discovery = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as { introspection_endpoint: string };
    introspectionEndpoint = discovery.introspection_endpoint;
    app = await startApp();
    ({ context, page } = await openBrowser());
    laptop = await device(context, page);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    app?.server.closeAllConnections();
    app?.server.close();
    await telegram?.stop();
  });

  /** The app's side: a real callback endpoint recording where the browser landed, and openid-client. */
  async function startApp() {
    const port = await freePort();
    const redirectUri = `http://127.0.0.1:${port}/callback`;
    const callbacks: string[] = [];
    const appServer = http.createServer((req, res) => {
      const url = new URL(req.url!, redirectUri);
      if (url.pathname === '/callback') callbacks.push(url.href);
      res.end('app callback');
    });
    await new Promise<void>((resolve) => appServer.listen(port, '127.0.0.1', resolve));
    const { clientId, clientSecret } = await server.addClient({ name: 'Console test app', redirectUris: [redirectUri] });
    const config = await oidc.discovery(new URL(server.url), clientId, clientSecret, undefined, { execute: [oidc.allowInsecureRequests] });
    return { config, server: appServer, redirectUri, callbacks };
  }

  async function openBrowser() {
    const ctx = await browser.newContext({ viewport: viewports.desktop });
    const p = await ctx.newPage();
    p.on('console', (message) => consoleMessages.push(message.text()));
    return { context: ctx, page: p };
  }

  type Device = Awaited<ReturnType<typeof device>>;
  /** A passkey device: the shared virtual authenticator, plus the CDP calls to export, import and forget passkeys. */
  async function device(ctx: BrowserContext, p: Page) {
    const { authenticatorId } = await addVirtualAuthenticator(ctx, p);
    const cdp = await ctx.newCDPSession(p);
    const credentials = async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
    return {
      credentials,
      forget: (credentialId: string) => cdp.send('WebAuthn.removeCredential', { authenticatorId, credentialId }),
      hold: (credential: Awaited<ReturnType<typeof credentials>>[number]) =>
        cdp.send('WebAuthn.addCredential', { authenticatorId, credential }),
    };
  }

  /** RFC 7662 introspection as the resource server does it: HTTP Basic with the form-encoded client id and secret. */
  async function introspect(token: string): Promise<{ active: boolean; scope?: string }> {
    const basic = Buffer.from(`${encodeURIComponent(resourceServer.clientId)}:${encodeURIComponent(resourceServer.clientSecret)}`).toString(
      'base64',
    );
    const res = await fetch(introspectionEndpoint, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as { active: boolean; scope?: string };
  }

  /** /console sends a signed-out browser to the passkey page; a passkey brings it back to the console. */
  async function signIn(p: Page, button: 'Sign in with a passkey' | 'Create an account with a passkey') {
    await p.goto(`${server.url}/console`);
    await p.waitForURL(/\/interaction\//);
    expect(await p.getByRole('heading', { level: 1 }).textContent()).toContain('oauth3 console');
    // A new account gives the name the console greets the owner by.
    if (button === 'Create an account with a passkey') await p.getByLabel('Your name').fill('Console tester');
    await p.getByRole('button', { name: button }).click();
    await p.waitForURL(`${server.url}/console`);
    return (await p.getByText('Signed in as').locator('strong').textContent())!;
  }

  /** The page as it is now, at desktop and at phone width. */
  async function shoot(name: string) {
    for (const [device, viewport] of Object.entries(viewports)) {
      await page.setViewportSize(viewport);
      await screenshot(page, `console-${name}-${device}`);
    }
    await page.setViewportSize(viewports.desktop);
  }

  /** Reloads until the condition holds: the session tracker writes without making the request wait. */
  async function eventually(check: () => Promise<boolean>) {
    for (let i = 0; i < 20 && !(await check()); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      await page.reload();
    }
    expect(await check()).toBe(true);
  }

  const dataRows = (p: Page) => p.getByRole('row').filter({ has: p.getByRole('cell') });
  const nameCell = (p: Page, name: string) => p.getByRole('cell', { name, exact: true });

  it('signs up at /console with a passkey', async () => {
    ownerLabel = await signIn(page, 'Create an account with a passkey');
    expect(ownerLabel).toBe('Console tester');
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Hello, Console tester');
    expect(await laptop.credentials()).toHaveLength(1);
    await shoot('overview');
  });

  it('adds a second passkey, signs in with it, renames and removes the first', async () => {
    // The laptop forgets passkey 1 (WebAuthn.removeCredential). Then it is not "already registered" (the add
    // ceremony excludes the owner's passkeys), and it holds only passkey 2, so the sign-in below can only use that one.
    const [first] = await laptop.credentials();
    await laptop.forget(first!.credentialId);

    await page.goto(`${server.url}/console/passkeys`);
    await page.getByLabel('Name (optional)').fill('Work laptop');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.waitForURL(/done=added/);
    expect(await page.getByRole('status').textContent()).toContain('Passkey added.');
    expect(await dataRows(page).count()).toBe(2);
    await expect(nameCell(page, 'Passkey').isVisible()).resolves.toBe(true);
    await expect(nameCell(page, 'Work laptop').isVisible()).resolves.toBe(true);
    const [second] = await laptop.credentials();
    expect(second!.credentialId).not.toBe(first!.credentialId);
    await shoot('passkeys');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${server.url}/?done=signed-out`);
    expect(await page.getByRole('status').textContent()).toBe('You are signed out.');
    expect(await signIn(page, 'Sign in with a passkey')).toBe(ownerLabel);

    await page.goto(`${server.url}/console/passkeys`);
    const lastUsed = (name: string) =>
      dataRows(page)
        .filter({ has: nameCell(page, name) })
        .getByRole('cell')
        .nth(3)
        .textContent();
    expect(await lastUsed('Passkey')).toBe('Never');
    expect(await lastUsed('Work laptop')).not.toBe('Never');

    await page.getByLabel('New name for Passkey').fill('Old phone');
    await dataRows(page)
      .filter({ has: nameCell(page, 'Passkey') })
      .getByRole('button', { name: 'Rename' })
      .click();
    await page.waitForURL(/done=renamed/);
    await expect(nameCell(page, 'Old phone').isVisible()).resolves.toBe(true);
    await expect(nameCell(page, 'Passkey').count()).resolves.toBe(0);

    await page.getByRole('button', { name: 'Remove Old phone' }).click();
    await page.waitForURL(/done=removed/);
    expect(await page.getByRole('status').textContent()).toContain('Passkey removed.');
    expect(await dataRows(page).count()).toBe(1);
    await expect(nameCell(page, 'Work laptop').isVisible()).resolves.toBe(true);
    await expect(nameCell(page, 'Old phone').count()).resolves.toBe(0);
  });

  it('lists both signed-in browsers and signs out everywhere else', async () => {
    // A second browser of the same owner: the laptop's passkey, exported from its authenticator and imported.
    const other = await openBrowser();
    const otherDevice = await device(other.context, other.page);
    for (const credential of await laptop.credentials()) await otherDevice.hold(credential);
    expect(await signIn(other.page, 'Sign in with a passkey')).toBe(ownerLabel);

    await page.goto(`${server.url}/console/sessions`);
    await eventually(async () => (await dataRows(page).count()) === 2);
    expect(await page.getByText('This browser', { exact: true }).count()).toBe(1);
    await shoot('sessions');

    await page.getByRole('button', { name: 'Sign out everywhere else' }).click();
    await page.waitForURL(/done=signed-out-others/);
    expect(await page.getByRole('status').textContent()).toContain('Every other browser is signed out.');
    expect(await dataRows(page).count()).toBe(1);

    await other.page.goto(`${server.url}/console`);
    await other.page.waitForURL(/\/interaction\//);
    await expect(other.page.getByRole('button', { name: 'Sign in with a passkey' }).isVisible()).resolves.toBe(true);
    await other.context.close();
  });

  it('mints an agent token a resource server accepts, and revokes it', async () => {
    await page.goto(`${server.url}/console/tokens`);
    await page.getByLabel('Name', { exact: true }).fill('Research bot');
    await page.getByRole('checkbox', { name: /Read your posts on X/ }).check();
    await page.getByLabel('Works for').selectOption({ label: '1 hour' });
    await page.getByRole('button', { name: 'Make token' }).click();
    await page.getByRole('heading', { name: /Your new token for/ }).waitFor();
    expect(await page.getByRole('status').textContent()).toContain('shown only once');
    const token = await page.getByLabel('Token', { exact: true }).inputValue();
    expect(token.length).toBeGreaterThan(20);
    await shoot('tokens-new');

    expect(await introspect(token)).toMatchObject({ active: true, scope: 'tweet.read' });
    await page.getByRole('button', { name: 'Revoke Research bot' }).click();
    await page.waitForURL(/done=revoked/);
    expect(await page.getByRole('status').textContent()).toContain('Token revoked.');
    await expect(page.getByLabel('Token', { exact: true }).count()).resolves.toBe(0);
    expect((await introspect(token)).active).toBe(false);
  });

  it('connects an app through the consent page, then revokes it from /console/apps (C5)', async () => {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(app.config, {
      redirect_uri: app.redirectUri,
      scope: 'openid offline_access tweet.post',
      state,
      prompt: 'consent',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    await page.goto(url.href);
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL(`${app.redirectUri}**`);
    const tokens = await oidc.authorizationCodeGrant(app.config, new URL(app.callbacks.at(-1)!), {
      pkceCodeVerifier: verifier,
      expectedState: state,
    });
    expect(tokens.refresh_token).toBeDefined();
    expect((await introspect(tokens.access_token)).active).toBe(true);

    await page.goto(`${server.url}/console/apps`);
    const revoke = page.getByRole('button', { name: 'Revoke Console test app' });
    await expect(revoke.isVisible()).resolves.toBe(true);
    await shoot('apps');
    await revoke.click();
    await page.waitForURL(/done=revoked/);
    expect(await page.getByRole('status').textContent()).toContain('Access revoked.');
    await expect(revoke.count()).resolves.toBe(0);

    await expect(oidc.refreshTokenGrant(app.config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await introspect(tokens.access_token)).active).toBe(false);
  });

  /** Nothing wider than the screen: the page is usable on a phone without scrolling sideways. */
  async function fitsOnAPhone() {
    await page.setViewportSize(viewports.phone);
    const fits = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
    await page.setViewportSize(viewports.desktop);
    return fits;
  }

  it('connects a Telegram bot on Connected accounts; the token is checked, never shown, and the bot disconnects', async () => {
    const { token } = telegram.addBot({
      username: 'browser_bot',
      chats: [{ id: -1001234567890, type: 'channel', title: 'News', username: 'newsroom' }],
    });
    await page.goto(`${server.url}/console/connections`);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Connected accounts');
    const bot = page.getByRole('group', { name: 'Telegram bot' });
    await bot.getByLabel('Bot token').fill('123456:not-a-real-token-but-long-enough-xx');
    await bot.getByLabel('Allowed chats').fill('@newsroom');
    await bot.getByRole('button', { name: 'Check and connect Telegram bot' }).click();
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toContain('Telegram did not accept this bot token');
    expect(await bot.getByLabel('Bot token').inputValue()).toBe('');
    expect(await bot.getByLabel('Allowed chats').inputValue()).toBe('@newsroom');

    await bot.getByLabel('Bot token').fill(token);
    await bot.getByRole('button', { name: 'Check and connect Telegram bot' }).click();
    await page.waitForURL(/done=connected/);
    expect(await page.getByRole('status').textContent()).toContain('Account connected.');
    await expect(page.getByRole('cell', { name: '@browser_bot Telegram' }).isVisible()).resolves.toBe(true);
    expect(await page.content()).not.toContain(token);
    expect(await fitsOnAPhone()).toBe(true);
    await shoot('connections');
  });

  it('shows held posts on Approvals with their full text and a count in the navigation; approve sends, reject does not', async () => {
    await page.goto(`${server.url}/console/tokens`);
    await page.getByLabel('Name', { exact: true }).fill('Poster');
    await page.getByRole('checkbox', { name: /Send Telegram messages/ }).check();
    await page.getByRole('button', { name: 'Make token' }).click();
    await page.getByRole('heading', { name: /Your new token for/ }).waitFor();
    const { rows } = await server.db.query<{ grant_id: string; account_id: string }>(
      "SELECT grant_id, account_id FROM agent_tokens WHERE name = 'Poster'",
    );
    const { grant_id: grantId, account_id: accountId } = rows[0]!;
    const hold = (text: string) =>
      server.app.services.held.create({
        accountId,
        grantId,
        clientId: 'oauth3-agents',
        action: 'telegram.send',
        payload: { chat_id: '-1001234567890', text },
        summary: text,
      });
    await hold('Weekly digest:\n- release 4.2\n- a very-long-word-that-should-wrap-on-a-phone-screen-without-scrolling-sideways-at-all');
    await hold('Buy my coin now');

    await page.goto(`${server.url}/console`);
    await expect(page.getByText('2 posts wait for your approval.').isVisible()).resolves.toBe(true);
    // The count shows on the closed "Access" menu; the link inside it says it too.
    const nav = page.getByRole('navigation', { name: 'Console sections' });
    await nav.locator('summary', { hasText: 'Access 2 waiting' }).click();
    await nav.getByRole('link', { name: /Approvals 2 waiting/ }).click();
    await page.waitForURL(`${server.url}/console/approvals`);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Approvals');
    expect(await page.locator('.held-text').first().textContent()).toContain('Weekly digest:\n- release 4.2');
    expect(await fitsOnAPhone()).toBe(true);
    await shoot('approvals');

    const posts = page.getByRole('article');
    await posts
      .filter({ hasText: 'Weekly digest' })
      .getByRole('button', { name: /^Approve/ })
      .click();
    await page.waitForURL(/done=approved/);
    expect(await page.getByRole('status').textContent()).toContain('Approved and sent.');
    expect(telegram.sent.map((m) => m.text)).toEqual([expect.stringContaining('Weekly digest')]);

    await posts
      .filter({ hasText: 'Buy my coin now' })
      .getByRole('button', { name: /^Reject/ })
      .click();
    await page.waitForURL(/done=rejected/);
    expect(await page.getByText('Nothing is waiting for your approval.').isVisible()).toBe(true);
    expect(telegram.sent).toHaveLength(1);
    await expect(page.getByRole('link', { name: /waiting/ }).count()).resolves.toBe(0);
    await shoot('approvals-decided');
  });

  it('sets limits for an app on Connected apps', async () => {
    await page.goto(`${server.url}/console/apps`);
    await page.getByRole('link', { name: 'Change limits of Your agent: Poster' }).click();
    await page.waitForURL(/limits=/);
    const limits = page.locator('details.policy', { hasText: 'Your agent: Poster' });
    await limits.getByLabel('Posts per day').fill('3');
    await limits.getByLabel('Blocked patterns').fill('(oops');
    await limits.getByRole('button', { name: /Save limits/ }).click();
    expect(await page.getByRole('alert').first().textContent()).toContain('must be a valid regular expression');
    await limits.getByLabel('Blocked patterns').fill('coin\\b');
    await limits.getByRole('checkbox', { name: /Hold for my approval/ }).check();
    await limits.getByRole('button', { name: /Save limits/ }).click();
    await page.waitForURL(/done=limits-saved/);
    await expect(page.getByRole('cell', { name: /3 posts a day · 1 blocked pattern · held for your approval/ }).isVisible()).resolves.toBe(
      true,
    );
    expect(await fitsOnAPhone()).toBe(true);
    await shoot('apps-limits');
  });

  it('shows how to connect an MCP client and mints a token that works at /mcp, on a page that fits a phone', async () => {
    const nav = page.getByRole('navigation', { name: 'Console sections' });
    await nav.locator('summary', { hasText: 'Access' }).click();
    await nav.getByRole('link', { name: 'MCP clients' }).click();
    await page.waitForURL(`${server.url}/console/mcp`);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Use with an MCP client');
    expect(await page.getByLabel('MCP server URL').inputValue()).toBe(server.config.MCP_URL);
    expect(JSON.parse(await page.getByLabel('VS Code').inputValue())).toEqual({
      servers: { oauth3: { type: 'http', url: server.config.MCP_URL } },
    });
    await expect(page.getByRole('cell', { name: 'post_tweet' }).isVisible()).resolves.toBe(true);
    expect(await fitsOnAPhone()).toBe(true);
    await shoot('mcp');

    await page.getByLabel('Name', { exact: true }).fill('Desktop assistant with a rather long name to wrap');
    await page.getByRole('checkbox', { name: /Read your posts on X/ }).check();
    await page.getByRole('button', { name: 'Make MCP token' }).click();
    await page.getByRole('heading', { name: /Your new MCP token for/ }).waitFor();
    const token = await page.getByLabel('Token', { exact: true }).inputValue();
    const settings = JSON.parse(await page.locator('#new-mcp-mcp-servers').inputValue()) as unknown;
    expect(settings).toEqual({ mcpServers: { oauth3: { url: server.config.MCP_URL, headers: { Authorization: `Bearer ${token}` } } } });
    const init = await fetch(server.config.MCP_URL, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, accept: 'application/json, text/event-stream', 'content-type': 'application/json' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'browser test', version: '1' } },
      }),
    });
    expect(init.status).toBe(200);
    expect(await fitsOnAPhone()).toBe(true);
    await shoot('mcp-token');

    await page.goto(`${server.url}/console/tokens`);
    await expect(dataRows(page).filter({ hasText: 'Desktop assistant' }).getByText('For MCP').isVisible()).resolves.toBe(true);
  });

  it('disconnects the bot', async () => {
    await page.goto(`${server.url}/console/connections`);
    await page.getByRole('button', { name: 'Disconnect @browser_bot' }).click();
    await page.waitForURL(/done=disconnected/);
    expect(await page.getByText('You have not connected any account yet.').isVisible()).toBe(true);
  });

  it('screenshots every other console page at desktop and phone width', async () => {
    const pages = { tokens: 'Agent tokens', log: 'Access log', profile: 'Profile', account: 'Account' };
    for (const [name, heading] of Object.entries(pages)) {
      await page.goto(`${server.url}/console/${name}`);
      expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe(heading);
      await shoot(name);
    }
  });

  it('reported no Content Security Policy violation on any page', () => {
    expect(consoleMessages.filter((text) => text.includes('Content Security Policy'))).toEqual([]);
  });
});
