import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { calculateJwkThumbprint, exportJWK } from 'jose';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { Owner, callApi } from '../helpers/owner.js';
import { codeFlow } from '../helpers/code-flow.js';
import { basic, type Client } from '../helpers/token-flow.js';
import { echoPlugin, startEchoUpstream } from '../resource/echo-plugin.js';

const redirectUri = 'http://127.0.0.1:8765/callback';

/**
 * An app doing DPoP (RFC 9449) with openid-client, unmodified (threat model J5): its tokens are bound to its key at the
 * token endpoint, it calls the resource API with a fresh proof each time, and a refresh keeps the binding. Before,
 * oauth3 advertised DPoP in discovery, bound the tokens, and then refused them at /api.
 */
describe('an app using openid-client with DPoP', () => {
  let server: TestServer;
  let upstream: Awaited<ReturnType<typeof startEchoUpstream>>;
  let owner: Owner;

  beforeAll(async () => {
    upstream = await startEchoUpstream();
    server = await startTestServer({ plugins: [echoPlugin(() => upstream.url)] });
    owner = await Owner.signUp(server);
    await server.app.connections.save(owner.accountId, {
      provider: 'echo',
      kind: 'echo.key',
      label: 'echo account',
      secret: { key: 'echo-e2e-dpop-key' },
    });
  });
  afterAll(async () => {
    await server?.stop();
    await upstream?.close();
  });

  async function app(name: string, confidential: boolean): Promise<{ config: oidc.Configuration; client: Client }> {
    const client = await server.addClient({ name, redirectUris: [redirectUri], public: !confidential });
    const config = confidential
      ? await oidc.discovery(new URL(server.url), client.clientId, client.clientSecret, undefined, {
          execute: [oidc.allowInsecureRequests],
        })
      : await oidc.discovery(new URL(server.url), client.clientId, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    return { config, client };
  }

  async function thumbprintOf(keyPair: CryptoKeyPair): Promise<string> {
    return calculateJwkThumbprint(await exportJWK(keyPair.publicKey));
  }

  /** What the app's own introspection says of a token (cnf.jkt is the key it is bound to). */
  async function introspect(client: Client, token: string): Promise<Record<string, unknown>> {
    const res = await fetch(`${server.url}/token/introspection`, {
      method: 'POST',
      headers: { authorization: basic(client.clientId, client.clientSecret!), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }),
    });
    return (await res.json()) as Record<string, unknown>;
  }

  const echoMe = (config: oidc.Configuration, token: string, DPoP: oidc.DPoPHandle) =>
    oidc.fetchProtectedResource(config, token, new URL(`${server.url}/api/echo/me`), 'GET', undefined, undefined, { DPoP });

  it('runs code + PKCE with DPoP, calls /api with proofs, and refreshes keeping the binding', async () => {
    const { config, client } = await app('DPoP web app', true);
    const keyPair = await oidc.randomDPoPKeyPair('ES256');
    const DPoP = oidc.getDPoPHandle(config, keyPair);
    const jkt = await thumbprintOf(keyPair);

    const tokens = await codeFlow(
      config,
      owner.browser,
      { redirect_uri: redirectUri, scope: 'openid offline_access echo.read', prompt: 'consent' },
      { passkey: 'none', consent: 'approve' },
      { DPoP },
    );
    expect(tokens.token_type).toBe('dpop');
    expect(await introspect(client, tokens.access_token)).toMatchObject({ active: true, cnf: { jkt } });

    // Twice: each call makes a new proof, and each is accepted once.
    for (let i = 0; i < 2; i++) {
      const res = await echoMe(config, tokens.access_token, DPoP);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ label: 'echo account' });
    }
    // The same token as a plain bearer token is refused: stolen alone, it is useless.
    expect((await callApi(server, '/echo/me', tokens.access_token)).status).toBe(401);

    // Identity too, with a proof for the userinfo endpoint (threat model G8 with DPoP).
    const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub, { DPoP });
    expect(userinfo.sub).toBe(owner.accountId);

    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!, undefined, { DPoP });
    expect(refreshed.token_type).toBe('dpop');
    expect(refreshed.access_token).not.toBe(tokens.access_token);
    expect(await introspect(client, refreshed.access_token)).toMatchObject({ active: true, cnf: { jkt } });
    expect((await echoMe(config, refreshed.access_token, DPoP)).status).toBe(200);

    // A proof by another key does not fit the refreshed token either; oauth4webapi reads both of our challenges.
    const otherDPoP = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));
    await expect(echoMe(config, refreshed.access_token, otherDPoP)).rejects.toMatchObject({
      status: 401,
      cause: [
        { scheme: 'bearer', parameters: { realm: 'oauth3' } },
        { scheme: 'dpop', parameters: { error: 'invalid_token', algs: expect.stringContaining('ES256') } },
      ],
    });
  });

  it("binds a public client's refresh token to its key: a refresh with another key is refused", async () => {
    const { config } = await app('DPoP native app', false);
    const DPoP = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));
    const tokens = await codeFlow(
      config,
      owner.browser,
      { redirect_uri: redirectUri, scope: 'openid offline_access echo.read', prompt: 'consent' },
      { passkey: 'none', consent: 'approve' },
      { DPoP },
    );
    expect((await echoMe(config, tokens.access_token, DPoP)).status).toBe(200);

    const otherDPoP = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!, undefined, { DPoP: otherDPoP })).rejects.toMatchObject({
      error: 'invalid_grant',
    });
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!, undefined, { DPoP });
    expect((await echoMe(config, refreshed.access_token, DPoP)).status).toBe(200);
  });
});
