import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/server.js';
import {
  addVirtualAuthenticator,
  chromiumAvailable,
  fitsWidth,
  launchChromium,
  screenshot,
  seriousProblems,
  shootEveryWidth,
  signUpAt,
  viewports,
} from '../helpers/chromium.js';
import { basic } from '../helpers/token-flow.js';

/**
 * The developer portal in real Chromium: a developer signs up with a passkey at /developers (the passkey listed under
 * their name), registers an app through the form, sees its secret once with a Copy button (a reload shows it no more
 * and registers nothing), rotates it with a 1 h grace and sees both live secrets listed, times in the browser's own
 * zone. The steps share one server and one developer, so they run in order.
 */
(chromiumAvailable() ? describe : describe.skip)('the developer portal in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let clientId: string;
  let firstSecret: string;
  let consoleMessages: string[];
  let context: BrowserContext;
  let passkeys: () => Promise<unknown[]>;

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
    // In Tokyo, so a time the portal shows in UTC would read differently from the local one.
    context = await browser.newContext({ viewport: viewports.desktop, timezoneId: 'Asia/Tokyo', locale: 'en-GB' });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
    page = await context.newPage();
    consoleMessages = [];
    page.on('console', (message) => consoleMessages.push(message.text()));
    const authenticator = await addVirtualAuthenticator(context, page);
    passkeys = () => authenticator.credentials();
  });
  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await server?.stop();
  });

  it('signs a new developer up with a passkey listed under their name, and comes back to /developers', async () => {
    await signUpAt(page, `${server.url}/developers`, 'Grace Hopper');
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Your apps');
    expect(await page.getByText('You have not registered any app yet.').count()).toBe(1);
    // The authenticator keeps the name the registration options gave it, which the passkey manager shows.
    const [credential] = (await passkeys()) as { userName?: string; userDisplayName?: string }[];
    expect(credential?.userDisplayName).toBe('Grace Hopper');
  });

  it('registers a web app through the form and shows its secret once, with Copy; a reload neither shows it nor registers again', async () => {
    await page.getByRole('link', { name: 'Register an app' }).first().click();
    await page.waitForURL(`${server.url}/developers/apps/new`);
    await page.getByLabel('Web app (confidential)').check();
    await page.getByLabel('Name', { exact: true }).fill('Chromium test app');
    await page.getByLabel('Description', { exact: true }).fill('Made by a browser test');
    await page.getByLabel('Redirect URIs', { exact: true }).fill('https://app.example.com/callback\nhttp://127.0.0.1:8765/cb');
    await page.getByLabel(/Stay connected/).check();
    await screenshot(page, 'developers-register');
    await page.getByRole('button', { name: 'Register' }).click();
    // POST, redirect, GET: the secret's page is an ordinary GET, with nothing secret in its address.
    await page.waitForURL(/\/developers\/apps\/c_[A-Za-z0-9_-]{16}\?done=registered$/);

    expect(await page.getByRole('status').textContent()).toContain('shown only once');
    clientId = (await page.locator('#client-id').textContent())!;
    expect(clientId).toMatch(/^c_/);
    firstSecret = await page.getByRole('textbox', { name: 'Client secret' }).inputValue();
    expect(firstSecret.length).toBeGreaterThanOrEqual(43);
    expect(page.url()).not.toContain(firstSecret);
    expect(await authStatus(firstSecret)).toBe(200);
    await page.getByRole('button', { name: 'Copy client secret' }).click();
    await page.getByRole('button', { name: 'Copied client secret' }).waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(firstSecret);
    await shootEveryWidth(page, 'developers-secret-once');
    expect(await seriousProblems(page)).toEqual([]);

    // A reload of that very page: the secret is gone, the page says so, and no second app was registered.
    await page.reload();
    expect(await page.getByRole('textbox', { name: 'Client secret' }).count()).toBe(0);
    expect(await page.content()).not.toContain(firstSecret);
    expect(await page.getByRole('status').textContent()).toContain('Its secret was shown once and is not shown again.');
    expect(await page.locator('.secrets-table tbody tr').count()).toBe(1);
    await screenshot(page, 'developers-secret-reloaded');
    const listed = await server.db.query("SELECT client_id FROM clients WHERE metadata->>'client_name' = $1", ['Chromium test app']);
    expect(listed.rows).toHaveLength(1);

    // The app's own page, opened again, never shows the secret.
    await page.goto(`${server.url}/developers/apps/${clientId}`);
    expect(await page.content()).not.toContain(firstSecret);
    expect(await page.getByRole('textbox', { name: 'Client secret' }).count()).toBe(0);
    expect(await page.getByRole('link', { name: 'Skill document' }).getAttribute('href')).toBe(`/developers/apps/${clientId}/skill.md`);
  });

  it('rotates the secret with a 1 hour grace and lists both live secrets, their times in the browser’s zone', async () => {
    await page.getByLabel('Keep the old secret working for').selectOption('1h');
    await page.getByRole('button', { name: 'Rotate secret' }).click();
    await page.waitForURL(`${server.url}/developers/apps/${clientId}?done=rotated`);
    expect(await page.getByRole('status').textContent()).toContain('Secret rotated.');
    const second = await page.getByRole('textbox', { name: 'Client secret' }).inputValue();
    expect(second).not.toBe(firstSecret);
    await page.getByRole('button', { name: 'Copy client secret' }).click();
    await page.getByRole('button', { name: 'Copied client secret' }).waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(second);

    // Until when the old one works: Tokyo's local date and time, the full time on hover.
    const tokyo = (options: Intl.DateTimeFormatOptions) => new Intl.DateTimeFormat('en-GB', { ...options, timeZone: 'Asia/Tokyo' });
    const hint = page.locator('.new-token time[data-time="absolute"]');
    const until = new Date((await hint.getAttribute('datetime'))!);
    expect(until.getTime() - Date.now()).toBeGreaterThan(58 * 60_000);
    expect(until.getTime() - Date.now()).toBeLessThan(61 * 60_000);
    expect(await hint.textContent()).toBe(tokyo({ dateStyle: 'medium', timeStyle: 'short' }).format(until));
    expect(await hint.getAttribute('title')).toBe(tokyo({ dateStyle: 'full', timeStyle: 'long' }).format(until));

    const rows = page.locator('.secrets-table tbody tr');
    expect(await rows.count()).toBe(2);
    // The newest has no end; the old one ends about an hour from now, in the same words as the hint.
    expect(await rows.nth(0).locator('.secret-until').textContent()).toBe('until rotated');
    expect(await rows.nth(1).locator('.secret-until time').textContent()).toBe(await hint.textContent());
    // "Created" reads as words: a moment ago.
    expect(await rows.nth(0).locator('td[data-label="Created"] time').textContent()).toMatch(/^(now|\d+ (second|minute)s? ago)$/);
    expect(await authStatus(firstSecret)).toBe(200);
    expect(await authStatus(second)).toBe(200);
    await shootEveryWidth(page, 'developers-rotated');
    expect(await seriousProblems(page)).toEqual([]);

    // A reload rotates nothing: the same two secrets, both working.
    await page.reload();
    expect(await page.getByRole('textbox', { name: 'Client secret' }).count()).toBe(0);
    expect(await rows.count()).toBe(2);
    expect(await authStatus(second)).toBe(200);

    await page.setViewportSize(viewports.phone);
    await page.goto(`${server.url}/developers/apps/${clientId}`);
    await screenshot(page, 'developers-app-phone');
    // Usable on a phone: nothing wider than the screen.
    expect(await fitsWidth(page)).toBe(true);
    await page.setViewportSize(viewports.desktop);
  });

  it('lists the app on /developers and never broke the Content Security Policy', async () => {
    await page.goto(`${server.url}/developers`);
    expect(await page.getByRole('link', { name: 'Chromium test app' }).count()).toBe(1);
    expect(await page.locator('td[data-label="Registered"] time').textContent()).toMatch(/^(now|\d+ (second|minute)s? ago)$/);
    await shootEveryWidth(page, 'developers-list');
    expect(consoleMessages.filter((m) => /Content Security Policy/i.test(m))).toEqual([]);
  });
});
