import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { callApi, Owner } from '../helpers/owner.js';
import { csrfFrom } from '../helpers/browser.js';
import { redirectUri } from '../helpers/token-flow.js';
import { echoPlugin, startEchoUpstream } from '../resource/echo-plugin.js';

const MCP_HEADERS = { accept: 'application/json, text/event-stream', 'content-type': 'application/json' };
const initialize = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'revoke test', version: '1.0.0' } },
};

/**
 * "Revoke everything" (Connected apps): a confirmation that says what ends, with counts and names, and then one action
 * that ends every app, agent service and agent token, so each of their tokens fails at /api and /mcp on the very
 * next call. Another owner's access is untouched.
 */
describe('revoking everything from the console', () => {
  let server: TestServer;
  let upstream: Awaited<ReturnType<typeof startEchoUpstream>>;
  let owner: Owner;
  let stranger: Owner;
  let client: { clientId: string; clientSecret: string };

  const echo = (token: string) => callApi(server, '/echo/me', token).then((r) => r.status);
  const mcp = (token: string) =>
    fetch(`${server.url}/mcp`, {
      method: 'POST',
      headers: { ...MCP_HEADERS, authorization: `Bearer ${token}` },
      body: JSON.stringify(initialize),
    }).then((r) => r.status);

  async function agentServiceToken(who: Owner, name: string) {
    const res = await who.api.send('POST', '/console/api/agents', { name, scopes: ['echo.read'] });
    expect(res.status).toBe(201);
    const agent = (await res.json()) as { client_id: string; client_secret: string };
    const token = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${agent.client_id}:${agent.client_secret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'echo.read', resource: server.config.RESOURCE_URL }),
    });
    expect(token.status).toBe(200);
    return { ...agent, token: ((await token.json()) as { access_token: string }).access_token };
  }

  /** One of each: an app through consent, an agent service, an agent token for /api and one for /mcp. */
  async function everything(who: Owner) {
    await server.app.connections.save(who.accountId, {
      provider: 'echo',
      kind: 'echo.key',
      label: 'echo',
      secret: { key: 'k-1234567890' },
    });
    const app = (await who.appToken(client, 'openid echo.read')).accessToken;
    const service = await agentServiceToken(who, 'Nightly digest');
    const api = await who.agentToken(['echo.read'], 1, 'api');
    const forMcp = await who.agentToken(['echo.read'], 1, 'mcp');
    for (const token of [app, service.token, api]) expect(await echo(token)).toBe(200);
    expect(await mcp(forMcp)).toBe(200);
    return { app, service, api, forMcp };
  }

  beforeAll(async () => {
    upstream = await startEchoUpstream();
    server = await startTestServer({ plugins: [echoPlugin(() => upstream.url)] });
    const added = await server.addClient({ name: 'Newsroom', redirectUris: [redirectUri], scope: 'openid echo.read' });
    client = { clientId: added.clientId, clientSecret: added.clientSecret! };
    owner = await Owner.signUp(server);
    stranger = await Owner.signUp(server);
  });
  afterAll(async () => {
    await server?.stop();
    await upstream?.close();
  });

  it('confirms with counts and names first, then ends every app, agent service and agent token at once', async () => {
    const mine = await everything(owner);
    const theirs = await everything(stranger);

    const apps = await (await owner.browser.request('/console/apps')).text();
    expect(apps).toContain('href="/console/apps/revoke-all"');
    // The confirmation revokes nothing by itself.
    const confirm = await (await owner.browser.request('/console/apps/revoke-all')).text();
    expect(confirm).toContain('<h1>Revoke everything?</h1>');
    expect(confirm).toContain('<strong>1 app</strong>: “Newsroom”');
    expect(confirm).toContain('<strong>1 agent service</strong>: “Nightly digest”');
    expect(confirm).toMatch(/<strong>2 agent tokens<\/strong>: “agent [0-9a-f]{6}” and “agent [0-9a-f]{6}”/);
    expect(confirm).toContain('Revoke all 4');
    expect(await echo(mine.app)).toBe(200);

    // Without the CSRF token nothing happens.
    expect((await owner.browser.postForm('/console/apps/revoke-all', {})).status).toBe(403);
    expect(await echo(mine.api)).toBe(200);

    const done = await owner.browser.postForm('/console/apps/revoke-all', { csrf: csrfFrom(confirm) });
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe('/console/apps?done=revoked-all');
    const after = await (await owner.browser.request(done.headers.get('location')!)).text();
    expect(after).toContain('Everything revoked.');
    expect(after).toContain('No app has access to your account.');

    // Every token fails on its very next call, at the API and at the MCP server.
    for (const token of [mine.app, mine.service.token, mine.api]) expect(await echo(token)).toBe(401);
    expect(await mcp(mine.forMcp)).toBe(401);
    expect(await mcp(mine.api)).toBe(401);
    // The agent service can get no new token.
    const again = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${mine.service.client_id}:${mine.service.client_secret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'echo.read' }),
    });
    expect(again.status).toBe(401);

    // The other owner's access is untouched.
    for (const token of [theirs.app, theirs.service.token, theirs.api]) expect(await echo(token)).toBe(200);
    expect(await mcp(theirs.forMcp)).toBe(200);

    // The access log says what ended, one line for each and one for the whole.
    const { events } = (await (await owner.api.get('/console/api/log?limit=50')).json()) as { events: { kind: string; detail: object }[] };
    expect(events.filter((e) => e.kind === 'everything.revoked')).toEqual([
      expect.objectContaining({ detail: { apps: 1, agent_services: 1, agent_tokens: 2, via: 'console' } }),
    ]);
    expect(
      events
        .filter((e) => ['app.revoked', 'agent.revoked', 'token.revoked'].includes(e.kind))
        .map((e) => e.kind)
        .sort(),
    ).toEqual(['agent.revoked', 'app.revoked', 'token.revoked', 'token.revoked']);
    const log = await (await owner.browser.request('/console/log')).text();
    expect(log).toContain('1 app, 1 agent service and 2 agent tokens lost their access from the console.');

    // Now there is nothing left to revoke.
    expect(await (await owner.browser.request('/console/apps/revoke-all')).text()).toContain('Nothing to revoke');
  });

  it('revokes everything through the JSON API too, and answers with the counts', async () => {
    const mine = await everything(owner);
    const res = await owner.api.send('POST', '/console/api/apps/revoke-all');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ revoked: { apps: 1, agent_services: 1, agent_tokens: 2 } });
    expect(await echo(mine.api)).toBe(401);
    expect(await mcp(mine.forMcp)).toBe(401);
    // Without the CSRF header, 403.
    expect((await owner.browser.request('/console/api/apps/revoke-all', { method: 'POST' })).status).toBe(403);
  });
});
