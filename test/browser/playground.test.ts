import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { chromiumAvailable, launchChromium, newPasskeyPage, shootEveryWidth, signUpAt } from '../helpers/chromium.js';
import { basic } from '../helpers/token-flow.js';
import { startFakeTelegram, type FakeTelegram } from '../fakes/telegram.js';

interface PlaygroundState {
  clientId: string;
  pkce: { verifier: string; challenge: string; state: string };
  tokens: { access_token: string; refresh_token?: string; id_token?: string; scope: string };
  previous?: { access_token: string; refresh_token: string };
}

/**
 * The developer playground in real Chromium: a developer walks the playground through every step (configure, authorize
 * with PKCE, exchange, call the API, refresh, revoke) and each step's request and answer are on the page. The owner
 * signs up with a passkey and has a Telegram bot connected, so the API call reaches a real route.
 */
(chromiumAvailable() ? describe : describe.skip)('the developer playground in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let telegram: FakeTelegram;
  let resourceServer: { clientId: string; clientSecret: string };
  let state: PlaygroundState;
  let consoleMessages: string[];

  beforeAll(async () => {
    telegram = await startFakeTelegram();
    server = await startTestServer({ env: { TELEGRAM_API_ROOT: telegram.url } });
    const rs = await server.addClient({ name: 'RS', grantTypes: ['client_credentials'], scope: 'tweet.read', resourceServer: true });
    resourceServer = { clientId: rs.clientId, clientSecret: rs.clientSecret! };
    browser = await launchChromium();
    ({ page, consoleMessages } = await newPasskeyPage(browser));
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await telegram?.stop();
  });

  const playgroundUrl = () => `${server.url}/developers/playground`;
  const output = (step: string, part: 'request' | 'response' | 'details') =>
    page.locator(`[data-exchange="${step}"] [data-part="${part}"]`);
  const readState = async () =>
    (await page.evaluate(() => JSON.parse(sessionStorage.getItem('oauth3.playground') ?? '{}') as unknown)) as PlaygroundState;

  async function introspect(token: string): Promise<{ active: boolean; client_id?: string; scope?: string; aud?: string }> {
    const res = await fetch(`${server.url}/token/introspection`, {
      method: 'POST',
      headers: {
        authorization: basic(resourceServer.clientId, resourceServer.clientSecret),
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token }),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as { active: boolean };
  }

  /** The page at desktop and phone width; on a phone nothing is wider than the screen (long tokens wrap). */
  const shoot = (name: string) => shootEveryWidth(page, `playground-${name}`);

  it('signs the owner up and connects a Telegram bot, so the API has something to answer with', async () => {
    const { token } = telegram.addBot({
      username: 'playground_bot',
      chats: [{ id: -1009876543210, type: 'channel', title: 'Builds', username: 'builds' }],
    });
    await signUpAt(page, `${server.url}/console`);
    await page.goto(`${server.url}/console/connections`);
    const bot = page.getByRole('group', { name: 'Telegram bot' });
    await bot.getByLabel('Bot token').fill(token);
    await bot.getByLabel('Allowed chats').fill('@builds');
    await bot.getByRole('button', { name: 'Check and connect Telegram bot' }).click();
    await page.waitForURL(/done=connected/);
  });

  it('configures a flow and prepares an authorization request with a PKCE S256 challenge made in the page', async () => {
    await page.goto(playgroundUrl());
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('OAuth playground');
    expect(await page.getByLabel('Client ID').inputValue()).toBe('oauth3-playground');
    await expect(page.getByRole('checkbox', { name: /Stay connected/ }).isChecked()).resolves.toBe(true);
    await page.getByRole('checkbox', { name: /Send Telegram messages/ }).check();
    await page.getByRole('button', { name: 'Prepare the authorization request' }).click();
    await output('authorize', 'details').waitFor();

    state = await readState();
    // RFC 7636 §4.2: the challenge is BASE64URL(SHA256(verifier)), and only the challenge goes to the server.
    expect(state.pkce.verifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(state.pkce.challenge).toBe(createHash('sha256').update(state.pkce.verifier).digest('base64url'));
    const details = (await output('authorize', 'details').textContent())!;
    expect(details).toContain('code_challenge_method=S256');
    expect(details).toContain(`code_challenge=${state.pkce.challenge}`);
    expect(details).toContain(`resource=${server.config.RESOURCE_URL}`);
    expect(details).toContain('scope=openid offline_access telegram.post_any');
    expect(details).toContain(`redirect_uri=${playgroundUrl()}`);
    // The verifier stays masked until the developer asks.
    expect(details).not.toContain(state.pkce.verifier);
    await page.locator('[data-exchange="authorize"]').getByRole('button', { name: 'Reveal secrets' }).click();
    expect(await output('authorize', 'details').textContent()).toContain(state.pkce.verifier);
    await shoot('configure');
  });

  it('authorizes through the consent screen, which a signed-in owner still sees, and comes back with a code', async () => {
    await page.getByRole('button', { name: 'Open the authorization request' }).click();
    await page.waitForURL(/\/interaction\//);
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toContain('oauth3 playground wants access to your oauth3 account');
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL((url) => url.pathname === '/developers/playground');
    await page.waitForFunction(() => document.getElementById('pg-status')?.textContent?.includes('Back with an authorization code'));
    // The code left the address bar at once (history.replaceState).
    expect(page.url()).toBe(playgroundUrl());
    const details = (await output('authorize', 'details').textContent())!;
    expect(details).toContain(`iss=${server.url}`);
    expect(details).toContain(`state=${state.pkce.state}`);
  });

  it('exchanges the code at the token endpoint and shows the 200 token response, tokens masked', async () => {
    await page.getByRole('button', { name: 'Exchange the code' }).click();
    await output('exchange', 'response').waitFor();
    const request = (await output('exchange', 'request').textContent())!;
    expect(request).toContain('POST /token HTTP/1.1');
    expect(request).toContain('grant_type=authorization_code');
    expect(request).toContain('client_id=oauth3-playground');
    const response = (await output('exchange', 'response').textContent())!;
    expect(response).toMatch(/^HTTP\/1.1 200 OK/);
    expect(response).toContain('cache-control: no-store');
    expect(response).toContain('"token_type": "Bearer"');
    // RFC 8707: the access token is for the resource API, so it carries the resource scope; openid went to the ID token.
    expect(response).toContain('"scope": "telegram.post_any"');
    expect(response).toContain('"id_token": "');

    state = await readState();
    expect(state.tokens.refresh_token).toBeDefined();
    expect(state.tokens.id_token).toBeDefined();
    expect(response).not.toContain(state.tokens.access_token);
    expect(response).not.toContain(state.tokens.refresh_token);
    expect(response).toContain(`"access_token": "${state.tokens.access_token.slice(0, 6)}…${state.tokens.access_token.slice(-4)}"`);
    await page.locator('[data-exchange="exchange"]').getByRole('button', { name: 'Reveal secrets' }).click();
    expect(await output('exchange', 'response').textContent()).toContain(state.tokens.access_token);

    const live = await introspect(state.tokens.access_token);
    expect(live).toMatchObject({
      active: true,
      client_id: 'oauth3-playground',
      scope: 'telegram.post_any',
      aud: server.config.RESOURCE_URL,
    });
    await expect(page.getByRole('button', { name: 'Exchange the code' }).isDisabled()).resolves.toBe(true);
  });

  it('calls the resource API with the token and shows its answer', async () => {
    expect(await page.getByLabel('URL').inputValue()).toBe(`${server.config.RESOURCE_URL}/telegram/chats`);
    await page.getByRole('button', { name: 'Send the request' }).click();
    await output('call', 'response').waitFor();
    const request = (await output('call', 'request').textContent())!;
    expect(request).toContain('GET /api/telegram/chats HTTP/1.1');
    expect(request).toMatch(/Authorization: Bearer \S{6}…\S{4}\n/);
    const response = (await output('call', 'response').textContent())!;
    expect(response).toMatch(/^HTTP\/1.1 200 OK/);
    expect(response).toContain('"bot": "@playground_bot"');
    expect(response).toContain('"username": "@builds"');
  });

  it('refreshes: a new access token and a rotated refresh token', async () => {
    const before = await readState();
    await page.getByRole('button', { name: 'Refresh the tokens' }).click();
    await output('refresh', 'response').waitFor();
    expect(await output('refresh', 'request').textContent()).toContain('grant_type=refresh_token');
    expect(await output('refresh', 'response').textContent()).toMatch(/^HTTP\/1.1 200 OK/);
    expect(await page.locator('[data-exchange="refresh"] [data-note]').allTextContents()).toEqual([
      'New access token differs from the previous one: yes',
      'Refresh token rotated: yes',
    ]);
    state = await readState();
    expect(state.tokens.access_token).not.toBe(before.tokens.access_token);
    expect(state.tokens.refresh_token).not.toBe(before.tokens.refresh_token);
    expect((await introspect(state.tokens.access_token)).active).toBe(true);
  });

  it('revokes (RFC 7009 answers 200), and the old token is refused by the API and by introspection', async () => {
    await page.getByRole('button', { name: 'Revoke', exact: true }).click();
    await output('revoke', 'response').waitFor();
    expect(await output('revoke', 'request').textContent()).toContain('POST /token/revocation HTTP/1.1');
    expect(await output('revoke', 'response').textContent()).toMatch(/^HTTP\/1.1 200 OK/);
    expect((await introspect(state.tokens.access_token)).active).toBe(false);

    await page.getByRole('button', { name: 'Call the API again with the revoked token' }).click();
    await output('recheck', 'response').waitFor();
    const refused = (await output('recheck', 'response').textContent())!;
    expect(refused).toMatch(/^HTTP\/1.1 401 Unauthorized/);
    expect(refused).toContain('"error": "invalid_token"');

    // Revoking the access token ended the grant: its refresh token is dead too.
    const res = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: state.tokens.refresh_token!,
        client_id: 'oauth3-playground',
      }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_grant');
    await expect(page.getByRole('button', { name: 'Send the request' }).isDisabled()).resolves.toBe(true);
    await shoot('revoked');
    // Nothing on the page broke the Content Security Policy.
    expect(consoleMessages.filter((m) => /Content Security Policy|Refused to/i.test(m))).toEqual([]);
  });

  it('ignores a code that arrives with a state this tab did not make', async () => {
    await page.getByRole('button', { name: 'Start over' }).click();
    await page.getByRole('button', { name: 'Prepare the authorization request' }).click();
    await output('authorize', 'details').waitFor();
    await page.goto(`${playgroundUrl()}?code=forged-code-from-someone-else&state=not-ours&iss=${encodeURIComponent(server.url)}`);
    await page.waitForFunction(() => document.getElementById('pg-status')?.textContent?.includes('state does not match'));
    expect(page.url()).toBe(playgroundUrl());
    await expect(page.getByRole('button', { name: 'Exchange the code' }).isDisabled()).resolves.toBe(true);
    expect(JSON.stringify(await readState())).not.toContain('forged-code-from-someone-else');
  });

  it('sends the playground client nowhere but the playground page', async () => {
    const res = await fetch(
      `${server.url}/auth?${new URLSearchParams({
        client_id: 'oauth3-playground',
        response_type: 'code',
        redirect_uri: 'https://evil.example/callback',
        scope: 'openid',
        code_challenge: state.pkce.challenge,
        code_challenge_method: 'S256',
        state: 'x',
      })}`,
      { redirect: 'manual' },
    );
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(await res.text()).toContain('redirect_uri did not match');
  });
});
