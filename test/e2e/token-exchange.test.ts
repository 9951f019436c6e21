import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { calculateJwkThumbprint, exportJWK } from 'jose';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { Owner, callApi } from '../helpers/owner.js';
import { codeFlow } from '../helpers/code-flow.js';
import { echoPlugin, startEchoUpstream } from '../resource/echo-plugin.js';

const redirectUri = 'http://127.0.0.1:8765/callback';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

/**
 * An orchestrating agent using openid-client, unmodified: it signs its owner in with code + PKCE, then hands its
 * sub-agents narrower tokens through RFC 8693 token exchange (genericGrantRequest), which work at the resource API and
 * the MCP server, show who acts in introspection, and can be bound to a sub-agent's DPoP key.
 */
describe('an agent exchanging tokens for its sub-agents with openid-client', () => {
  let server: TestServer;
  let upstream: Awaited<ReturnType<typeof startEchoUpstream>>;
  let owner: Owner;
  let config: oidc.Configuration;
  let clientId: string;

  beforeAll(async () => {
    upstream = await startEchoUpstream();
    server = await startTestServer({
      plugins: [echoPlugin(() => upstream.url)],
      env: { REGISTRATION: 'open', TOKEN_EXCHANGE_MAX_DEPTH: '2' },
    });
    owner = await Owner.signUp(server);
    await server.app.connections.save(owner.accountId, {
      provider: 'echo',
      kind: 'echo.key',
      label: 'echo account',
      secret: { key: 'echo-e2e-exchange-key' },
    });
    const client = await server.addClient({
      name: 'Orchestrator',
      redirectUris: [redirectUri],
      grantTypes: ['authorization_code', 'refresh_token', TOKEN_EXCHANGE],
    });
    clientId = client.clientId;
    config = await oidc.discovery(new URL(server.url), client.clientId, client.clientSecret, undefined, {
      execute: [oidc.allowInsecureRequests],
    });
  });
  afterAll(async () => {
    await server?.stop();
    await upstream?.close();
  });

  const signIn = (scope: string, extra: Record<string, string> = {}) =>
    codeFlow(
      config,
      owner.browser,
      { redirect_uri: redirectUri, scope, prompt: 'consent', ...extra },
      { passkey: 'none', consent: 'approve' },
    );

  const exchange = (subject: string, parameters: Record<string, string> = {}, options?: oidc.DPoPOptions) =>
    oidc.genericGrantRequest(config, TOKEN_EXCHANGE, { subject_token: subject, subject_token_type: ACCESS_TOKEN, ...parameters }, options);

  it('exchanges for a narrower, shorter token that works at /api and says who acts', async () => {
    expect(config.serverMetadata().grant_types_supported).toContain(TOKEN_EXCHANGE);
    const tokens = await signIn('openid echo.read echo.post');
    const child = await exchange(tokens.access_token, { scope: 'echo.read', expires_in: '600' });
    expect(child).toMatchObject({ issued_token_type: ACCESS_TOKEN, token_type: 'bearer', scope: 'echo.read' });
    expect(child.expires_in).toBeLessThanOrEqual(600);
    expect(child.refresh_token).toBeUndefined();

    const res = await oidc.fetchProtectedResource(config, child.access_token, new URL(`${server.url}/api/echo/me`), 'GET');
    expect(res.status).toBe(200);
    expect((await callApi(server, '/echo/posts', child.access_token, { body: { text: 'narrowed away' } })).status).toBe(403);

    // A sub-agent's sub-agent: nested act, the outermost the current actor.
    const grandchild = await exchange(child.access_token);
    const introspection = await oidc.tokenIntrospection(config, grandchild.access_token);
    expect(introspection).toMatchObject({
      active: true,
      scope: 'echo.read',
      aud: `${server.url}/api`,
      act: { sub: clientId, act: { sub: clientId } },
      parent_client_id: clientId,
    });

    // openid-client sees the RFC error for asking more than the parent had.
    await expect(exchange(child.access_token, { scope: 'echo.post' })).rejects.toMatchObject({ error: 'invalid_scope' });
    // TOKEN_EXCHANGE_MAX_DEPTH is 2 on this server: the grandchild is as deep as a chain goes.
    await expect(exchange(grandchild.access_token)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('lets a client register itself (RFC 7591) for token exchange, and use it', async () => {
    const res = await fetch(`${server.url}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        client_name: 'Self-registered orchestrator',
        redirect_uris: [redirectUri],
        grant_types: ['authorization_code', 'refresh_token', TOKEN_EXCHANGE],
        response_types: ['code'],
      }),
    });
    expect(res.status).toBe(201);
    const registered = (await res.json()) as { client_id: string; client_secret: string; grant_types: string[] };
    expect(registered.grant_types).toContain(TOKEN_EXCHANGE);
    const own = await oidc.discovery(new URL(server.url), registered.client_id, registered.client_secret, undefined, {
      execute: [oidc.allowInsecureRequests],
    });
    const tokens = await codeFlow(
      own,
      owner.browser,
      { redirect_uri: redirectUri, scope: 'echo.read', prompt: 'consent' },
      { passkey: 'none', consent: 'approve' },
    );
    const child = await oidc.genericGrantRequest(own, TOKEN_EXCHANGE, {
      subject_token: tokens.access_token,
      subject_token_type: ACCESS_TOKEN,
    });
    expect(child.scope).toBe('echo.read');
    // Its token is its own: the orchestrator above cannot exchange it.
    await expect(exchange(tokens.access_token)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('narrows a token for the MCP server to one that still works there', async () => {
    const tokens = await signIn('echo.read', { resource: `${server.url}/mcp` });
    const child = await exchange(tokens.access_token, { audience: `${server.url}/mcp` });
    await expect(exchange(tokens.access_token, { audience: `${server.url}/api` })).rejects.toMatchObject({ error: 'invalid_target' });
    const initialize = (token?: string) =>
      fetch(`${server.url}/mcp`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'initialize',
          params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'sub-agent', version: '1' } },
        }),
      });
    expect((await initialize()).status).toBe(401);
    expect((await initialize(child.access_token)).status).toBe(200);
    // Its audience is the MCP server alone.
    expect((await callApi(server, '/echo/me', child.access_token)).status).toBe(401);
  });

  it('binds the exchanged token to the DPoP key of the request', async () => {
    const tokens = await signIn('echo.read');
    const keyPair = await oidc.randomDPoPKeyPair('ES256');
    const DPoP = oidc.getDPoPHandle(config, keyPair);
    const child = await exchange(tokens.access_token, {}, { DPoP });
    expect(child.token_type).toBe('dpop');
    expect(await oidc.tokenIntrospection(config, child.access_token)).toMatchObject({
      active: true,
      cnf: { jkt: await calculateJwkThumbprint(await exportJWK(keyPair.publicKey)) },
    });
    const res = await oidc.fetchProtectedResource(
      config,
      child.access_token,
      new URL(`${server.url}/api/echo/me`),
      'GET',
      undefined,
      undefined,
      {
        DPoP,
      },
    );
    expect(res.status).toBe(200);
    expect((await callApi(server, '/echo/me', child.access_token)).status).toBe(401);

    // The bound token is exchanged again only with a proof by its own key: a copy alone buys nothing.
    await expect(exchange(child.access_token)).rejects.toMatchObject({ error: 'invalid_grant' });
    const otherDPoP = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));
    await expect(exchange(child.access_token, {}, { DPoP: otherDPoP })).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await exchange(child.access_token, { scope: 'echo.read' }, { DPoP })).token_type).toBe('dpop');
  });
});
