import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser } from 'playwright-core';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { addVirtualAuthenticator, chromiumAvailable, launchChromium, screenshot, viewports } from '../helpers/chromium.js';

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/**
 * The device flow in real Chromium: a CLI starts it with openid-client; the owner opens the one-click link,
 * compares the code, signs up with a passkey (virtual authenticator), approves on the consent screen and sees the
 * success page, while the CLI's poll receives the tokens. The pages run under the strict CSP: no violations.
 */
(chromiumAvailable() ? describe : describe.skip)('the device flow in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let agent: oidc.Configuration;

  beforeAll(async () => {
    server = await startTestServer({ env: { DEVICE_POLL_INTERVAL: '1' } });
    browser = await launchChromium();
    const { clientId } = await server.addClient({ name: 'Deploy agent', public: true, grantTypes: [DEVICE_GRANT, 'refresh_token'] });
    agent = await oidc.discovery(new URL(server.url), clientId, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  for (const [device, viewport] of Object.entries(viewports)) {
    it(`connects the agent through verification_uri_complete, passkey sign-up and consent (${device})`, async () => {
      const authorization = await oidc.initiateDeviceAuthorization(agent, { scope: 'openid offline_access tweet.read' });
      // At the interval the server announced (DEVICE_POLL_INTERVAL=1): faster polls would earn slow_down.
      expect(authorization.interval).toBe(1);
      const polled = oidc.pollDeviceAuthorizationGrant(agent, authorization, undefined, { signal: AbortSignal.timeout(60_000) });
      polled.catch(() => undefined);

      const context = await browser.newContext({ viewport });
      const page = await context.newPage();
      const messages: string[] = [];
      page.on('console', (message) => messages.push(message.text()));
      const authenticator = await addVirtualAuthenticator(context, page);

      // The link posts the code by itself (oidc-provider's form, its script allowed by hash) to the confirmation page.
      await page.goto(authorization.verification_uri_complete!);
      await page.getByRole('heading', { name: 'Connect Deploy agent on a device?' }).waitFor();
      expect(await page.locator('.user-code').textContent()).toContain(authorization.user_code);
      expect(await page.textContent('main')).toContain('Only continue if you started this on your own device.');
      await screenshot(page, `device-confirm-${device}`);
      await page.getByRole('button', { name: 'Continue' }).click();

      await page.waitForURL(/\/interaction\//);
      expect(await page.textContent('main')).toContain('It asks from a device.');
      await page.getByRole('button', { name: 'Create an account with a passkey' }).click();
      await page.getByRole('button', { name: 'Allow' }).waitFor();
      const consent = await page.textContent('main');
      expect(consent).toContain('Deploy agent wants access to your oauth3 account');
      expect(consent).toContain('the device that showed you the code');
      expect(consent).toContain('Read your posts on X');
      await screenshot(page, `device-consent-${device}`);
      await page.getByRole('button', { name: 'Allow' }).click();

      await page.getByRole('heading', { name: 'Device connected' }).waitFor();
      await screenshot(page, `device-success-${device}`);
      expect(await authenticator.credentials()).toHaveLength(1);
      expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);

      const tokens = await polled;
      expect(tokens.access_token).toEqual(expect.any(String));
      expect(tokens.refresh_token).toEqual(expect.any(String));
      const credential = (await authenticator.credentials())[0] as { userHandle: string };
      expect(tokens.claims()!.sub).toBe(Buffer.from(credential.userHandle, 'base64').toString('base64url'));
      expect(messages.filter((m) => /Content Security Policy/i.test(m))).toEqual([]);
      await context.close();
    });
  }

  it('shows the code entry page and says when a typed code is wrong', async () => {
    const context = await browser.newContext({ viewport: viewports.phone });
    const page = await context.newPage();
    const messages: string[] = [];
    page.on('console', (message) => messages.push(message.text()));
    await page.goto(`${server.url}/device`);
    await page.getByLabel('Code').fill('bbbb-bbbb');
    await screenshot(page, 'device-input-phone');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toContain('That code is not right.');
    expect(await page.getByLabel('Code').inputValue()).toBe('bbbb-bbbb');
    expect(messages.filter((m) => /Content Security Policy/i.test(m))).toEqual([]);
    await context.close();
  });
});
