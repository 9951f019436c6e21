import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { chromiumAvailable, launchChromium, newPasskeyPage, seriousProblems, shootEveryWidth, signUpAt } from '../helpers/chromium.js';
import { authorizationUrl, redirectUri, type Client } from '../helpers/token-flow.js';
import { FakeX } from '../fakes/x.js';

/**
 * In real Chromium, at desktop and phone size: a consent page for an app that would post on X, when the owner has not
 * connected X, says so and leads to the console's connect page (one field, auth_token, with steps per browser), which
 * comes back to the same consent once X accepts the token. Then the developer portal's form with every problem
 * beside its field.
 */
(chromiumAvailable() ? describe : describe.skip)('connecting X from the consent page, and the portal form, in Chromium', () => {
  let x: FakeX;
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let consoleMessages: string[];
  let app: Client;
  let consentUrl: string;

  const shoot = (name: string) => shootEveryWidth(page, name);

  beforeAll(async () => {
    x = await FakeX.start();
    server = await startTestServer({ env: x.env({ UPSTREAM_TIMEOUT_MS: '3000' }) });
    app = await server.addClient({ name: 'Morning poster', redirectUris: [redirectUri] });
    browser = await launchChromium();
    ({ page, consoleMessages } = await newPasskeyPage(browser));
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await x?.close();
  });

  it('tells the owner on the consent page that X is not connected yet', async () => {
    await signUpAt(page, `${server.url}/console`);
    await page.goto(authorizationUrl(server.url, app.clientId, 'openid tweet.post').url);
    await page.waitForURL(/\/interaction\/[^/]+$/);
    consentUrl = page.url();
    const note = page.getByRole('note').filter({ hasText: 'You have not connected X yet' });
    expect(await note.textContent()).toContain('You have not connected X yet: the app will not be able to post until you do.');
    await shoot('consent-x-not-connected');
    expect(await seriousProblems(page)).toEqual([]);
  });

  it('connects X with auth_token alone, following the steps, and comes back to the same consent', async () => {
    await page.getByRole('link', { name: 'Connect X' }).click();
    await page.waitForURL(/\/console\/connections\/connect\/x\?return_to=/);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Connect X');
    const way = page.getByRole('group', { name: 'X account (browser cookie)' });
    // One field only, with the steps for three browsers, Chrome's open.
    const fields = await way.locator('input:not([type="hidden"]), textarea').evaluateAll((els) => els.map((e) => e.getAttribute('name')));
    expect(fields).toEqual(['auth_token']);
    expect(await way.locator('summary').allTextContents()).toEqual(['In Chrome', 'In Firefox', 'In Safari']);
    expect(await way.locator('details[open] ol.steps li').count()).toBe(5);
    await shoot('connect-x-steps');
    expect(await seriousProblems(page)).toEqual([]);

    // A token X refuses: said plainly, on the same page, still leading back.
    await way.getByLabel('auth_token').fill('0f'.repeat(20));
    await way.getByRole('button', { name: /Check and connect/ }).click();
    await page.waitForLoadState();
    const problem = page.getByRole('alert');
    expect(await problem.textContent()).toContain('X did not accept this auth_token');
    expect(await page.getByLabel('auth_token').getAttribute('aria-describedby')).toContain('x-cookie-problem');
    await shoot('connect-x-refused');
    expect(await seriousProblems(page)).toEqual([]);

    const session = x.signIn(x.user('browser_owner'));
    await page.getByLabel('auth_token').fill(session.auth_token);
    await page.getByRole('button', { name: /Check and connect/ }).click();
    await page.waitForURL(consentUrl);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toContain('Morning poster wants access');
    expect(await page.getByText('You have not connected X yet').count()).toBe(0);
    expect(await page.content()).not.toContain(session.auth_token);
  });

  it("shows every problem of the developer portal's form beside its field", async () => {
    await page.goto(`${server.url}/developers/apps/new`);
    await page.getByLabel('Web app (confidential)').check();
    await page.getByLabel('Home page', { exact: true }).fill('http://plain.example');
    await page.getByLabel('Redirect URIs', { exact: true }).fill('https://ok.example/cb\njavascript:alert(1)');
    await page.getByLabel(/Know who you are/).uncheck();
    await page.getByLabel(/Stay connected/).uncheck();
    await page.getByRole('button', { name: 'Register' }).click();
    await page.waitForURL(`${server.url}/developers/apps`);
    expect(await page.getByRole('alert').first().textContent()).toContain('The app was not saved: 4 problems to fix.');
    // Each field is described by its problem, so a screen reader reads them together.
    const described = async (label: string) => {
      const ids = (await page.getByLabel(label, { exact: true }).getAttribute('aria-describedby'))!.split(' ');
      return Promise.all(ids.map(async (id) => (await page.locator(`#${id}`).textContent())!.trim()));
    };
    expect(await described('Name')).toEqual(['Owners see it on the consent screen.', 'Is required']);
    expect(await described('Home page')).toEqual(['An https URL (optional).', 'Must be an https URL']);
    expect((await described('Redirect URIs'))[1]).toContain('Line 2: javascript:alert(1) must be');
    expect(await page.getByLabel('Home page', { exact: true }).inputValue()).toBe('http://plain.example');
    // The summary's links go to the fields.
    await page.getByRole('link', { name: 'Name: is required' }).click();
    expect(await page.evaluate(() => location.hash)).toBe('#app-name');
    await shoot('developers-form-problems');
    expect(await seriousProblems(page)).toEqual([]);
    expect(consoleMessages.filter((m) => /Content Security Policy|Refused to/i.test(m))).toEqual([]);
  });
});
