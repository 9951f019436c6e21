import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { Owner, callApi } from '../helpers/owner.js';
import { codeFlow } from '../helpers/code-flow.js';
import { FakeX } from '../fakes/x.js';

const redirectUri = 'http://127.0.0.1:8765/callback';

/**
 * The most common request an OpenID Connect library makes, identity and API access at once: openid-client's
 * authorization code flow for `openid profile tweet.read`, then `fetchUserInfo` with the access token it got, which is
 * a token for the resource API (RFC 8707) and keeps working there (threat model G8).
 */
describe('userinfo with the access token of a mixed openid + resource request (threat model G8)', () => {
  let x: FakeX;
  let server: TestServer;
  let owner: Owner;

  async function openidClient(name: string): Promise<oidc.Configuration> {
    const { clientId, clientSecret } = await server.addClient({ name, redirectUris: [redirectUri] });
    return oidc.discovery(new URL(server.url), clientId, clientSecret, undefined, { execute: [oidc.allowInsecureRequests] });
  }

  beforeAll(async () => {
    x = await FakeX.start();
    server = await startTestServer({ env: x.env() });
    owner = await Owner.signUp(server);
    const cookie = x.signIn(x.user('alice_userinfo'));
    const res = await owner.api.send('POST', '/console/api/connections', {
      kind: 'x.cookie',
      auth_token: cookie.auth_token,
      ct0: cookie.ct0,
    });
    expect(res.status).toBe(201);
  });
  afterAll(async () => {
    await server?.stop();
    await x?.close();
  });

  it('answers fetchUserInfo with the right sub, and the same access token still calls the resource API', async () => {
    const config = await openidClient('Mixed app');
    const tokens = await codeFlow(
      config,
      owner.browser,
      { redirect_uri: redirectUri, scope: 'openid profile tweet.read' },
      { passkey: 'none', consent: 'approve' },
    );
    const sub = tokens.claims()!.sub;
    expect(sub).toBe(owner.accountId);

    const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, sub);
    expect(userinfo.sub).toBe(owner.accountId);

    const me = await callApi(server, '/me', tokens.access_token);
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ username: 'alice_userinfo' });
  });

  it('still refuses at userinfo a token whose grant does not hold openid', async () => {
    const config = await openidClient('API-only app');
    const tokens = await codeFlow(
      config,
      owner.browser,
      { redirect_uri: redirectUri, scope: 'tweet.read' },
      { passkey: 'none', consent: 'approve' },
    );
    expect((await callApi(server, '/me', tokens.access_token)).status).toBe(200);
    const agentToken = await owner.agentToken(['tweet.read']);
    for (const token of [tokens.access_token, agentToken]) {
      const res = await fetch(`${server.url}/me`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBeGreaterThanOrEqual(401);
      expect(res.status).toBeLessThanOrEqual(403);
      expect(await res.json()).toMatchObject({ error: expect.stringMatching(/^(invalid_token|insufficient_scope)$/) });
      await expect(oidc.fetchUserInfo(config, token, owner.accountId)).rejects.toThrow();
    }
  });
});
