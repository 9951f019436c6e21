import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser } from 'playwright-core';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { brokenWords, chromiumAvailable, fitsWidth, launchChromium, newPasskeyPage, screenshot, viewports } from '../helpers/chromium.js';
import { authorizationRequest } from '../helpers/code-flow.js';
import { startFakeDstackAgent, type FakeDstackAgent } from '../fakes/dstack-agent.js';

const redirectUri = 'http://127.0.0.1:8765/callback';

/**
 * The "Verified deployment" mark of TEE mode, in real Chromium on a laptop and a phone: on the consent page and the
 * console's overview, small and within the screen, leading to /deployment, which explains it and how to check it.
 */
(chromiumAvailable() ? describe : describe.skip)('the Verified deployment mark in Chromium', () => {
  let agent: FakeDstackAgent;
  let server: TestServer;
  let browser: Browser;
  let config: oidc.Configuration;

  beforeAll(async () => {
    agent = await startFakeDstackAgent();
    server = await startTestServer({ env: { MASTER_KEY_SOURCE: 'dstack', DSTACK_SOCKET: agent.endpoint } });
    const { clientId, clientSecret } = await server.addClient({ name: 'Newsroom', redirectUris: [redirectUri] });
    config = await oidc.discovery(new URL(server.url), clientId, clientSecret, undefined, { execute: [oidc.allowInsecureRequests] });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await agent?.close();
  });

  it.each(Object.entries(viewports))('shows the mark on consent and in the console, and explains it (%s)', async (device, viewport) => {
    const { page, consoleMessages } = await newPasskeyPage(browser, viewport);
    const request = await authorizationRequest(config, { redirect_uri: redirectUri, scope: 'openid tweet.post', prompt: 'consent' });
    await page.goto(request.url);
    await page.getByRole('button', { name: /create an account/i }).click();
    await page.getByRole('button', { name: 'Allow' }).waitFor();

    const badge = page.locator('.tee-badge');
    await expect(badge.isVisible()).resolves.toBe(true);
    expect(await badge.textContent()).toContain('Verified deployment');
    expect(await badge.textContent()).toContain(agent.composeHash.slice(0, 12));
    expect(await badge.getAttribute('title')).toContain(agent.composeHash);
    // Small: one line of the header, never pushing the page sideways.
    expect((await badge.boundingBox())!.height).toBeLessThan(40);
    expect(await fitsWidth(page)).toBe(true);
    await screenshot(page, `deployment-consent-${device}`);

    await badge.click();
    await page.waitForURL(`${server.url}/deployment`);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Verified deployment');
    expect(await page.textContent('main')).toContain(
      `npm run oauth3 -- verify ${server.url} --allow-compose-hash ${agent.composeHash} --allow-os-image-hash ${agent.osImageHash}`,
    );
    expect(await fitsWidth(page)).toBe(true);
    await screenshot(page, `deployment-page-${device}`);

    await page.goto(`${server.url}/console`);
    const line = page.locator('.deployment-line');
    await expect(line.locator('.tee-badge').isVisible()).resolves.toBe(true);
    expect(await fitsWidth(page)).toBe(true);
    expect(await brokenWords(page)).toEqual([]);
    await screenshot(page, `deployment-console-${device}`);
    expect(consoleMessages.filter((m) => /Content Security Policy|error/i.test(m))).toEqual([]);
    await page.context().close();
  });
});
