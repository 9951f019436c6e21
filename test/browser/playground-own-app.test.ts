import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser, Page, Request } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { chromiumAvailable, launchChromium, newPasskeyPage, seriousProblems, shootEveryWidth, signUpAt } from '../helpers/chromium.js';

interface Sent {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * The playground with the developer's own confidential app, in Chromium: the developer types the client id, the page
 * reads the app's public information, and the secret typed at step 3 goes to the token and revocation endpoints only,
 * in the Authorization header, and is stored nowhere. The Skill document tab shows the app's skill document.
 */
(chromiumAvailable() ? describe : describe.skip)('the playground with your own app, in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let consoleMessages: string[];
  let app: { client_id: string; client_secret: string };
  const sent: Sent[] = [];

  const playgroundUrl = () => `${server.url}/developers/playground`;
  const output = (step: string, part: 'request' | 'response' | 'details') =>
    page.locator(`[data-exchange="${step}"] [data-part="${part}"]`);

  const shoot = (name: string) => shootEveryWidth(page, `playground-own-app-${name}`);

  beforeAll(async () => {
    server = await startTestServer();
    browser = await launchChromium();
    ({ page, consoleMessages } = await newPasskeyPage(browser));
    page.on('request', (request: Request) => {
      sent.push({ url: request.url(), headers: request.headers(), body: request.postData() ?? '' });
    });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('signs the developer up and registers a confidential app whose redirect URIs hold the playground', async () => {
    await signUpAt(page, `${server.url}/developers`);
    app = await page.evaluate(async (playground) => {
      const session = (await (await fetch('/console/api/session')).json()) as { csrf_token: string };
      const res = await fetch('/developers/api/apps', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-csrf-token': session.csrf_token },
        body: JSON.stringify({
          kind: 'web',
          name: 'Morning digest',
          description: 'Reads the news and posts a summary.',
          redirect_uris: [playground],
          scopes: ['openid', 'offline_access', 'tweet.read'],
        }),
      });
      return (await res.json()) as { client_id: string; client_secret: string };
    }, playgroundUrl());
    expect(app.client_secret).toBeDefined();
  });

  it("loads the app's public information from its client id: name, scopes in plain words, and that it is confidential", async () => {
    await page.goto(playgroundUrl());
    await page.getByLabel('Client ID').fill(app.client_id);
    await page.getByRole('button', { name: 'Load the app' }).click();
    const card = page.locator('.pg-app-card');
    await card.waitFor();
    expect(await card.getByRole('heading').textContent()).toBe('Morning digest');
    const text = (await card.textContent())!;
    expect(text).toContain('Reads the news and posts a summary.');
    expect(text).toContain('Confidential app');
    expect(text).toContain('Read your posts on X tweet.read — See your X profile and your recent posts.');
    expect(text).not.toContain('Add '); // its redirect URIs hold the playground
    // Only the scopes the app may ask for can be chosen.
    await expect(page.getByRole('checkbox', { name: /Post on X as you/ }).isDisabled()).resolves.toBe(true);
    await page.getByRole('checkbox', { name: /Read your posts on X/ }).check();
    expect(sent.some((r) => r.url === `${server.url}/developers/apps/${app.client_id}/info`)).toBe(true);
    await shoot('loaded');
    expect(await seriousProblems(page)).toEqual([]);
  });

  it('signs in with the app and asks for the secret only at the exchange, which goes in the Authorization header', async () => {
    await page.getByRole('button', { name: 'Prepare the authorization request' }).click();
    await page.getByRole('button', { name: 'Open the authorization request' }).click();
    await page.waitForURL(/\/interaction\//);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toContain('Morning digest wants access');
    // tweet.read acts with X, which this owner has not connected: the consent page says so.
    expect(await page.locator('.needed-account').textContent()).toContain(
      'You have not connected X yet: the app will not be able to use your X account until you do.',
    );
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL((url) => url.pathname === '/developers/playground');
    await page.waitForFunction(() => document.getElementById('pg-status')?.textContent?.includes('Back with an authorization code'));

    const secretField = page.getByLabel('Client secret');
    await expect(secretField.isVisible()).resolves.toBe(true);
    await secretField.fill(app.client_secret);
    await page.getByRole('button', { name: 'Exchange the code' }).click();
    await output('exchange', 'response').waitFor();
    expect(await output('exchange', 'response').textContent()).toMatch(/^HTTP\/1.1 200 OK/);
    const request = (await output('exchange', 'request').textContent())!;
    expect(request).toContain('Authorization: Basic (client ID and secret, not kept)');
    expect(request).not.toContain('client_id=');
    expect(request).not.toContain(app.client_secret);

    await page.getByRole('button', { name: 'Refresh the tokens' }).click();
    await output('refresh', 'response').waitFor();
    expect(await output('refresh', 'response').textContent()).toMatch(/^HTTP\/1.1 200 OK/);
    await page.getByRole('button', { name: 'Revoke', exact: true }).click();
    await output('revoke', 'response').waitFor();
    expect(await output('revoke', 'response').textContent()).toMatch(/^HTTP\/1.1 200 OK/);
    await shoot('exchanged');
  });

  it('sent the secret nowhere but to the token and revocation endpoints, and stored it nowhere', async () => {
    const basic = `Basic ${Buffer.from(`${encodeURIComponent(app.client_id)}:${encodeURIComponent(app.client_secret)}`).toString('base64')}`;
    const carrying = sent.filter((r) => JSON.stringify(r).includes(app.client_secret) || JSON.stringify(r).includes(basic.slice(6)));
    expect(carrying.map((r) => new URL(r.url).pathname)).toEqual(['/token', '/token', '/token/revocation']);
    for (const r of carrying) {
      expect(r.headers.authorization).toBe(basic);
      expect(r.body).not.toContain(app.client_secret);
      expect(r.url).not.toContain(app.client_secret);
    }
    const stored = await page.evaluate(() => JSON.stringify({ ...sessionStorage }) + JSON.stringify({ ...localStorage }) + document.cookie);
    expect(stored).not.toContain(app.client_secret);
    expect(stored).not.toContain(basic.slice(6));
    // A reload forgets it: the developer types it again.
    await page.reload();
    expect(await page.getByLabel('Client secret').inputValue()).toBe('');
  });

  it("shows the app's skill document in its own tab, reachable by keyboard", async () => {
    const flowTab = page.getByRole('tab', { name: 'Sign-in flow' });
    await flowTab.focus();
    await page.keyboard.press('ArrowRight');
    const skillTab = page.getByRole('tab', { name: 'Skill document' });
    await expect(skillTab.getAttribute('aria-selected')).resolves.toBe('true');
    const skill = page.locator('#pg-skill');
    await skill.waitFor();
    const markdown = (await skill.textContent())!;
    expect(markdown).toContain('# Using oauth3 as “Morning digest”');
    expect(markdown).toContain(app.client_id);
    expect(markdown).not.toContain(app.client_secret);
    await expect(page.locator('#pg-panel-flow').isHidden()).resolves.toBe(true);
    expect(await page.getByRole('link', { name: 'Download the skill document' }).getAttribute('href')).toBe(
      `/developers/apps/${app.client_id}/skill.md`,
    );
    await shoot('skill');
    expect(await seriousProblems(page)).toEqual([]);
    await page.getByRole('tab', { name: 'Sign-in flow' }).click();
    await expect(page.locator('#pg-panel-flow').isVisible()).resolves.toBe(true);
    expect(consoleMessages.filter((m) => /Content Security Policy|Refused to|Error/i.test(m))).toEqual([]);
  });

  it('says so when the client id is no app, and the skill tab asks for an app', async () => {
    await page.getByRole('button', { name: 'Start over' }).click();
    await page.getByLabel('Client ID').fill('c_AAAAAAAAAAAAAAAA');
    await page.getByRole('button', { name: 'Load the app' }).click();
    await page.waitForFunction(() => document.getElementById('pg-app')?.textContent?.includes('No active app'));
    await page.getByRole('tab', { name: 'Skill document' }).click();
    await page.waitForFunction(() => document.getElementById('pg-skill-status')?.textContent?.includes('Load your app'));
    await expect(page.locator('#pg-skill').isHidden()).resolves.toBe(true);
  });
});
