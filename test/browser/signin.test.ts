import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser } from 'playwright-core';
import * as oidc from 'openid-client';
import http from 'node:http';
import { freePort, startTestServer, type TestServer } from '../helpers/server.js';
import { addVirtualAuthenticator, chromiumAvailable, launchChromium, screenshot, viewports } from '../helpers/chromium.js';
import { authorizationRequest } from '../helpers/code-flow.js';

/** E1: register → sign in → authorize → token, in real Chromium with a virtual authenticator. */
(chromiumAvailable() ? describe : describe.skip)('E1 passkey sign-up, sign-in and consent in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let config: oidc.Configuration;
  let app: http.Server;
  let redirectUri: string;
  /** The app's side: a real callback endpoint that records where the browser landed. */
  const callbacks: string[] = [];

  beforeAll(async () => {
    const port = await freePort();
    redirectUri = `http://127.0.0.1:${port}/callback`;
    app = http.createServer((req, res) => {
      const url = new URL(req.url!, redirectUri);
      if (url.pathname === '/callback') callbacks.push(url.href);
      res.end('app callback');
    });
    await new Promise<void>((resolve) => app.listen(port, '127.0.0.1', resolve));
    server = await startTestServer();
    browser = await launchChromium();
    const { clientId, clientSecret } = await server.addClient({ name: 'Chromium test app', redirectUris: [redirectUri] });
    config = await oidc.discovery(new URL(server.url), clientId, clientSecret, undefined, { execute: [oidc.allowInsecureRequests] });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    app?.close();
  });

  const authorizationUrl = (scope: string, extra: Record<string, string> = {}) =>
    authorizationRequest(config, { redirect_uri: redirectUri, scope, ...extra });

  for (const [device, viewport] of Object.entries(viewports)) {
    it(`signs up with a passkey, approves consent and gets tokens (${device})`, async () => {
      const context = await browser.newContext({ viewport });
      const page = await context.newPage();
      const authenticator = await addVirtualAuthenticator(context, page);

      const first = await authorizationUrl('openid offline_access tweet.post', { prompt: 'consent' });
      await page.goto(first.url);
      expect(await page.getByRole('heading', { level: 1 }).textContent()).toContain('Chromium test app');
      await screenshot(page, `signin-${device}`);
      await page.getByRole('button', { name: /create an account/i }).click();
      await page.waitForURL(/\/interaction\//);
      await page.getByRole('button', { name: 'Allow' }).waitFor();
      expect(await page.textContent('main')).toContain('Post on X as you');
      await screenshot(page, `consent-${device}`);
      await page.getByRole('button', { name: 'Allow' }).click();
      await page.waitForURL(`${redirectUri}**`);
      expect(await authenticator.credentials()).toHaveLength(1);

      const tokens = await oidc.authorizationCodeGrant(config, new URL(callbacks.at(-1)!), {
        pkceCodeVerifier: first.verifier,
        expectedState: first.state,
      });
      expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(true);

      // Sign in again in a fresh session with the same passkey: no new account, consent remembered.
      await context.clearCookies();
      const second = await authorizationUrl('openid tweet.post');
      await page.goto(second.url);
      await page.getByRole('button', { name: /sign in with a passkey/i }).click();
      await page.waitForURL(`${redirectUri}**`);
      const again = await oidc.authorizationCodeGrant(config, new URL(callbacks.at(-1)!), {
        pkceCodeVerifier: second.verifier,
        expectedState: second.state,
      });
      expect(again.claims()!.sub).toBe(tokens.claims()!.sub);
      await context.close();
    });
  }
});
