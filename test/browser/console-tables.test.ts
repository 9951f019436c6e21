import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../helpers/server.js';
import {
  brokenWords,
  chromiumAvailable,
  fitsWidth,
  launchChromium,
  newPasskeyPage,
  screenshot,
  viewports,
  seriousProblems,
  shootEveryWidth,
  signUpAt,
} from '../helpers/chromium.js';
import { authorizationRequest } from '../helpers/code-flow.js';

const redirectUri = 'http://127.0.0.1:8765/callback';

/** The console's table pages, each with something in its table once the owner has used the console a little. */
const TABLE_PAGES = [
  '/console/passkeys',
  '/console/sessions',
  '/console/log',
  '/console/apps',
  '/console/tokens',
  '/console/agents',
  '/console/approvals',
  '/console/mcp',
  '/console/connections',
];

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
  let accountId: string;

  const decided = (id: string, summary: string) =>
    server.db.query(
      `INSERT INTO held_actions (id, account_id, grant_id, client_id, action, payload, summary, status, decided_at)
       VALUES ($1, $2, 'grant-x', 'client-x', 'tweet.post', '{}', $3, 'rejected', now())`,
      [id, accountId, summary],
    );

  beforeAll(async () => {
    server = await startTestServer();
    const { clientId, clientSecret } = await server.addClient({ name: 'Newsroom', redirectUris: [redirectUri] });
    config = await oidc.discovery(new URL(server.url), clientId, clientSecret, undefined, { execute: [oidc.allowInsecureRequests] });
    browser = await launchChromium();
    ({ context, page, consoleMessages: messages } = await newPasskeyPage(browser, viewports.desktop));
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
    await signUpAt(page, `${server.url}/console`, 'Ada');
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
    // A decided post, for the approvals table.
    accountId = (await server.db.query<{ id: string }>('SELECT id FROM accounts ORDER BY created_at DESC LIMIT 1')).rows[0]!.id;
    await decided('held_tables_1', 'Post: our spring newsletter is out, with photographs of the new garden and a recipe');
    // Connected accounts: one connected yesterday and used an hour ago, one never used.
    await server.db.query(
      `INSERT INTO connections (id, account_id, provider, kind, label, status, sealed, created_at, last_used_at)
       VALUES ('con_tables_x', $1, 'x', 'x.cookie', '@ada_lovelace', 'active', 'not-a-real-seal', now() - interval '1 day', now() - interval '1 hour'),
              ('con_tables_t', $1, 'telegram', 'telegram.bot', 'Ada bot', 'active', 'not-a-real-seal', now(), NULL)`,
      [accountId],
    );
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

  it('breaks a link too long for its cell rather than widening the page, and no word beside it', async () => {
    const link = 'https://example.com/news/2026/spring/a-very-long-path-that-has-no-space-in-it-at-all?utm_source=oauth3';
    await decided('held_tables_2', `Post: read the whole story at ${link} today`);
    for (const [device, viewport] of Object.entries(viewports)) {
      await page.setViewportSize(viewport);
      await page.goto(`${server.url}/console/approvals`);
      expect(await fitsWidth(page)).toBe(true);
      expect(await brokenWords(page)).toEqual([link]);
      await screenshot(page, `tables-approvals-long-link-${device}`);
    }
    await server.db.query("DELETE FROM held_actions WHERE id = 'held_tables_2'");
  }, 60_000);

  it('shows times in the browser’s own zone and words, the full local time on hover, and the UTC time without JavaScript', async () => {
    // An event from yesterday, in the owner's zone: the log says "yesterday".
    await server.db.query(
      `INSERT INTO events (account_id, kind, outcome, detail, ip, created_at) VALUES ($1, 'profile.updated', 'ok', '{"fields":["email"]}', '::ffff:203.0.113.9', now() - interval '1 day')`,
      [accountId],
    );
    const state = await context.storageState();
    const tokyo = await browser.newContext({ viewport: viewports.desktop, timezoneId: 'Asia/Tokyo', locale: 'en-GB', storageState: state });
    const p = await tokyo.newPage();
    await p.goto(`${server.url}/console/log`);
    const row = p.locator('.log-table tr', { hasText: 'Changed: email.' });
    await expect(row.locator('time').textContent()).resolves.toBe('yesterday');
    await expect(row.locator('td', { hasText: '203.0.113.9' }).count()).resolves.toBe(1);
    const newest = p.locator('.log-table tbody time').first();
    expect(await newest.textContent()).toMatch(/^(now|\d+ (second|minute)s? ago)$/);
    // The full local time on hover: Tokyo's date and zone, not UTC's.
    const iso = (await newest.getAttribute('datetime'))!;
    const title = (await newest.getAttribute('title'))!;
    expect(title).toBe(
      new Intl.DateTimeFormat('en-GB', { dateStyle: 'full', timeStyle: 'long', timeZone: 'Asia/Tokyo' }).format(new Date(iso)),
    );
    expect(title).not.toContain('UTC');
    // Inside a sentence the local date and time, not words.
    await p.goto(`${server.url}/console/account`);
    const created = p.locator('time[data-time="absolute"]');
    const at = new Date((await created.getAttribute('datetime'))!);
    await expect(created.textContent()).resolves.toBe(
      new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'Asia/Tokyo' }).format(at),
    );
    await screenshot(p, 'tables-times-tokyo');

    // Connected accounts: when each was connected and last used, in words; the full local time on hover.
    await p.goto(`${server.url}/console/connections`);
    const x = p.locator('tr', { hasText: '@ada_lovelace' });
    await expect(x.locator('td[data-label="Connected"] time').textContent()).resolves.toBe('yesterday');
    await expect(x.locator('td[data-label="Last used"] time').textContent()).resolves.toBe('1 hour ago');
    const connected = x.locator('td[data-label="Connected"] time');
    await expect(connected.getAttribute('title')).resolves.toBe(
      new Intl.DateTimeFormat('en-GB', { dateStyle: 'full', timeStyle: 'long', timeZone: 'Asia/Tokyo' }).format(
        new Date((await connected.getAttribute('datetime'))!),
      ),
    );
    await expect(p.locator('tr', { hasText: 'Ada bot' }).locator('td[data-label="Last used"]').textContent()).resolves.toBe('Never');
    await shootEveryWidth(p, 'times-connections');
    expect(await seriousProblems(p)).toEqual([]);

    // The overview: the last sign-in and each app's access, in words too.
    await p.goto(`${server.url}/console`);
    await expect(p.locator('#overview-signin ~ p time').textContent()).resolves.toMatch(/^(now|\d+ (second|minute)s? ago)$/);
    for (const text of await p.locator('.overview-list .hint time').allTextContents())
      expect(text).toMatch(/^(now|\d+ (second|minute)s? ago)$/);
    expect(await p.locator('.overview-list .hint time').count()).toBeGreaterThan(0);
    expect(await p.locator('main').textContent()).not.toMatch(/UTC/);
    await shootEveryWidth(p, 'times-overview');
    expect(await seriousProblems(p)).toEqual([]);
    await tokyo.close();

    const plain = await browser.newContext({ viewport: viewports.phone, javaScriptEnabled: false, storageState: state });
    const q = await plain.newPage();
    await q.goto(`${server.url}/console/sessions`);
    for (const text of await q.locator('.table time').allTextContents())
      expect(text).toMatch(/^\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} UTC$/);
    expect(await brokenWords(q)).toEqual([]);
    await screenshot(q, 'tables-sessions-no-js-phone');
    await plain.close();
  }, 60_000);

  it('copies a secret shown once with a Copy button that says Copied, by mouse or keyboard; a reload shows it no more', async () => {
    await page.setViewportSize(viewports.phone);
    await page.goto(`${server.url}/console/tokens`);
    await page.getByLabel('Name', { exact: true }).fill('Copy me');
    await page.locator('input[name="scope:tweet.read"]').check();
    await page.getByRole('button', { name: 'Make token' }).click();
    await page.waitForURL(`${server.url}/console/tokens?done=minted`);
    const value = await page.locator('#new-token-value').inputValue();
    expect(value.length).toBeGreaterThan(20);
    await page.getByRole('button', { name: 'Copy token' }).click();
    // The button says so itself (its name becomes "Copied token"), and so does a status line for screen readers.
    await page.getByRole('button', { name: 'Copied token' }).waitFor();
    await expect(page.locator('[data-copy-status][aria-live="polite"]', { hasText: 'Copied to the clipboard.' }).count()).resolves.toBe(1);
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(value);
    expect(await fitsWidth(page)).toBe(true);
    await screenshot(page, 'tables-token-copied-phone');

    // The keyboard: Tab to it, Enter copies (the agent's secret this time).
    await page.setViewportSize(viewports.desktop);
    await page.evaluate(() => navigator.clipboard.writeText(''));
    await page.goto(`${server.url}/console/agents`);
    await page.getByLabel('Name', { exact: true }).fill('Copy agent');
    await page.locator('input[name="scope:tweet.read"]').check();
    await page.getByRole('button', { name: 'Register agent' }).click();
    await page.waitForURL(`${server.url}/console/agents?done=registered`);
    const secret = await page.locator('#new-agent-secret').inputValue();
    await page.locator('#new-agent-secret').focus();
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toContain('Copy client secret');
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Copied client secret' }).waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
    await screenshot(page, 'tables-agent-secret-desktop');

    // A reload neither shows the secret again nor registers another agent.
    const agents = await page.locator('.table tbody tr').count();
    await page.reload();
    await expect(page.locator('#new-agent-secret').count()).resolves.toBe(0);
    await expect(page.getByRole('status').first().textContent()).resolves.toContain('This secret was shown once');
    await expect(page.locator('.table tbody tr').count()).resolves.toBe(agents);
    expect(messages.filter((m) => /Content Security Policy|error/i.test(m))).toEqual([]);
  }, 60_000);

  it('asks before revoking everything, with counts, on a page that fits a phone, where axe-core finds nothing serious', async () => {
    for (const [device, viewport] of Object.entries(viewports)) {
      await page.setViewportSize(viewport);
      await page.goto(`${server.url}/console/apps`);
      await page.getByRole('link', { name: 'Revoke everything…' }).click();
      await page.waitForURL(`${server.url}/console/apps/revoke-all`);
      await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Revoke everything?');
      expect(await fitsWidth(page)).toBe(true);
      await screenshot(page, `tables-revoke-all-${device}`);
    }
    expect(await seriousProblems(page)).toEqual([]);

    await page.getByRole('button', { name: /^Revoke all \d+$/ }).click();
    await page.waitForURL(`${server.url}/console/apps?done=revoked-all`);
    await expect(page.getByRole('status').textContent()).resolves.toContain('Everything revoked.');
    await expect(page.getByText('No app has access to your account.').isVisible()).resolves.toBe(true);
  }, 60_000);

  it('deletes the account with a passkey and says so on the home page', async () => {
    await page.goto(`${server.url}/console/account`);
    await page.getByLabel(/I understand/).check();
    await page.getByRole('button', { name: 'Delete my account' }).click();
    await page.waitForURL(`${server.url}/?done=deleted`);
    await expect(page.getByRole('status').textContent()).resolves.toBe('Your account and everything in it was deleted.');
    await screenshot(page, 'tables-deleted-home-phone');
  }, 60_000);
});
