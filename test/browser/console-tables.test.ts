import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { brokenWords, chromiumAvailable, fitsWidth, launchChromium, newPasskeyPage, screenshot, viewports } from '../helpers/chromium.js';
import { authorizationRequest } from '../helpers/code-flow.js';

const redirectUri = 'http://127.0.0.1:8765/callback';

/** The console's table pages, each with something in its table once the owner has used the console a little. */
const TABLE_PAGES = ['/console/passkeys', '/console/sessions', '/console/log', '/console/apps', '/console/tokens', '/console/agents'];

/**
 * The console's tables, times and one-time secrets in real Chromium: no word in a table breaks across two lines at a
 * laptop's or a phone's width, times read "… ago" in the browser's own zone with the full time on hover, and a
 * secret's Copy button puts it on the clipboard and says so.
 */
(chromiumAvailable() ? describe : describe.skip)('the console tables in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let config: oidc.Configuration;
  let context: BrowserContext;
  let page: Page;
  let messages: string[];

  beforeAll(async () => {
    server = await startTestServer();
    const { clientId, clientSecret } = await server.addClient({ name: 'Newsroom', redirectUris: [redirectUri] });
    config = await oidc.discovery(new URL(server.url), clientId, clientSecret, undefined, { execute: [oidc.allowInsecureRequests] });
    browser = await launchChromium();
    ({ context, page, consoleMessages: messages } = await newPasskeyPage(browser, viewports.desktop));
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
    await page.goto(`${server.url}/console`);
    await page.waitForURL(/\/interaction\//);
    await page.getByLabel('Your name').fill('Ada');
    await page.getByRole('button', { name: 'Create an account with a passkey' }).click();
    await page.waitForURL(`${server.url}/console`);
    // An app with access, an agent token and an agent service: every table has a row.
    const request = await authorizationRequest(config, { redirect_uri: redirectUri, scope: 'openid tweet.post', prompt: 'consent' });
    await page.goto(request.url);
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL(/127\.0\.0\.1:8765/).catch(() => undefined);
    await page.goto(`${server.url}/console/tokens`);
    await page.getByLabel('Name', { exact: true }).fill('Research assistant');
    await page.locator('input[name="scope:tweet.read"]').check();
    await page.getByRole('button', { name: 'Make token' }).click();
    await page.waitForURL(/\/console\/tokens\?/);
    await page.goto(`${server.url}/console/agents`);
    await page.getByLabel('Name', { exact: true }).fill('Nightly digest');
    await page.locator('input[name="scope:tweet.read"]').check();
    await page.getByRole('button', { name: 'Register agent' }).click();
    await page.waitForURL(/\/console\/agents\?/);
  }, 120_000);
  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await server?.stop();
  });

  it.each([
    ['desktop', viewports.desktop],
    ['phone', viewports.phone],
  ] as const)(
    'breaks no word in any table and fits the width (%s)',
    async (device, viewport) => {
      await page.setViewportSize(viewport);
      const broken: Record<string, string[]> = {};
      for (const path of TABLE_PAGES) {
        await page.goto(`${server.url}${path}`);
        expect(await page.locator('.table td').count()).toBeGreaterThan(0);
        const words = await brokenWords(page);
        if (words.length) broken[path] = words;
        expect(await fitsWidth(page)).toBe(true);
        await screenshot(page, `tables-${path.split('/').pop()}-${device}`);
      }
      expect(broken).toEqual({});
    },
    120_000,
  );
});
