import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { chromiumAvailable, launchChromium, newPasskeyPage, screenshot, viewports, signUpAt } from '../helpers/chromium.js';
import { basic } from '../helpers/token-flow.js';

/**
 * The developer portal in real Chromium: a developer signs up with a passkey at /developers, registers an
 * app through the form, sees its secret once, rotates it with a 1 h grace and sees both live secrets listed.
 * The steps share one server and one developer, so they run in order.
 */
(chromiumAvailable() ? describe : describe.skip)('the developer portal in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let clientId: string;
  let firstSecret: string;
  let consoleMessages: string[];

  /** Client authentication alone: introspecting a junk token is 200 for a live secret, 401 otherwise. */
  const authStatus = async (secret: string) =>
    (
      await fetch(`${server.url}/token/introspection`, {
        method: 'POST',
        headers: { authorization: basic(clientId, secret), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: 'not-a-token' }),
      })
    ).status;

  beforeAll(async () => {
    server = await startTestServer();
    browser = await launchChromium();
    ({ page, consoleMessages } = await newPasskeyPage(browser));
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('signs a new developer up with a passkey and comes back to /developers', async () => {
    await signUpAt(page, `${server.url}/developers`);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Your apps');
    expect(await page.getByText('You have not registered any app yet.').count()).toBe(1);
  });

  it('registers a web app through the form and shows its secret once', async () => {
    await page.getByRole('link', { name: 'Register an app' }).first().click();
    await page.waitForURL(`${server.url}/developers/apps/new`);
    await page.getByLabel('Web app (confidential)').check();
    await page.getByLabel('Name', { exact: true }).fill('Chromium test app');
    await page.getByLabel('Description', { exact: true }).fill('Made by a browser test');
    await page.getByLabel('Redirect URIs', { exact: true }).fill('https://app.example.com/callback\nhttp://127.0.0.1:8765/cb');
    await page.getByLabel(/Stay connected/).check();
    await screenshot(page, 'developers-register');
    await page.getByRole('button', { name: 'Register' }).click();
    await page.waitForURL(`${server.url}/developers/apps`);

    expect(await page.getByRole('status').textContent()).toContain('shown only once');
    clientId = (await page.locator('#client-id').textContent())!;
    expect(clientId).toMatch(/^c_/);
    firstSecret = await page.getByRole('textbox', { name: 'Client secret' }).inputValue();
    expect(firstSecret.length).toBeGreaterThanOrEqual(43);
    expect(await authStatus(firstSecret)).toBe(200);
    await screenshot(page, 'developers-secret-once');

    // The app's own page, opened again, never shows the secret.
    await page.goto(`${server.url}/developers/apps/${clientId}`);
    expect(await page.content()).not.toContain(firstSecret);
    expect(await page.getByRole('textbox', { name: 'Client secret' }).count()).toBe(0);
    expect(await page.locator('.secrets-table tbody tr').count()).toBe(1);
    expect(await page.getByRole('link', { name: 'Skill document' }).getAttribute('href')).toBe(`/developers/apps/${clientId}/skill.md`);
  });

  it('rotates the secret with a 1 hour grace and lists both live secrets', async () => {
    await page.getByLabel('Keep the old secret working for').selectOption('1h');
    await page.getByRole('button', { name: 'Rotate secret' }).click();
    await page.waitForURL(`${server.url}/developers/apps/${clientId}/rotate`);
    expect(await page.getByRole('status').textContent()).toContain('The old one works until');
    const second = await page.getByRole('textbox', { name: 'Client secret' }).inputValue();
    expect(second).not.toBe(firstSecret);

    const rows = page.locator('.secrets-table tbody tr');
    expect(await rows.count()).toBe(2);
    // The newest has no end; the old one ends about an hour from now.
    expect(await rows.nth(0).locator('.secret-until').textContent()).toBe('until rotated');
    const until = Date.parse((await rows.nth(1).locator('.secret-until').textContent())!.replace(' UTC', 'Z').replace(' ', 'T'));
    expect(until - Date.now()).toBeGreaterThan(58 * 60_000);
    expect(until - Date.now()).toBeLessThan(61 * 60_000);
    expect(await authStatus(firstSecret)).toBe(200);
    expect(await authStatus(second)).toBe(200);
    await screenshot(page, 'developers-rotated');

    await page.setViewportSize(viewports.phone);
    await page.goto(`${server.url}/developers/apps/${clientId}`);
    await screenshot(page, 'developers-app-phone');
    // Usable on a phone: nothing wider than the screen.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(viewports.phone.width);
  });

  it('lists the app on /developers and never broke the Content Security Policy', async () => {
    await page.goto(`${server.url}/developers`);
    expect(await page.getByRole('link', { name: 'Chromium test app' }).count()).toBe(1);
    expect(consoleMessages.filter((m) => /Content Security Policy/i.test(m))).toEqual([]);
  });
});
