import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { chromiumAvailable, launchChromium, newPasskeyPage, screenshot, viewports, signUpAt } from '../helpers/chromium.js';
import { FakeOAuthProvider } from '../fakes/oauth-provider.js';

/**
 * "Connect another service with your own OAuth app" in real Chromium: an owner fills the form in Connected accounts,
 * sees the app listed with its secret "set" (never shown), connects through it, and the page reads at desktop and
 * phone width without spilling sideways.
 */
(chromiumAvailable() ? describe : describe.skip)('own OAuth apps in the console in Chromium', () => {
  let server: TestServer;
  let fake: FakeOAuthProvider;
  let browser: Browser;
  let page: Page;
  let consoleMessages: string[];

  beforeAll(async () => {
    fake = await new FakeOAuthProvider().start();
    server = await startTestServer({ env: { UPSTREAM_OWN_ALLOW_HOSTS: new URL(fake.url).host } });
    browser = await launchChromium();
    ({ page, consoleMessages } = await newPasskeyPage(browser));
    await signUpAt(page, `${server.url}/console`);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await fake?.stop();
  });

  /** Screenshots at both widths; the page never scrolls sideways. */
  async function shoot(name: string) {
    for (const [device, viewport] of Object.entries(viewports)) {
      await page.setViewportSize(viewport);
      await screenshot(page, `own-apps-${name}-${device}`);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect({ device, overflow }).toEqual({ device, overflow: 0 });
    }
    await page.setViewportSize(viewports.desktop);
  }

  it('shows the form with the redirect URI to register, in plain words', async () => {
    await page.goto(`${server.url}/console/connections`);
    const section = page.getByRole('region', { name: 'Connect another service with your own OAuth app' });
    await expect(section.getByText(`${server.url}/connections/callback`).isVisible()).resolves.toBe(true);
    await expect(section.getByLabel('Authorization URL').isVisible()).resolves.toBe(true);
    await shoot('empty');
  });

  it('saves an app, shows its secret only as set, and connects through it', async () => {
    const form = page.getByRole('region', { name: 'Connect another service with your own OAuth app' }).locator('form').last();
    await form.getByLabel('Name of the service').fill('My calendar');
    await form.getByLabel('Authorization URL').fill(`${fake.url}/authorize`);
    await form.getByLabel('Token URL').fill(`${fake.url}/token`);
    await form.getByLabel('Client ID').fill(fake.clientId);
    await form.getByLabel('Client secret (optional)').fill(fake.clientSecret!);
    await form.getByLabel('Scopes (optional)').fill('read write');
    await form.getByLabel('API base URL (optional)').fill(`${fake.url}/api`);
    await form.getByLabel('Allowed API paths (optional)').fill('/v1');
    await form.getByRole('button', { name: 'Save service' }).click();
    await page.waitForURL(/\/console\/connections/);
    await expect(page.getByText('Service saved.').isVisible()).resolves.toBe(true);
    const html = await page.content();
    expect(html).not.toContain(fake.clientSecret!);
    await page.locator('#own-app-own-my-calendar summary').click();
    await expect(page.getByLabel('Client secret (set)').inputValue()).resolves.toBe('');
    await shoot('saved');

    await page.getByRole('button', { name: 'Connect My calendar' }).click();
    await page.waitForURL(`${server.url}/console/connections`);
    await expect(
      page
        .getByRole('cell', { name: /My calendar/ })
        .first()
        .isVisible(),
    ).resolves.toBe(true);
    await shoot('connected');
  });

  it('refuses a private address with the field named, keeping what was typed but the secret', async () => {
    await page.getByText('Add a service').click();
    const form = page.getByRole('region', { name: 'Connect another service with your own OAuth app' }).locator('form').last();
    await form.getByLabel('Name of the service').fill('Intranet');
    await form.getByLabel('Authorization URL').fill('https://10.1.2.3/authorize');
    await form.getByLabel('Token URL').fill('https://auth.example.com/token');
    await form.getByLabel('Client ID').fill('client');
    await form.getByLabel('Client secret (optional)').fill('cs_never_shown_again');
    await form.getByRole('button', { name: 'Save service' }).click();
    await expect(page.getByRole('alert').filter({ hasText: 'must be on the public internet' }).isVisible()).resolves.toBe(true);
    expect(await page.content()).not.toContain('cs_never_shown_again');
    await shoot('refused');
  });

  it('removes the app and its connection', async () => {
    await page.goto(`${server.url}/console/connections`);
    await page.locator('#own-app-own-my-calendar summary').click();
    await page.getByRole('button', { name: 'Remove My calendar' }).click();
    await page.waitForURL(/\/console\/connections/);
    await expect(page.getByText('Service removed.').isVisible()).resolves.toBe(true);
    await expect(page.getByText('You have not connected any account yet.').isVisible()).resolves.toBe(true);
    expect(consoleMessages.filter((m) => /Content Security Policy|error/i.test(m))).toEqual([]);
  });
});
