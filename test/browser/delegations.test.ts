import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdirSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { brokenWords, chromiumAvailable, fitsWidth, launchChromium, newPasskeyPage, viewports, signUpAt } from '../helpers/chromium.js';
import { appGrant, delegate } from '../helpers/delegations.js';

/** Screenshots for a person to look at, outside the repository. */
const SHOTS = '/tmp/oauth3-shots';

/**
 * The tree of tokens an app handed its helpers, on Connected apps in real Chromium, on a laptop and on a phone:
 * readable, within the screen, and revoking one helper leaves the app and the helper above it.
 */
(chromiumAvailable() ? describe : describe.skip)('delegated tokens on Connected apps in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let newsroom: string;
  let summariser: string;
  let checker: string;

  beforeAll(async () => {
    server = await startTestServer();
    newsroom = (await server.addClient({ name: 'Newsroom', redirectUris: ['https://newsroom.example/callback'] })).clientId;
    summariser = (await server.addClient({ name: 'Summariser', grantTypes: ['client_credentials'] })).clientId;
    checker = (await server.addClient({ name: 'Fact checker for long articles', grantTypes: ['client_credentials'] })).clientId;
    browser = await launchChromium();
    mkdirSync(SHOTS, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it.each(Object.entries(viewports))('shows the tree and revokes one helper on a %s', async (device, viewport) => {
    const { page, consoleMessages } = await newPasskeyPage(browser, viewport);
    await signUpAt(page, `${server.url}/console`);
    const { rows } = await server.db.query<{ id: string }>('SELECT id FROM accounts ORDER BY created_at DESC LIMIT 1');
    const accountId = rows[0]!.id;

    const app = await appGrant(server, accountId, newsroom, ['tweet.read', 'tweet.post']);
    const root = { grantId: app.grantId, clientId: newsroom };
    const child = await delegate(server, accountId, root, summariser, ['tweet.read', 'tweet.post'], {
      sub: summariser,
      client_id: summariser,
    });
    await delegate(server, accountId, { grantId: child.row.grantId, clientId: summariser, row: child.row }, checker, ['tweet.read'], {
      sub: checker,
      client_id: checker,
      act: { sub: summariser, client_id: summariser },
    });

    await page.goto(`${server.url}/console/apps`);
    const tree = page.locator('.delegations-row');
    await expect(tree.locator('strong', { hasText: 'Summariser' }).isVisible()).resolves.toBe(true);
    await expect(tree.getByText('Helper, level 2').isVisible()).resolves.toBe(true);
    expect(await fitsWidth(page)).toBe(true);
    expect(await brokenWords(page)).toEqual([]);
    await page.screenshot({ path: `${SHOTS}/delegations-${device}.png`, fullPage: true });

    await page.getByRole('button', { name: 'Revoke Fact checker for long articles' }).click();
    await page.waitForURL(/\/console\/apps/);
    await expect(page.getByText('Access revoked.').isVisible()).resolves.toBe(true);
    await expect(tree.locator('strong', { hasText: 'Fact checker' }).count()).resolves.toBe(0);
    await expect(tree.locator('strong', { hasText: 'Summariser' }).isVisible()).resolves.toBe(true);
    await expect(page.getByRole('button', { name: 'Revoke Newsroom' }).isVisible()).resolves.toBe(true);
    expect(await fitsWidth(page)).toBe(true);
    await page.screenshot({ path: `${SHOTS}/delegations-revoked-${device}.png`, fullPage: true });

    // Revoking the app itself: it leaves the list, and its tree with it.
    await page.getByRole('button', { name: 'Revoke Newsroom' }).click();
    await page.waitForURL(/\/console\/apps/);
    await expect(page.locator('.delegations-row').count()).resolves.toBe(0);
    await expect(page.getByText('No app has access to your account.').isVisible()).resolves.toBe(true);
    expect(consoleMessages.filter((m) => /Content Security Policy|error/i.test(m))).toEqual([]);
    await page.context().close();
  });
});
