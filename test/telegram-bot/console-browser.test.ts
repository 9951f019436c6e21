import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import { startFakeTelegram, type FakeTelegram } from '../fakes/telegram.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { chromiumAvailable, launchChromium, newPasskeyPage, screenshot, viewports } from '../helpers/chromium.js';
import { newUser, postUpdate, secretOf, WEBHOOK_URL } from './support.js';

/** The Telegram page in real Chromium, as an owner on a laptop or a phone uses it: make a link, see it linked, unlink. */
(chromiumAvailable() ? describe : describe.skip)('the Telegram page in Chromium', () => {
  let telegram: FakeTelegram;
  let server: TestServer;
  let browser: Browser;
  let token: string;
  const consoleMessages: string[][] = [];

  beforeAll(async () => {
    telegram = await startFakeTelegram();
    token = telegram.addBot({ username: 'oauth3_page_bot' }).token;
    server = await startTestServer({
      env: { TELEGRAM_BOT_TOKEN: token, TELEGRAM_API_ROOT: telegram.url, TELEGRAM_WEBHOOK_URL: WEBHOOK_URL },
    });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await telegram?.stop();
  });

  const fits = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);

  it.each(Object.entries(viewports))('links and unlinks on a %s', async (device, viewport) => {
    const { page, consoleMessages: messages } = await newPasskeyPage(browser, viewport);
    consoleMessages.push(messages);
    await page.goto(`${server.url}/console`);
    await page.waitForURL(/\/interaction\//);
    await page.getByRole('button', { name: 'Create an account with a passkey' }).click();
    await page.waitForURL(`${server.url}/console`);

    // The overview's tile, as on a phone, where it is the first thing under the navigation.
    await page.locator('#main').getByRole('link', { name: 'Telegram', exact: true }).click();
    await page.waitForURL(`${server.url}/console/telegram`);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Telegram');
    expect(await fits(page)).toBe(true);
    await screenshot(page, `telegram-start-${device}`);

    await page.getByRole('button', { name: 'Make a link' }).click();
    const open = page.getByRole('link', { name: 'Open Telegram' });
    const url = await open.getAttribute('href');
    expect(url).toMatch(/^https:\/\/t\.me\/oauth3_page_bot\?start=[A-Za-z0-9_-]{22,64}$/);
    expect(await page.getByLabel('Or copy the link').inputValue()).toBe(url);
    expect(await fits(page)).toBe(true);
    await screenshot(page, `telegram-link-${device}`);

    const user = newUser('Ada');
    const update = telegram.message(token, { from: user, text: `/start ${new URL(url!).searchParams.get('start')!}` });
    expect((await postUpdate(server, update, secretOf(telegram, token))).status).toBe(200);
    await page.goto(`${server.url}/console/telegram`);
    expect(await page.getByText(`@${user.username} (Ada)`).isVisible()).toBe(true);
    expect(await fits(page)).toBe(true);
    await screenshot(page, `telegram-linked-${device}`);

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
