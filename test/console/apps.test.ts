import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { TestBrowser, authorize } from '../helpers/browser.js';
import { signInToConsole } from '../helpers/console.js';
import { consoleApi, eventually, type ConsoleApi } from '../helpers/console-api.js';

const redirectUri = 'http://127.0.0.1:8765/callback';

interface AppJson {
  grant_id: string;
  kind: 'app' | 'agent';
  client_id: string;
  name: string;
  logo_uri: string | null;
  redirect_host: string | null;
  scopes: string[];
  granted_at: string;
  last_used_at: string | null;
}

/**
 * Connected apps: every grant an owner gave, and revoking one (threat model C4, C5). An app drives the
 * server with openid-client; the owner uses the console's JSON API and pages.
 */
describe.each(backends())('connected apps on %s storage', (backend) => {
  let server: TestServer;
  let app: oidc.Configuration;
  let owner: { browser: TestBrowser; api: ConsoleApi; csrf: string };
  let stranger: { browser: TestBrowser; api: ConsoleApi; csrf: string };
  /** Every token value the app received, to prove none reaches the access log. */
  const seen: string[] = [];

  beforeAll(async () => {
    server = await startTestServer({ backend });
    const { clientId, clientSecret } = await server.addClient({
      name: 'Photo <b>app</b>',
      redirectUris: [redirectUri],
      logoUri: 'https://photos.example/logo.png',
    });
    app = await oidc.discovery(new URL(server.url), clientId, clientSecret, undefined, { execute: [oidc.allowInsecureRequests] });

    // The owner signs up while approving the app, then opens the console in the same browser.
    const browser = new TestBrowser(server.url);
    await connect(browser, 'signup');
    const { csrf } = await signInToConsole(browser);
    owner = { browser, csrf, api: consoleApi(browser, csrf) };

    const other = new TestBrowser(server.url);
    const signedIn = await signInToConsole(other);
    stranger = { browser: other, csrf: signedIn.csrf, api: consoleApi(other, signedIn.csrf) };
  });
  afterAll(() => server?.stop());

  /** Authorization code + PKCE through the pages; returns the tokens, or the URL where the browser stopped. */
  async function connect(browser: TestBrowser, passkey: 'signup' | 'none', consent: 'approve' | 'none' = 'approve') {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(app, {
      redirect_uri: redirectUri,
      scope: 'openid offline_access tweet.post',
      state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      // offline_access (a refresh token) is granted only with an explicit consent prompt (OpenID Connect Core §11).
      ...(consent === 'approve' ? { prompt: 'consent' } : {}),
    });
    const callback = await authorize(browser, url.href, { passkey, consent });
    if (!callback.startsWith(redirectUri)) return { stoppedAt: callback };
    const tokens = await oidc.authorizationCodeGrant(app, new URL(callback), { pkceCodeVerifier: verifier, expectedState: state });
    seen.push(tokens.access_token, tokens.refresh_token!);
    return { tokens };
  }

  async function appsOf(api: ConsoleApi): Promise<AppJson[]> {
    const res = await api.get('/console/api/apps');
    expect(res.status).toBe(200);
    return ((await res.json()) as { apps: AppJson[] }).apps;
  }

  const active = async (token: string) => (await oidc.tokenIntrospection(app, token)).active;

  it('lists the app after consent with its scopes, host and logo, and never the console itself', async () => {
    const apps = await eventually(
      () => appsOf(owner.api),
      (list) => list.every((a) => a.last_used_at),
    );
    expect(apps).toEqual([
      expect.objectContaining({
        kind: 'app',
        name: 'Photo <b>app</b>',
        logo_uri: 'https://photos.example/logo.png',
        redirect_host: '127.0.0.1:8765',
        scopes: expect.arrayContaining(['openid', 'offline_access', 'tweet.post']),
        granted_at: expect.any(String),
        last_used_at: expect.any(String),
      }),
    ]);
    expect(apps.map((a) => a.client_id)).not.toContain('oauth3-console');

    const page = await (await owner.browser.request('/console/apps')).text();
    expect(page).toContain('Photo &lt;b&gt;app&lt;/b&gt;');
    expect(page).toContain('Post on X as you');
    expect(page).toContain(`action="/console/apps/${apps[0]!.grant_id}/revoke"`);
  });

  it("answers another owner's grant id with 404, shows them nothing and leaves the grant alone", async () => {
    const { tokens } = await connect(owner.browser, 'none');
    const [mine] = await appsOf(owner.api);
    expect(await appsOf(stranger.api)).toEqual([]);

    const viaApi = await stranger.api.send('DELETE', `/console/api/apps/${mine!.grant_id}`);
    expect(viaApi.status).toBe(404);
    expect(await viaApi.text()).not.toContain('Photo');
    const viaForm = await stranger.browser.postForm(`/console/apps/${mine!.grant_id}/revoke`, { csrf: stranger.csrf });
    expect(viaForm.status).toBe(404);

    expect(await active(tokens!.access_token)).toBe(true);
    expect(await appsOf(owner.api)).toHaveLength(1);
  });

  it('refuses a malformed or unknown grant id with 404', async () => {
    for (const id of ['x'.repeat(500), 'no-such-grant', '..%2F..%2Fetc']) {
      expect((await owner.api.send('DELETE', `/console/api/apps/${id}`)).status).toBe(404);
    }
  });

  it('revokes: every token stops on the next request, the refresh fails and the app must ask again (C4, C5)', async () => {
    const { tokens } = await connect(owner.browser, 'none');
    const refreshed = await oidc.refreshTokenGrant(app, tokens!.refresh_token!);
    seen.push(refreshed.access_token, refreshed.refresh_token!);
    const [grant] = await appsOf(owner.api);

    const res = await owner.api.send('DELETE', `/console/api/apps/${grant!.grant_id}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ revoked: true });

    expect(await active(tokens!.access_token)).toBe(false);
    expect(await active(refreshed.access_token)).toBe(false);
    await expect(oidc.refreshTokenGrant(app, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await appsOf(owner.api)).toEqual([]);

    // Still signed in, but the consent is gone: the next authorization request shows the consent page.
    const { stoppedAt } = await connect(owner.browser, 'none', 'none');
    expect(stoppedAt).toMatch(/\/interaction\//);
    expect(await (await owner.browser.request(stoppedAt!)).text()).toContain('wants access to your oauth3 account');
  });

  it('revokes from the page form and comes back with a notice', async () => {
    const { tokens } = await connect(owner.browser, 'none');
    const [grant] = await appsOf(owner.api);
    const res = await owner.browser.postForm(`/console/apps/${grant!.grant_id}/revoke`, { csrf: owner.csrf });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/console/apps?done=revoked');
    expect(await active(tokens!.access_token)).toBe(false);
    expect(await (await owner.browser.request('/console/apps?done=revoked')).text()).toContain('Access revoked');
  });

  it('kills a token minted while the revocation runs (C5)', async () => {
    const { tokens } = await connect(owner.browser, 'none');
    const [grant] = await appsOf(owner.api);
    const [refresh] = await Promise.allSettled([
      oidc.refreshTokenGrant(app, tokens!.refresh_token!),
      owner.api.send('DELETE', `/console/api/apps/${grant!.grant_id}`),
    ]);
    if (refresh.status === 'fulfilled') {
      seen.push(refresh.value.access_token, refresh.value.refresh_token!);
      expect(await active(refresh.value.access_token)).toBe(false);
      await expect(oidc.refreshTokenGrant(app, refresh.value.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    }
    expect(await active(tokens!.access_token)).toBe(false);
  });

  it('requires a session (401) and, to revoke, the CSRF token and our own origin (403)', async () => {
    const { tokens } = await connect(owner.browser, 'none');
    const [grant] = await appsOf(owner.api);
    const path = `/console/api/apps/${grant!.grant_id}`;

    expect((await fetch(`${server.url}/console/api/apps`)).status).toBe(401);
    const anonymous = await fetch(`${server.url}${path}`, {
      method: 'DELETE',
      headers: { origin: server.url, 'x-csrf-token': owner.csrf },
    });
    expect(anonymous.status).toBe(401);
    expect((await owner.api.send('DELETE', path, undefined, { csrf: null })).status).toBe(403);
    expect((await owner.api.send('DELETE', path, undefined, { csrf: stranger.csrf })).status).toBe(403);
    expect((await owner.api.send('DELETE', path, undefined, { origin: 'https://evil.example' })).status).toBe(403);
    expect((await owner.browser.postForm(`/console/apps/${grant!.grant_id}/revoke`, {})).status).toBe(403);

    expect(await active(tokens!.access_token)).toBe(true);
  });

  it('logs tokens minted and refreshed and the revocation, with the grant and never a token value', async () => {
    const { tokens } = await connect(owner.browser, 'none');
    const refreshed = await oidc.refreshTokenGrant(app, tokens!.refresh_token!);
    seen.push(refreshed.access_token, refreshed.refresh_token!);
    const [grant] = await appsOf(owner.api);
    await owner.api.send('DELETE', `/console/api/apps/${grant!.grant_id}`);

    const rows = await eventually(
      async () =>
        (
          await server.db.query<{ kind: string; grant_id: string | null; account_id: string | null; detail: unknown }>(
            'SELECT kind, grant_id, account_id, detail FROM events WHERE grant_id = $1 ORDER BY id',
            [grant!.grant_id],
          )
        ).rows,
      (list) => list.length >= 3,
    );
    expect(rows.map((r) => r.kind)).toEqual(expect.arrayContaining(['token.minted', 'token.refreshed', 'app.revoked']));
    const accountId = owner.browser.authenticator.credentials[0]!.userHandle;
    expect(rows.every((r) => r.account_id === accountId)).toBe(true);
    expect(rows.find((r) => r.kind === 'token.refreshed')!.detail).toMatchObject({ grant_type: 'refresh_token', scopes: ['tweet.post'] });

    const everything = JSON.stringify((await server.db.query('SELECT detail FROM events')).rows) + server.logs.join('');
    for (const value of seen) expect(everything).not.toContain(value);
  });
});
