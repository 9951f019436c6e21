import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { Owner } from '../helpers/owner.js';
import { csrfFrom } from '../helpers/browser.js';
import { authorizationUrl, redirectUri, type Client } from '../helpers/token-flow.js';
import { FakeX } from '../fakes/x.js';
import { interactionReturnTo, safeReturnTo } from '../../src/upstream/connect.js';

const X_APP = { clientId: 'oauth3-x-app', clientSecret: 'x-app-secret-value-456' };
const SAID = 'You have not connected X yet: the app will not be able to post until you do.';

/**
 * A consent page whose scopes act with an account the owner has not connected says so, and links to the console's
 * connect page, which comes back to the very same consent page once the account is connected (by pasting or by OAuth).
 * The way back is only ever a consent page of this server: no other URL is followed (no open redirect).
 */
describe('connecting a missing account from the consent page', () => {
  let x: FakeX;
  let server: TestServer;
  let app: Client;

  beforeAll(async () => {
    x = await FakeX.start();
    x.oauthClients.set(X_APP.clientId, { secret: X_APP.clientSecret });
    server = await startTestServer({
      env: x.env({ X_CLIENT_ID: X_APP.clientId, X_CLIENT_SECRET: X_APP.clientSecret, UPSTREAM_TIMEOUT_MS: '2000' }),
    });
    app = await server.addClient({ name: 'Poster app', redirectUris: [redirectUri] });
  });
  afterAll(async () => {
    await server?.stop();
    await x?.close();
  });

  /** Opens the consent page for `scope` in the owner's browser, without deciding: its path and its HTML. */
  async function consent(owner: Owner, scope: string): Promise<{ path: string; page: string }> {
    const step = await owner.browser.navigate(authorizationUrl(server.url, app.clientId, scope).url);
    expect(step.url).toMatch(/\/interaction\/[A-Za-z0-9_-]+$/);
    return { path: new URL(step.url).pathname, page: await step.response.text() };
  }

  const linkOf = (page: string) => /<a class="button secondary" href="([^"]+)">Connect X<\/a>/.exec(page)?.[1]?.replaceAll('&amp;', '&');

  it('says X is not connected, and pasting auth_token on the linked page comes back to the same consent', async () => {
    const owner = await Owner.signUp(server);
    const { path, page } = await consent(owner, 'openid tweet.post');
    expect(page).toContain(SAID);
    const link = linkOf(page)!;
    expect(link).toBe(`/console/connections/connect/x?return_to=${encodeURIComponent(path)}`);

    const connectPage = await (await owner.browser.request(link)).text();
    expect(connectPage).toContain('<h1>Connect X</h1>');
    expect(connectPage).toContain(`<input type="hidden" name="return_to" value="${path}">`);
    expect(connectPage).toContain(`href="${path}">Back to the app's request without connecting</a>`);

    const session = x.signIn(x.user('consent_paste'));
    const res = await owner.browser.postForm('/console/connections', {
      csrf: csrfFrom(connectPage),
      kind: 'x.cookie',
      auth_token: session.auth_token,
      return_to: path,
    });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(path);

    const again = await (await owner.browser.request(path)).text();
    expect(again).toContain('Poster app wants access to your oauth3 account');
    expect(again).not.toContain('You have not connected');
  });

  it('keeps the way back when X refuses the pasted token, on the same one-provider page', async () => {
    const owner = await Owner.signUp(server);
    const { path } = await consent(owner, 'tweet.post');
    const res = await owner.browser.postForm('/console/connections', {
      csrf: owner.csrf,
      kind: 'x.cookie',
      auth_token: 'a1'.repeat(20),
      return_to: path,
    });
    expect(res.status).toBe(400);
    const page = await res.text();
    expect(page).toContain('<h1>Connect X</h1>');
    expect(page).toContain('X did not accept this auth_token');
    expect(page).toContain(`<input type="hidden" name="return_to" value="${path}">`);
  });

  it('comes back to the same consent after connecting X by OAuth', async () => {
    const owner = await Owner.signUp(server);
    x.approveAs = x.user('consent_oauth');
    const { path, page } = await consent(owner, 'tweet.read');
    expect(page).toContain('You have not connected X yet: the app will not be able to use your X account until you do.');
    const start = await owner.browser.postForm('/console/connections/oauth/x', { csrf: owner.csrf, return_to: path });
    expect(start.status).toBe(303);
    const atX = await fetch(start.headers.get('location')!, { redirect: 'manual' });
    const callback = await owner.browser.request(atX.headers.get('location')!);
    expect(callback.status).toBe(303);
    expect(callback.headers.get('location')).toBe(path);
    expect(await (await owner.browser.request(path)).text()).not.toContain('You have not connected');
  });

  it('says nothing for scopes that need no account, or when X is connected already', async () => {
    const owner = await Owner.signUp(server);
    expect((await consent(owner, 'openid profile')).page).not.toContain('You have not connected');
    const session = x.signIn(x.user('consent_ready'));
    expect((await owner.api.send('POST', '/console/api/connections', { kind: 'x.cookie', auth_token: session.auth_token })).status).toBe(
      201,
    );
    expect((await consent(owner, 'openid tweet.post')).page).not.toContain('You have not connected');
  });

  it('says the account must be connected again when X no longer accepts it', async () => {
    const owner = await Owner.signUp(server);
    const session = x.signIn(x.user('consent_relink'));
    expect((await owner.api.send('POST', '/console/api/connections', { kind: 'x.cookie', auth_token: session.auth_token })).status).toBe(
      201,
    );
    await server.db.query("UPDATE connections SET status = 'needs_relink' WHERE account_id = $1", [owner.accountId]);
    const { path, page } = await consent(owner, 'tweet.post');
    expect(page).toContain('X no longer accepts the account you connected: the app will not be able to post until you connect it again.');
    expect(linkOf(page)).toBe(`/console/connections/connect/x?return_to=${encodeURIComponent(path)}`);
  });

  it('follows no way back but a consent page of this server', async () => {
    const owner = await Owner.signUp(server);
    const hostile = [
      'https://evil.example/interaction/abc',
      '//evil.example/interaction/abc',
      '/interaction/abc/../../evil',
      '/interaction/abc?next=https://evil.example',
      '/\\evil.example',
      '/interaction/',
      '/console/connections',
    ];
    for (const returnTo of hostile) {
      expect(interactionReturnTo(returnTo)).toBeUndefined();
      const page = await (await owner.browser.request(`/console/connections/connect/x?return_to=${encodeURIComponent(returnTo)}`)).text();
      expect(page).not.toContain('name="return_to"');
      const session = x.signIn();
      const res = await owner.browser.postForm('/console/connections', {
        csrf: owner.csrf,
        kind: 'x.cookie',
        auth_token: session.auth_token,
        return_to: returnTo,
      });
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe('/console/connections?done=connected');
    }
    // The OAuth callback's check: console paths as before, and consent pages now, nothing else.
    expect(safeReturnTo('/interaction/AbC_123-x')).toBe('/interaction/AbC_123-x');
    expect(safeReturnTo('/console/connections')).toBe('/console/connections');
    expect(safeReturnTo('/interaction/abc/consent')).toBeUndefined();
    expect(safeReturnTo('https://evil.example/interaction/abc')).toBeUndefined();
  });
});
