import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { TestBrowser } from '../helpers/browser.js';
import { codeFlow } from '../helpers/code-flow.js';

const redirectUri = 'http://127.0.0.1:8765/callback';

/**
 * openid-client, unmodified, against a real server: discovery, code + PKCE through the passkey and consent pages,
 * exchange, refresh rotation, introspection and revocation.
 */
describe.each(backends())('an app using openid-client on %s storage', (backend) => {
  let server: TestServer;
  let config: oidc.Configuration;
  let browser: TestBrowser;

  beforeAll(async () => {
    server = await startTestServer({ backend });
    const { clientId, clientSecret } = await server.addClient({ name: 'E2E app', redirectUris: [redirectUri] });
    config = await oidc.discovery(new URL(server.url), clientId, clientSecret, undefined, { execute: [oidc.allowInsecureRequests] });
    browser = new TestBrowser(server.url);
  });
  afterAll(() => server?.stop());

  async function authorizationCode(scope: string, passkey: 'signup' | 'signin' | 'none', extra: Record<string, string> = {}) {
    return codeFlow(config, browser, { redirect_uri: redirectUri, scope, ...extra }, { passkey, consent: 'approve' });
  }

  it('signs a new owner up with a passkey, asks consent and issues tokens for the resource API', async () => {
    const tokens = await authorizationCode('openid offline_access tweet.post', 'signup', { prompt: 'consent' });
    expect(tokens.token_type).toBe('bearer');
    expect(tokens.access_token).toEqual(expect.any(String));
    expect(tokens.refresh_token).toEqual(expect.any(String));
    const claims = tokens.claims()!;
    expect(claims.iss).toBe(server.url);
    expect(claims.sub).toBe(browser.authenticator.credentials[0]!.userHandle);

    const introspection = await oidc.tokenIntrospection(config, tokens.access_token);
    expect(introspection).toMatchObject({ active: true, sub: claims.sub, aud: server.config.RESOURCE_URL });
    expect(String(introspection.scope).split(' ')).toContain('tweet.post');

    // Refresh rotates: a new refresh token, and the new access token is live.
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.refresh_token).toEqual(expect.any(String));
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    expect((await oidc.tokenIntrospection(config, refreshed.access_token)).active).toBe(true);

    // Revocation (RFC 7009): the token is dead at once.
    await oidc.tokenRevocation(config, refreshed.access_token);
    expect((await oidc.tokenIntrospection(config, refreshed.access_token)).active).toBe(false);
    await oidc.tokenRevocation(config, refreshed.refresh_token!);
    await expect(oidc.refreshTokenGrant(config, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('signs the same owner in again with the passkey and skips consent already given', async () => {
    browser.clearCookies();
    const tokens = await authorizationCode('openid tweet.post', 'signin');
    expect(tokens.claims()!.sub).toBe(browser.authenticator.credentials[0]!.userHandle);
    expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(true);
  });

  it('reuses the browser session: no passkey prompt while signed in', async () => {
    const tokens = await authorizationCode('openid tweet.post', 'none');
    expect(tokens.claims()!.sub).toBe(browser.authenticator.credentials[0]!.userHandle);
  });
});
