import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import type { FakeTelegram } from '../fakes/telegram.js';
import type { TestServer } from '../helpers/server.js';
import {
  brokenWords,
  chromiumAvailable,
  fitsWidth,
  launchChromium,
  newPasskeyPage,
  screenshot,
  viewports,
  signUpAt,
} from '../helpers/chromium.js';
import { eventually } from '../helpers/console-api.js';
import { NOTICE_KINDS } from '../../src/notices/kinds.js';
import { newUser, postUpdate, secretOf, startBotServer, waitForSent } from './support.js';

/** Screenshots for a person to look at, outside the repository. */
const look = (page: Page, name: string) => page.screenshot({ path: `/tmp/oauth3-shots/${name}.png`, fullPage: true });

/** The Telegram page in real Chromium, as an owner on a laptop or a phone uses it: make a link, see it linked, unlink. */
(chromiumAvailable() ? describe : describe.skip)('the Telegram page in Chromium', () => {
  let telegram: FakeTelegram;
  let server: TestServer;
  let browser: Browser;
  let token: string;
  const consoleMessages: string[][] = [];

  beforeAll(async () => {
    ({ telegram, token, server } = await startBotServer({ username: 'oauth3_page_bot' }));
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await telegram?.stop();
  });

  it.each(Object.entries(viewports))('links and unlinks on a %s', async (device, viewport) => {
    const { page, consoleMessages: messages } = await newPasskeyPage(browser, viewport);
    consoleMessages.push(messages);
    await signUpAt(page, `${server.url}/console`);

    // Through the navigation: the "Accounts" menu on a laptop, the one "Menu" button on a phone.
    const nav = page.getByRole('navigation', { name: 'Console sections' });
    if (device === 'phone') await nav.locator('summary.nav-menu-button').click();
    else await nav.locator('summary', { hasText: 'Accounts' }).click();
    await nav.getByRole('link', { name: 'Telegram', exact: true }).first().click();
    await page.waitForURL(`${server.url}/console/telegram`);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Telegram');
    expect(await fitsWidth(page)).toBe(true);
    await screenshot(page, `telegram-start-${device}`);

    await page.getByRole('button', { name: 'Make a link' }).click();
    const open = page.getByRole('link', { name: 'Open Telegram' });
    const url = await open.getAttribute('href');
    expect(url).toMatch(/^https:\/\/t\.me\/oauth3_page_bot\?start=[A-Za-z0-9_-]{22,64}$/);
    expect(await page.getByLabel('Or copy the link').inputValue()).toBe(url);
    expect(await fitsWidth(page)).toBe(true);
    await screenshot(page, `telegram-link-${device}`);

    const user = newUser('Ada');
    const update = telegram.message(token, { from: user, text: `/start ${new URL(url!).searchParams.get('start')!}` });
    expect((await postUpdate(server, update, secretOf(telegram, token))).status).toBe(200);
    await page.goto(`${server.url}/console/telegram`);
    expect(await page.getByText(`@${user.username} (Ada)`).isVisible()).toBe(true);
    expect(await fitsWidth(page)).toBe(true);
    await screenshot(page, `telegram-linked-${device}`);

    // What the bot tells you: one kind switched off stays off.
    expect(await page.getByRole('heading', { name: 'What the bot tells you' }).isVisible()).toBe(true);
    for (const label of Object.values(NOTICE_KINDS)) expect(await page.getByLabel(label).isChecked()).toBe(true);
    await page.getByLabel(NOTICE_KINDS.connections).uncheck();
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.waitForURL(/done=notices/);
    expect(await page.getByLabel(NOTICE_KINDS.connections).isChecked()).toBe(false);
    expect(await page.getByLabel(NOTICE_KINDS.approvals).isChecked()).toBe(true);

    // Not delivered: one Telegram refused for good, one still being retried.
    const { rows } = await server.db.query<{ account_id: string }>('SELECT account_id FROM telegram_links WHERE user_id = $1', [user.id]);
    const accountId = rows[0]!.account_id;
    const undelivered = async () =>
      (
        await server.db.query<{ status: string }>(
          "SELECT status FROM telegram_outbox WHERE account_id = $1 AND last_error IS NOT NULL AND status IN ('failed', 'pending')",
          [accountId],
        )
      ).rows.map((r) => r.status);
    const refused = 'Acme Notes for Android can now read your posts and publish new ones in your name until you revoke it.';
    try {
      telegram.fail('sendMessage', 'forbidden');
      await server.app.notifier.send(accountId, { kind: 'new_access', text: `${refused}\nOpen the console to see it.` });
      await eventually(undelivered, (s) => s.includes('failed'), 10_000);
      telegram.fail('sendMessage', 'server_error');
      await server.app.notifier.send(accountId, { kind: 'token_theft', text: 'Acme Notes presented a token that had already been used.' });
      await eventually(undelivered, (s) => s.includes('pending'), 10_000);
    } finally {
      telegram.reset();
    }
    await page.goto(`${server.url}/console/telegram`);
    const table = page.locator('section', { has: page.getByRole('heading', { name: 'Not delivered' }) });
    expect(await table.getByText('Gave up').isVisible()).toBe(true);
    expect(await table.getByText('Retrying').isVisible()).toBe(true);
    expect(await table.getByText('You blocked the bot in Telegram.', { exact: false }).isVisible()).toBe(true);
    expect(await fitsWidth(page)).toBe(true);
    await look(page, `telegram-undelivered-${device}`);
    expect(await brokenWords(page)).toEqual([]);

    await table.getByRole('button', { name: /^Send again/ }).click();
    await page.waitForURL(/done=resent/);
    expect(await page.getByRole('status').textContent()).toContain('queued again');
    expect(await waitForSent(telegram, user.id, 2)).toContain(`${refused}\nOpen the console to see it.`);
    await page.reload();
    expect(await table.getByText('Gave up').count()).toBe(0);
    expect(await table.getByText(refused).count()).toBe(0);
    await look(page, `telegram-resent-${device}`);

    await page.getByRole('button', { name: 'Unlink Telegram' }).click();
    await page.waitForURL(/done=unlinked/);
    expect(await page.getByRole('status').textContent()).toContain('Telegram is unlinked.');
    expect(await page.getByRole('button', { name: 'Make a link' }).isVisible()).toBe(true);
    await page.context().close();
  });

  it('breaks no Content Security Policy rule', () => {
    expect(consoleMessages.flat().filter((m) => /Content Security Policy|Refused/i.test(m))).toEqual([]);
  });
});
