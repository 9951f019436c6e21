import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import Koa from 'koa';
import Router from '@koa/router';
import type { Config } from '../../src/config.js';
import { AppError } from '../../src/errors.js';
import { openAccess } from '../../src/connections/access.js';
import { apiBoundary } from '../../src/resource/boundary.js';
import type { ApiRouter, PluginKit, ResourceState } from '../../src/plugins/plugin.js';
import type { Connection } from '../../src/connections/store.js';
import { proxyTools, registerProxyRoutes } from '../../src/upstream/proxy.js';
import type { Tool } from '../../src/plugins/plugin.js';
import type { FakeOAuthProvider } from '../fakes/oauth-provider.js';
import { newAccount, startUpstreamRig, type UpstreamRig } from './harness.js';

/**
 * The generic proxied route (`/api/upstream/<provider>/...`) mounted on a small resource API whose bearer stage is
 * replaced by a header naming the owner and scopes: what is tested here is the proxy (G2, G3, G6), not the token check.
 */
describe('the generic upstream proxy', () => {
  let rig: UpstreamRig;
  let fake: FakeOAuthProvider;
  let base: string;
  let logs: string[];
  let services: UpstreamRig['services'];
  let connection: Connection;
  let tool: Tool;
  let kit: PluginKit;
  const bodies: string[] = [];

  beforeAll(async () => {
    rig = await startUpstreamRig();
    ({ fake, logs, services, base } = rig);
    const { connections, tokens, provider } = services;
    kit = {
      config: {} as Config,
      logger: rig.logger,
      connections,
      requireScope: (scope: string) => async (ctx, next) => {
        if (!ctx.state.caller.scopes.has(scope)) throw new AppError('insufficient_scope', 403, `needs ${scope}`);
        ctx.state.scope = scope;
        await next();
      },
      async connection(ctx, id) {
        const c = await connections.find(ctx.state.caller.accountId, id);
        if (!c) throw new AppError('not_connected', 409, 'not connected');
        return openAccess(connections, tokens, c);
      },
      perform: async () => undefined,
      act: () => Promise.reject(new Error('the proxy runs no actions')),
    } satisfies PluginKit;
    const api: ApiRouter = new Router<ResourceState>({ prefix: '/api' });
    api.use(async (ctx, next) => {
      const [accountId = '', scopes = ''] = (ctx.get('x-test-caller') || '').split(' ');
      ctx.state.caller = { accountId, clientId: 'c', grantId: 'g', scopes: new Set(scopes.split(',')) };
      await next();
    });
    registerProxyRoutes(api, kit, [provider], tokens, 1000);
    tool = proxyTools([provider], { connections, tokens, timeoutMs: 1000 })[0]!;
    const app = new Koa();
    app.use(apiBoundary({ ISSUER: 'http://localhost' }, rig.logger));
    app.use(api.routes());
    const handle = app.callback();
    rig.server.on('request', (req, res) => void handle(req, res));

    const accountId = await newAccount(rig.store.db);
    connection = await connections.save(accountId, {
      provider: 'fakeoauth',
      kind: 'oauth2',
      label: 'Fake',
      secret: { ...fake.issue(), token_type: 'bearer' },
      expiresAt: new Date(Date.now() + 3600_000),
    });
  });
  afterAll(async () => {
    await rig?.close();
  });

  /** A raw HTTP request, so the path reaches the server exactly as written (fetch would normalise dot segments). */
  function raw(
    path: string,
    {
      scopes = 'upstream:fakeoauth',
      method = 'GET',
      headers = {},
      body,
    }: { scopes?: string; method?: string; headers?: Record<string, string>; body?: string } = {},
  ) {
    return new Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }>((resolve, reject) => {
      const req = http.request(
        `${base}/`,
        { method, path, headers: { 'x-test-caller': `${connection.accountId} ${scopes}`, ...headers } },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c) => (text += c));
          res.on('end', () => {
            bodies.push(text, JSON.stringify(res.headers));
            resolve({ status: res.statusCode!, headers: res.headers, text });
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }
  const secret = () => services.connections.secret<{ access_token: string }>(connection);

  it("forwards the call with the owner's access token and the query, and never hands the token back", async () => {
    const res = await raw('/api/upstream/fakeoauth/v1/items?limit=2&q=a%20b', {
      headers: { authorization: 'Bearer caller-token', accept: 'application/json', cookie: 'sid=1' },
    });
    expect(res.status).toBe(200);
    const echoed = JSON.parse(res.text) as Record<string, unknown>;
    expect(echoed).toMatchObject({ path: '/api/v1/items', query: '?limit=2&q=a%20b', method: 'GET', bearer: '[redacted]' });
    const { access_token } = await secret();
    expect(fake.requests.at(-1)!.authorization).toBe(`Bearer ${access_token}`); // ours, not the caller's
    expect(res.text).not.toContain(access_token);
    expect(Object.keys(res.headers)).not.toContain('set-cookie');
  });

  it('forwards a JSON body and its content type', async () => {
    const res = await raw('/api/upstream/fakeoauth/v1/items', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'n' }),
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toMatchObject({ method: 'POST', body: '{"name":"n"}', contentType: 'application/json' });
  });

  it('needs the scope upstream:<provider>', async () => {
    const res = await raw('/api/upstream/fakeoauth/v1/items', { scopes: 'tweet.read' });
    expect(res.status).toBe(403);
  });

  const attacks = [
    '/api/upstream/fakeoauth/v1/../admin',
    '/api/upstream/fakeoauth/v1/%2e%2e/admin',
    '/api/upstream/fakeoauth/v1/..%2fadmin',
    '/api/upstream/fakeoauth/v1%2f..%2fadmin',
    '/api/upstream/fakeoauth/v1/%5c..%5cadmin',
    '/api/upstream/fakeoauth/v1/..\\admin',
    '/api/upstream/fakeoauth//evil.example/v1',
    '/api/upstream/fakeoauth/http://evil.example/v1',
    '/api/upstream/fakeoauth/v1@evil.example/x',
    '/api/upstream/fakeoauth/@evil.example/v1',
    '/api/upstream/fakeoauth/v1/%0d%0aHost:%20evil',
    '/api/upstream/fakeoauth/v1/%252e%252e/admin',
    '/api/upstream/fakeoauth/v2/secrets',
    '/api/upstream/fakeoauth/v10/items',
    '/api/upstream/fakeoauth/admin',
  ];

  it.each(attacks)('refuses %s with 400 invalid_path, and the provider never sees it (G3)', async (path) => {
    const before = fake.requests.length;
    const res = await raw(path);
    expect([400, 404]).toContain(res.status);
    if (res.status === 400) expect(JSON.parse(res.text)).toMatchObject({ error: 'invalid_path' });
    expect(fake.requests.length).toBe(before);
  });

  it('reached only paths under the allowed /api/v1 on the provider', () => {
    const paths = fake.requests.map((r) => r.path);
    expect(paths.length).toBeGreaterThan(0);
    for (const p of paths) expect(p.startsWith('/api/v1/')).toBe(true);
  });

  describe('as an MCP tool', () => {
    /** The tool as the MCP server runs it: arguments parsed by its own schema, for the owner the token stands for. */
    async function callTool(args: Record<string, unknown>) {
      const call = {
        state: { caller: { accountId: connection.accountId, clientId: 'c', grantId: 'g', scopes: new Set(['upstream:fakeoauth']) } },
      };
      const output = await tool.call(tool.input.parse(args), call, kit);
      bodies.push(JSON.stringify(output));
      return output as { status: number; content_type: string | null; body: Record<string, unknown> };
    }

    it('is named for the provider, needs its scope, and names the allowed paths', () => {
      expect(tool).toMatchObject({ name: 'upstream_fakeoauth', scope: 'upstream:fakeoauth' });
      expect(tool.description).toContain('under these paths only: /v1.');
    });

    it("makes the same call as the route: the owner's token, the query, parsed JSON back, the token never", async () => {
      const output = await callTool({ path: '/v1/items', query: { limit: '2', q: 'a b' } });
      expect(output.status).toBe(200);
      expect(output.body).toMatchObject({ path: '/api/v1/items', query: '?limit=2&q=a+b', method: 'GET', bearer: '[redacted]' });
      const { access_token } = await secret();
      expect(fake.requests.at(-1)!.authorization).toBe(`Bearer ${access_token}`);
      expect(JSON.stringify(output)).not.toContain(access_token);
    });

    it('sends a JSON body with its content type', async () => {
      const output = await callTool({ method: 'POST', path: '/v1/items', body: { name: 'n' } });
      expect(output.body).toMatchObject({ method: 'POST', body: '{"name":"n"}', contentType: 'application/json' });
    });

    it.each(attacks.map((path) => path.replace('/api/upstream/fakeoauth', '')))(
      'refuses the path %s with invalid_path, and the provider never sees it (G3)',
      async (path) => {
        const before = fake.requests.length;
        await expect(callTool({ path })).rejects.toMatchObject({ code: 'invalid_path', status: 400 });
        expect(fake.requests.length).toBe(before);
      },
    );

    it('takes only the methods an API call has', () => {
      expect(tool.input.safeParse({ method: 'TRACE', path: '/v1/items' }).success).toBe(false);
      expect(tool.input.safeParse({ path: '/v1/items', extra: true }).success).toBe(false);
    });
  });

  it('refreshes once when the provider refuses a token that looked fresh, then retries', async () => {
    const old = (await secret()).access_token;
    fake.accessTokens.delete(old); // the provider revoked the access token early
    const before = fake.refreshCount;
    const res = await raw('/api/upstream/fakeoauth/v1/items');
    expect(res.status).toBe(200);
    expect(fake.refreshCount - before).toBe(1);
    expect((await secret()).access_token).not.toBe(old);
  });

  it('answers 409 reconnect_required and marks the connection when the provider keeps refusing fresh tokens (G6)', async () => {
    fake.apiRejectsAll = true;
    try {
      const res = await raw('/api/upstream/fakeoauth/v1/items');
      expect(res.status).toBe(409);
      expect(JSON.parse(res.text)).toMatchObject({ error: 'reconnect_required' });
      expect((await services.connections.findById(connection.accountId, connection.id))!.status).toBe('needs_relink');
    } finally {
      fake.apiRejectsAll = false;
    }
  });

  it('never shows a token or the client secret in a response or a log line (G2)', () => {
    const text = bodies.join('\n') + logs.join('\n');
    for (const s of fake.secrets) expect(text).not.toContain(s);
  });
});
