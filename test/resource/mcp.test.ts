import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { Owner, callApi } from '../helpers/owner.js';
import { FakeX } from '../fakes/x.js';
import { DpopKey } from '../helpers/dpop.js';
import { echoPlugin, startEchoUpstream } from './echo-plugin.js';
import { startFakeTelegram, type FakeChat, type FakeTelegram } from '../fakes/telegram.js';

/** JSON-RPC over the Streamable HTTP transport, as an MCP client sends it: one POST, JSON or an event stream back. */
const MCP_HEADERS = {
  accept: 'application/json, text/event-stream',
  'content-type': 'application/json',
  'mcp-protocol-version': '2025-11-25',
};

interface McpReply {
  status: number;
  headers: Headers;
  text: string;
  body: Record<string, unknown>;
}

let nextId = 1;
const rpc = (method: string, params: Record<string, unknown> = {}) => ({ jsonrpc: '2.0', id: nextId++, method, params });
const toolCall = (name: string, args: Record<string, unknown> = {}) => rpc('tools/call', { name, arguments: args });

async function postMcp(
  server: TestServer,
  token: string | undefined,
  body: unknown,
  init: { headers?: Record<string, string>; method?: string; path?: string } = {},
): Promise<McpReply> {
  const res = await fetch(`${server.url}${init.path ?? '/mcp'}`, {
    method: init.method ?? 'POST',
    headers: { ...MCP_HEADERS, ...(token ? { authorization: `Bearer ${token}` } : {}), ...init.headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: Record<string, unknown>;
  try {
    parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    parsed = { raw: text };
  }
  return { status: res.status, headers: res.headers, text, body: parsed };
}

type ToolResult = {
  isError?: boolean;
  structuredContent?: Record<string, unknown>;
  content: { type: string; text: string }[];
  _meta?: Record<string, unknown>;
};
const resultOf = (reply: McpReply) => reply.body.result as ToolResult;

/**
 * The MCP server at /mcp as an attacker and a plain client see it over HTTP: its metadata document, the challenges
 * that start and step up authorization, the audience kept apart from the resource API's both ways, Origin (DNS
 * rebinding), tokens only in the header, revocation on the next call, and tool calls that run through the owner's
 * policy exactly like the API (docs/threat-model.md, MCP).
 */
describe.each(backends())('the MCP server on %s storage', (backend) => {
  let x: FakeX;
  let server: TestServer;
  let owner: Owner;

  const grantOfNewestToken = async () => {
    const { rows } = await server.db.query<{ grant_id: string }>(
      'SELECT grant_id FROM agent_tokens WHERE account_id = $1 ORDER BY created_at DESC, id LIMIT 1',
      [owner.accountId],
    );
    return rows[0]!.grant_id;
  };

  beforeAll(async () => {
    x = await FakeX.start();
    server = await startTestServer({ backend, env: x.env() });
    owner = await Owner.signUp(server);
    const cookie = x.signIn(x.user('mcp_owner'));
    const connected = await owner.api.send('POST', '/console/api/connections', {
      kind: 'x.cookie',
      auth_token: cookie.auth_token,
      ct0: cookie.ct0,
    });
    expect(connected.status).toBe(201);
  });
  afterAll(async () => {
    await server?.stop();
    await x?.close();
  });

  it('describes itself at its RFC 9728 address, with the tool scopes and no offline_access; the root document stays the API', async () => {
    const res = await fetch(`${server.url}/.well-known/oauth-protected-resource/mcp`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as Record<string, unknown>;
    expect(doc).toMatchObject({
      resource: `${server.url}/mcp`,
      authorization_servers: [server.url],
      bearer_methods_supported: ['header'],
    });
    expect(doc.scopes_supported).toEqual(expect.arrayContaining(['tweet.read', 'tweet.post', 'tweet.delete', 'telegram.post_any']));
    expect(doc.scopes_supported).not.toContain('offline_access');
    const root = (await (await fetch(`${server.url}/.well-known/oauth-protected-resource`)).json()) as Record<string, unknown>;
    expect(root.resource).toBe(server.config.RESOURCE_URL);
  });

  it('answers a request without a token 401, pointing at its metadata and the scopes to start with', async () => {
    const res = await postMcp(server, undefined, rpc('initialize'));
    expect(res.status).toBe(401);
    const challenge = res.headers.get('www-authenticate') ?? '';
    expect(challenge).toContain(`resource_metadata="${server.url}/.well-known/oauth-protected-resource/mcp"`);
    expect(challenge).toMatch(/^Bearer [^,]*realm="oauth3", scope="[^"]*tweet\.read[^"]*"/);
    expect(challenge).not.toMatch(/scope="[^"]*tweet\.post/);
    // Read by machines only: the API's security headers, not a page's.
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
  });

  it('answers GET and DELETE 405: it keeps no sessions and no streams', async () => {
    const token = await owner.agentToken(['tweet.read'], 1, 'mcp');
    for (const method of ['GET', 'DELETE']) {
      const res = await postMcp(server, token, undefined, { method });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('POST');
    }
  });

  it('refuses a page on another origin (DNS rebinding) and accepts its own origin and clients without one', async () => {
    const token = await owner.agentToken(['tweet.read'], 1, 'mcp');
    for (const origin of ['http://evil.example', 'http://localhost.evil.example', 'null']) {
      const res = await postMcp(server, token, rpc('tools/list'), { headers: { origin } });
      expect(res.status).toBe(403);
      expect(res.body.error).toBe('origin_not_allowed');
    }
    expect((await postMcp(server, token, rpc('tools/list'), { headers: { origin: new URL(server.url).origin } })).status).toBe(200);
    expect((await postMcp(server, token, rpc('tools/list'))).status).toBe(200);
  });

  it('gives a page on an origin MCP_ALLOWED_ORIGINS lists CORS, preflight and challenges included, and no other', async () => {
    const allowing = await startTestServer({ env: { MCP_ALLOWED_ORIGINS: 'http://localhost:6274' } });
    try {
      const preflight = await fetch(`${allowing.url}/mcp`, {
        method: 'OPTIONS',
        headers: {
          origin: 'http://localhost:6274',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization, content-type, mcp-protocol-version',
        },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get('access-control-allow-origin')).toBe('http://localhost:6274');
      expect(preflight.headers.get('access-control-allow-methods')).toBe('POST');
      expect(preflight.headers.get('access-control-allow-headers')).toMatch(/Authorization/);

      const challenged = await postMcp(allowing, undefined, rpc('tools/list'), { headers: { origin: 'http://localhost:6274' } });
      expect(challenged.status).toBe(401);
      expect(challenged.headers.get('access-control-allow-origin')).toBe('http://localhost:6274');
      expect(challenged.headers.get('access-control-expose-headers')).toContain('WWW-Authenticate');

      const other = await fetch(`${allowing.url}/mcp`, {
        method: 'OPTIONS',
        headers: { origin: 'http://localhost:6275', 'access-control-request-method': 'POST' },
      });
      expect(other.status).toBe(403);
      expect(other.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await allowing.stop();
    }
  });

  it('refuses a token in the query string or a form body, and one for the resource API', async () => {
    const token = await owner.agentToken(['tweet.read'], 1, 'mcp');
    const inQuery = await postMcp(server, undefined, rpc('tools/list'), { path: `/mcp?access_token=${token}` });
    expect(inQuery.status).toBe(401);
    expect(inQuery.body.error).toBe('invalid_request');

    const inForm = await fetch(`${server.url}/mcp`, {
      method: 'POST',
      headers: { ...MCP_HEADERS, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ access_token: token }),
    });
    expect(inForm.status).toBe(401);
    expect(((await inForm.json()) as { error: string }).error).toBe('invalid_request');

    const apiToken = await owner.agentToken(['tweet.read']);
    const wrongAudience = await postMcp(server, apiToken, rpc('tools/list'));
    expect(wrongAudience.status).toBe(401);
    expect(wrongAudience.body.error).toBe('invalid_token');
    expect(wrongAudience.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });

  it("refuses a token for the MCP server at the resource API, and the API's own token still works there", async () => {
    const mcpToken = await owner.agentToken(['tweet.read'], 1, 'mcp');
    const refused = await callApi(server, '/me', mcpToken);
    expect(refused.status).toBe(401);
    expect(refused.body.error).toBe('invalid_token');
    expect((await callApi(server, '/me', await owner.agentToken(['tweet.read']))).status).toBe(200);
  });

  it('negotiates every protocol version the SDK supports and lists every tool with its schemas', async () => {
    const token = await owner.agentToken(['tweet.read'], 1, 'mcp');
    for (const version of ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05']) {
      const init = await postMcp(
        server,
        token,
        rpc('initialize', { protocolVersion: version, capabilities: {}, clientInfo: { name: 'raw', version: '1' } }),
        { headers: { 'mcp-protocol-version': version } },
      );
      expect(init.status).toBe(200);
      expect(init.headers.get('mcp-session-id')).toBeNull();
      expect(init.body.result).toMatchObject({ protocolVersion: version, serverInfo: { name: 'oauth3' }, capabilities: { tools: {} } });
    }
    const list = await postMcp(server, token, rpc('tools/list'));
    const tools = (list.body.result as { tools: { name: string; inputSchema: unknown; outputSchema?: unknown; description: string }[] })
      .tools;
    expect(tools.map((t) => t.name)).toEqual(
      expect.arrayContaining(['get_me', 'list_tweets', 'post_tweet', 'delete_tweet', 'send_telegram_message', 'list_telegram_chats']),
    );
    for (const tool of tools) {
      expect(tool.inputSchema).toMatchObject({ type: 'object' });
      expect(tool.outputSchema).toMatchObject({ type: 'object' });
      expect(tool.description).toMatch(/Needs the scope \S+\./);
    }
  });

  it('runs a read tool for the owner and returns structured output with the same as text', async () => {
    const token = await owner.agentToken(['tweet.read'], 1, 'mcp');
    const res = await postMcp(server, token, toolCall('get_me'));
    expect(res.status).toBe(200);
    const result = resultOf(res);
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ username: 'mcp_owner' });
    expect(JSON.parse(result.content[0]!.text)).toEqual(result.structuredContent);
  });

  it('refuses a tool outside the token with 403 insufficient_scope naming what it holds plus what it needs', async () => {
    const token = await owner.agentToken(['tweet.read'], 1, 'mcp');
    const before = x.posts.length;
    const res = await postMcp(server, token, toolCall('post_tweet', { text: 'not allowed' }));
    expect(res.status).toBe(403);
    expect(res.body.error).toBe('insufficient_scope');
    const challenge = res.headers.get('www-authenticate') ?? '';
    expect(challenge).toContain('error="insufficient_scope"');
    expect(challenge).toContain('scope="tweet.read tweet.post"');
    expect(challenge).toContain(`resource_metadata="${server.url}/.well-known/oauth-protected-resource/mcp"`);
    expect(x.posts.length).toBe(before);
  });

  it('posts exactly once through the fake X, and the owner sees the call in the access log by tool name', async () => {
    const token = await owner.agentToken(['tweet.post'], 1, 'mcp');
    const res = await postMcp(server, token, toolCall('post_tweet', { text: 'hello from an MCP agent' }));
    expect(res.status).toBe(200);
    const result = resultOf(res);
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ status: 'done', result: { id: expect.any(String), text: 'hello from an MCP agent' } });
    expect(x.posts.filter((p) => p.text === 'hello from an MCP agent')).toHaveLength(1);
    expect(res.text).not.toContain(token);

    const grantId = await grantOfNewestToken();
    const { rows } = await server.db.query<{ detail: Record<string, unknown>; outcome: string }>(
      "SELECT detail, outcome FROM events WHERE kind = 'api.call' AND grant_id = $1",
      [grantId],
    );
    expect(rows).toEqual([
      expect.objectContaining({
        outcome: 'ok',
        detail: expect.objectContaining({ tool: 'post_tweet', scope: 'tweet.post', method: 'MCP' }),
      }),
    ]);
  });

  it("holds a post for the owner's approval: a normal result with the approval id, sent once approved", async () => {
    const token = await owner.agentToken(['tweet.post'], 1, 'mcp');
    await server.app.services.policies.set(owner.accountId, await grantOfNewestToken(), { hold_for_approval: true });
    const res = await postMcp(server, token, toolCall('post_tweet', { text: 'waiting for the owner' }));
    const result = resultOf(res);
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ status: 'pending_approval', approval: { id: expect.stringMatching(/^held_/) } });
    expect(result.content[0]!.text).toMatch(/owner's approval/);
    expect(x.posts.filter((p) => p.text === 'waiting for the owner')).toHaveLength(0);

    const id = (result.structuredContent!.approval as { id: string }).id;
    expect((await owner.api.send('POST', `/console/api/approvals/${id}/approve`)).status).toBe(200);
    expect(x.posts.filter((p) => p.text === 'waiting for the owner')).toHaveLength(1);
  });

  it("returns a policy refusal and not_connected as error results with the API's codes and words", async () => {
    const token = await owner.agentToken(['tweet.post', 'telegram.post_any'], 1, 'mcp');
    await server.app.services.policies.set(owner.accountId, await grantOfNewestToken(), { blocked_words: ['forbidden'] });
    const refused = resultOf(await postMcp(server, token, toolCall('post_tweet', { text: 'a forbidden word' })));
    expect(refused.isError).toBe(true);
    expect(refused._meta?.['oauth3/error']).toMatchObject({ error: 'policy_blocked_word' });
    expect(refused.structuredContent).toBeUndefined();
    expect(refused.content[0]!.text).toMatch(/^policy_blocked_word: /);

    const notConnected = resultOf(await postMcp(server, token, toolCall('send_telegram_message', { chat: '@somechannel', text: 'hi' })));
    expect(notConnected.isError).toBe(true);
    expect(notConnected._meta?.['oauth3/error']).toMatchObject({ error: 'not_connected' });
  });

  it('refuses bad arguments as a tool error before anything runs', async () => {
    const token = await owner.agentToken(['tweet.post'], 1, 'mcp');
    const before = x.posts.length;
    const res = resultOf(await postMcp(server, token, toolCall('post_tweet', { text: 'x'.repeat(281) })));
    expect(res.isError).toBe(true);
    expect(res.content[0]!.text).toMatch(/280/);
    expect(x.posts.length).toBe(before);
  });

  it('answers a tool it does not have as a tool error naming it, and still runs the ones it has', async () => {
    const token = await owner.agentToken(['tweet.read'], 1, 'mcp');
    const missing = resultOf(await postMcp(server, token, toolCall('no_such_tool')));
    expect(missing.isError).toBe(true);
    expect(missing.content[0]!.text).toMatch(/no_such_tool not found/);
    expect(resultOf(await postMcp(server, token, toolCall('get_me'))).isError).toBeFalsy();
  });

  it('stops working on the very next call once the owner revokes the token', async () => {
    const token = await owner.agentToken(['tweet.read'], 1, 'mcp');
    expect((await postMcp(server, token, toolCall('get_me'))).status).toBe(200);
    const { rows } = await server.db.query<{ id: string }>(
      'SELECT id FROM agent_tokens WHERE account_id = $1 ORDER BY created_at DESC, id LIMIT 1',
      [owner.accountId],
    );
    expect((await owner.api.send('DELETE', `/console/api/tokens/${rows[0]!.id}`)).status).toBe(200);
    const after = await postMcp(server, token, toolCall('get_me'));
    expect(after.status).toBe(401);
    expect(after.body.error).toBe('invalid_token');
  });

  it('takes a DPoP-bound token only with a fresh proof made for POST /mcp with its key', async () => {
    const { clientId, clientSecret } = await server.addClient({
      name: 'DPoP machine',
      grantTypes: ['client_credentials'],
      scope: 'tweet.read',
    });
    const key = await DpopKey.generate();
    const issued = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret!}`).toString('base64')}`,
        dpop: await key.proof('POST', `${server.url}/token`),
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'tweet.read', resource: `${server.url}/mcp` }),
    });
    const { access_token: token, token_type: type } = (await issued.json()) as { access_token: string; token_type: string };
    expect(type).toBe('DPoP');
    const proof = await key.proof('POST', `${server.url}/mcp`, token);
    const withProof = await postMcp(server, undefined, rpc('tools/list'), { headers: { authorization: `DPoP ${token}`, dpop: proof } });
    expect(withProof.status).toBe(200);
    const replayed = await postMcp(server, undefined, rpc('tools/list'), { headers: { authorization: `DPoP ${token}`, dpop: proof } });
    expect(replayed.status).toBe(401);
    expect(replayed.body.error).toBe('invalid_dpop_proof');
    const forTheApi = await key.proof('POST', `${server.config.RESOURCE_URL}/me`, token);
    expect(
      (await postMcp(server, undefined, rpc('tools/list'), { headers: { authorization: `DPoP ${token}`, dpop: forTheApi } })).status,
    ).toBe(401);
    expect((await postMcp(server, token, rpc('tools/list'))).status).toBe(401);
  });

  it('accepts resource=$ISSUER/mcp at the token endpoint and nothing but its two resources', async () => {
    const { clientId, clientSecret } = await server.addClient({
      name: 'MCP machine',
      grantTypes: ['client_credentials'],
      scope: 'tweet.read',
    });
    const token = (resource: string) =>
      fetch(`${server.url}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'tweet.read', resource }),
      });
    expect((await token(`${server.url}/mcp`)).status).toBe(200);
    expect((await token(server.config.RESOURCE_URL)).status).toBe(200);
    const other = await token(`${server.url}/other`);
    expect(other.status).toBe(400);
    expect(((await other.json()) as { error: string }).error).toBe('invalid_target');
  });
});

/**
 * A plugin that knows nothing of MCP (test/resource/echo-plugin.ts) brings its tools through the plugin contract alone:
 * the server lists exactly what the registry holds, and the core's rules (owner, daily limit, upstream failures,
 * metrics) apply to its tools as to its routes.
 */
describe("a plugin's tools", () => {
  let upstream: Awaited<ReturnType<typeof startEchoUpstream>>;
  let server: TestServer;
  let owner: Owner;

  beforeAll(async () => {
    upstream = await startEchoUpstream();
    server = await startTestServer({ plugins: [echoPlugin(() => upstream.url)] });
    owner = await Owner.signUp(server);
    await server.app.connections.save(owner.accountId, {
      provider: 'echo',
      kind: 'echo.key',
      label: 'echo',
      secret: { key: 'echo-secret-key-for-mcp' },
    });
  });
  afterAll(async () => {
    await server?.stop();
    await upstream?.close();
  });

  it("lists exactly the tools the registry holds (and the one for owners' own OAuth apps), and offers their scopes, read scopes first", async () => {
    const token = await owner.agentToken(['echo.read'], 1, 'mcp');
    const list = await postMcp(server, token, rpc('tools/list'));
    expect((list.body.result as { tools: { name: string }[] }).tools.map((t) => t.name)).toEqual(['echo_me', 'echo_post', 'upstream_own']);
    const doc = (await (await fetch(`${server.url}/.well-known/oauth-protected-resource/mcp`)).json()) as { scopes_supported: string[] };
    expect(doc.scopes_supported).toEqual(['echo.read', 'echo.post', 'upstream:own']);
    expect((await postMcp(server, undefined, rpc('tools/list'))).headers.get('www-authenticate')).toContain('scope="echo.read"');
  });

  it("counts a tool's posts against the grant's daily limit, like the API's", async () => {
    const token = await owner.agentToken(['echo.post'], 1, 'mcp');
    const { rows } = await server.db.query<{ grant_id: string }>(
      'SELECT grant_id FROM agent_tokens WHERE account_id = $1 ORDER BY created_at DESC, id LIMIT 1',
      [owner.accountId],
    );
    await server.app.services.policies.set(owner.accountId, rows[0]!.grant_id, { posts_per_day: 1 });
    expect(resultOf(await postMcp(server, token, toolCall('echo_post', { text: 'first' }))).structuredContent).toMatchObject({
      status: 'done',
      result: { text: 'first' },
    });
    const second = resultOf(await postMcp(server, token, toolCall('echo_post', { text: 'second' })));
    expect(second.isError).toBe(true);
    expect(second._meta?.['oauth3/error']).toMatchObject({ error: 'policy_daily_limit' });
    expect(upstream.received.filter((r) => r.path === '/posts').map((r) => (r.body as { text: string }).text)).toEqual(['first']);
  });

  it('answers an upstream failure as the API does, counted in the metrics, with no secret anywhere', async () => {
    const token = await owner.agentToken(['echo.read'], 1, 'mcp');
    const apiToken = await owner.agentToken(['echo.read']);
    const failures = async () =>
      (await server.app.metrics.upstreamCalls.get()).values.find((v) => v.labels.provider === 'echo' && v.labels.outcome === 'server_error')
        ?.value ?? 0;
    const before = await failures();
    upstream.state.fail = true;
    try {
      const res = await postMcp(server, token, toolCall('echo_me'));
      const api = await callApi(server, '/echo/me', apiToken);
      expect(res.status).toBe(200);
      // A 5xx the plugin did not mark as safe to show is `server_error` at both doors, its details only in the log.
      expect(api.body.error).toBe('server_error');
      expect(resultOf(res)).toMatchObject({ isError: true, _meta: { 'oauth3/error': { error: 'server_error' } } });
      expect(res.text).not.toContain('echo-secret-key-for-mcp');
    } finally {
      upstream.state.fail = false;
    }
    expect((await failures()) - before).toBe(2);
    expect(server.logs.join('\n')).toContain('MCP tool call failed');
    expect(server.logs.join('\n')).not.toContain('echo-secret-key-for-mcp');
  });

  it("refuses a client-credentials token's owner tools: an app acting for itself has no owner", async () => {
    const { clientId, clientSecret } = await server.addClient({ name: 'Machine', grantTypes: ['client_credentials'], scope: 'echo.read' });
    const res = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret!}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'echo.read', resource: `${server.url}/mcp` }),
    });
    const { access_token: token } = (await res.json()) as { access_token: string };
    const result = resultOf(await postMcp(server, token, toolCall('echo_me')));
    expect(result).toMatchObject({ isError: true, _meta: { 'oauth3/error': { error: 'owner_required' } } });
  });
});

/** The Telegram tools: the owner's allow-list, the bot token sealed and never shown, a refused token marked for re-linking. */
describe('the Telegram tools', () => {
  let fake: FakeTelegram;
  let server: TestServer;
  let owner: Owner;
  let botToken: string;
  const channel: FakeChat = { id: -1001234567890, type: 'channel', title: 'Release notes', username: 'releasenotes' };
  const elsewhere: FakeChat = { id: -4000000099, type: 'group', title: 'Not on the list' };

  beforeAll(async () => {
    fake = await startFakeTelegram();
    server = await startTestServer({ env: { TELEGRAM_API_ROOT: fake.url, UPSTREAM_TIMEOUT_MS: '1000' } });
    owner = await Owner.signUp(server);
    botToken = fake.addBot({ username: 'mcp_bot', chats: [channel, elsewhere] }).token;
    const connected = await owner.api.send('POST', '/console/api/connections', {
      kind: 'telegram.bot',
      bot_token: botToken,
      chats: ['@releasenotes'],
    });
    expect(connected.status).toBe(201);
  });
  afterAll(async () => {
    await server?.stop();
    await fake?.stop();
  });

  it('lists the allowed chats and sends to one by its @username, to its numeric id', async () => {
    const token = await owner.agentToken(['telegram.post_any'], 1, 'mcp');
    const chats = resultOf(await postMcp(server, token, toolCall('list_telegram_chats')));
    expect(chats.structuredContent).toEqual({
      bot: '@mcp_bot',
      chats: [{ id: '-1001234567890', username: '@releasenotes', title: 'Release notes', type: 'channel' }],
    });
    const sent = await postMcp(server, token, toolCall('send_telegram_message', { chat: '@releasenotes', text: 'Build 42 is out' }));
    expect(resultOf(sent).structuredContent).toMatchObject({ status: 'done', result: { chat: '-1001234567890' } });
    expect(fake.sent).toEqual([expect.objectContaining({ token: botToken, chat_id: '-1001234567890', text: 'Build 42 is out' })]);
    expect(sent.text).not.toContain(botToken);
  });

  it('refuses a chat outside the owner list before Telegram hears of it', async () => {
    const token = await owner.agentToken(['telegram.post_any'], 1, 'mcp');
    const calls = fake.calls.length;
    const result = resultOf(
      await postMcp(server, token, toolCall('send_telegram_message', { chat: String(elsewhere.id), text: 'sneaky' })),
    );
    expect(result).toMatchObject({ isError: true, _meta: { 'oauth3/error': { error: 'chat_not_allowed' } } });
    expect(fake.calls.length).toBe(calls);
  });

  it('marks the connection for re-linking when Telegram refuses the bot token, and says reconnect_required', async () => {
    const token = await owner.agentToken(['telegram.post_any'], 1, 'mcp');
    fake.revoke(botToken);
    const result = resultOf(
      await postMcp(server, token, toolCall('send_telegram_message', { chat: '@releasenotes', text: 'after revoke' })),
    );
    expect(result).toMatchObject({ isError: true, _meta: { 'oauth3/error': { error: 'reconnect_required' } } });
    const { connections } = (await (await owner.api.get('/console/api/connections')).json()) as { connections: { status: string }[] };
    expect(connections).toEqual([expect.objectContaining({ status: 'needs_relink' })]);
    expect(server.logs.join('\n')).not.toContain(botToken);
  });
});
