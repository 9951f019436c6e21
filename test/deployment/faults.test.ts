import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { serviceUrl } from '../helpers/services.js';
import { Owner, callApi } from '../helpers/owner.js';
import { eventually } from '../helpers/console-api.js';
import { basic, redirectUri } from '../helpers/token-flow.js';
import { TcpProxy, proxiedStorage } from '../helpers/tcp-proxy.js';
import { echoPlugin, startEchoUpstream } from '../resource/echo-plugin.js';

const databaseUrl = serviceUrl('TEST_DATABASE_URL');
const redisUrl = serviceUrl('TEST_REDIS_URL');
// Long enough that a loaded CI machine's slow statements and pool waits before any fault never reach it (a sign-up
// then failed with 503 at 1 s), short enough that the hung-database test stays quick.
const TIMEOUT_MS = 3000;

/**
 * Threat model H1–H3 on a real server whose Postgres and Redis sit behind TCP proxies the test can stop or hang:
 * nothing is issued while storage is gone, readiness says so, the process stays responsive, and service comes back
 * by itself when storage does (no restart).
 */
(databaseUrl && redisUrl ? describe : describe.skip)('storage faults (H1–H3)', () => {
  let storage: Awaited<ReturnType<typeof proxiedStorage>>;
  let postgres: TcpProxy;
  let redis: TcpProxy;
  let server: TestServer;
  let upstream: Awaited<ReturnType<typeof startEchoUpstream>>;
  let owner: Owner;
  let machine: { clientId: string; clientSecret?: string };
  let app: { clientId: string; clientSecret?: string };
  let agentToken: string;

  const clientCredentials = () =>
    fetch(`${server.url}/token`, {
      method: 'POST',
      headers: { authorization: basic(machine.clientId, machine.clientSecret!), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'echo.read', resource: server.config.RESOURCE_URL }),
    });
  const ready = async () => {
    const res = await fetch(`${server.url}/readyz`);
    return { status: res.status, body: (await res.json()) as { checks: { database: boolean; redis?: boolean } } };
  };
  const authorizationRequest = () =>
    fetch(
      `${server.url}/auth?${new URLSearchParams({
        client_id: app.clientId,
        response_type: 'code',
        redirect_uri: redirectUri,
        scope: 'openid echo.read',
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
        code_challenge_method: 'S256',
        state: 'faults',
      })}`,
      { redirect: 'manual' },
    );

  beforeAll(async () => {
    storage = await proxiedStorage(databaseUrl!, redisUrl!, 'oauth3-faults-');
    ({ postgres, redis } = storage);
    upstream = await startEchoUpstream();
    server = await startTestServer({
      storage: storage.storage,
      env: { ...storage.env, DATABASE_TIMEOUT_MS: String(TIMEOUT_MS), DATABASE_POOL_SIZE: '4' },
      plugins: [echoPlugin(() => upstream.url)],
    });
    owner = await Owner.signUp(server);
    await server.app.connections.save(owner.accountId, {
      provider: 'echo',
      kind: 'echo.key',
      label: 'echo',
      secret: { key: 'echo-key-faults' },
    });
    agentToken = await owner.agentToken(['echo.read']);
    machine = await server.addClient({ name: 'Machine', grantTypes: ['client_credentials'], scope: 'echo.read' });
    app = await server.addClient({ name: 'Web app', redirectUris: [redirectUri] });
  });
  afterAll(async () => {
    await postgres?.up();
    await redis?.up();
    await server?.stop();
    await storage?.close();
    await upstream?.close();
  });

  it('works through the proxies before anything fails', async () => {
    expect((await clientCredentials()).status).toBe(200);
    expect((await callApi(server, '/echo/me', agentToken)).status).toBe(200);
    expect(await ready()).toEqual({ status: 200, body: expect.objectContaining({ checks: { database: true, redis: true } }) });
  });

  describe('Postgres stopped (H1)', () => {
    beforeAll(async () => {
      await postgres.down();
    });
    afterAll(async () => {
      await postgres.up();
    });

    it('the token endpoint answers 5xx and issues nothing', async () => {
      const res = await clientCredentials();
      const text = await res.text();
      expect(res.status).toBeGreaterThanOrEqual(500);
      expect(text).not.toMatch(/access_token/);
    });

    it('the resource API answers 503 temporarily_unavailable', async () => {
      const res = await callApi(server, '/echo/me', agentToken);
      expect(res.status).toBe(503);
      expect(res.body.error).toBe('temporarily_unavailable');
      expect(upstream.received.filter((r) => r.key === 'echo-key-faults')).toHaveLength(1);
    });

    it('a console page and the console API answer 503 as the resource API does, without internals', async () => {
      const page = await owner.browser.request('/console/tokens', { headers: { accept: 'text/html' } });
      const text = await page.text();
      expect(page.status).toBe(503);
      expect(page.headers.get('content-type')).toMatch(/text\/html/);
      expect(text).toContain('temporarily unavailable');
      expect(text).not.toMatch(/ECONNREFUSED|Connection terminated|at .*\.ts:/);
      const api = await owner.api.get('/console/api/tokens');
      expect(api.status).toBe(503);
      expect(((await api.json()) as { error: string }).error).toBe('temporarily_unavailable');
    });

    it('readiness fails naming the database while liveness still answers', async () => {
      expect(await ready()).toEqual({ status: 503, body: expect.objectContaining({ checks: { database: false, redis: true } }) });
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    });

    it('comes back without a restart when Postgres does', async () => {
      await postgres.up();
      await eventually(
        () => ready(),
        (r) => r.status === 200,
        10_000,
      );
      const res = await clientCredentials();
      expect(res.status).toBe(200);
      const { access_token: token } = (await res.json()) as { access_token: string };
      expect((await callApi(server, '/echo/items/7', token)).status).toBe(200);
      expect((await callApi(server, '/echo/me', agentToken)).status).toBe(200);
    });
  });

  describe('Redis stopped (H2: fail closed, never per-process memory)', () => {
    beforeAll(async () => {
      await redis.down();
    });
    afterAll(async () => {
      await redis.up();
    });

    it('an authorization request cannot start: no interaction is kept anywhere but Redis', async () => {
      const res = await authorizationRequest();
      expect(res.status).toBeGreaterThanOrEqual(500);
      expect(res.headers.get('location') ?? '').not.toContain('/interaction/');
    });

    it('readiness fails naming Redis', async () => {
      expect(await ready()).toEqual({ status: 503, body: expect.objectContaining({ checks: { database: true, redis: false } }) });
    });

    it('long-lived tokens in Postgres keep working: the resource API still answers', async () => {
      expect((await callApi(server, '/echo/me', agentToken)).status).toBe(200);
    });

    it('comes back without a restart when Redis does, and a whole consent flow then works', async () => {
      await redis.up();
      await eventually(
        () => ready(),
        (r) => r.status === 200,
        10_000,
      );
      const started = await authorizationRequest();
      expect(started.status).toBe(303);
      expect(started.headers.get('location')).toContain('/interaction/');
      const { accessToken } = await owner.appToken(app, 'openid echo.read');
      expect((await callApi(server, '/echo/me', accessToken)).status).toBe(200);
    });
  });

  describe('Postgres hung (H3)', () => {
    afterAll(async () => {
      await postgres.up();
    });

    it('a request fails with 503 within the configured timeout, the event loop stays responsive, and nothing leaks', async () => {
      postgres.stall();
      const started = Date.now();
      const pending = callApi(server, '/echo/me', agentToken);
      // While that request waits on storage, the process answers others at once.
      const health = Date.now();
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      const healthMs = Date.now() - health;
      const res = await pending;
      const elapsed = Date.now() - started;
      expect(res.status).toBe(503);
      // Bounded by DATABASE_TIMEOUT_MS (connection wait + statement), with room for a loaded CI machine.
      expect(elapsed).toBeLessThan(TIMEOUT_MS * 4 + 2000);
      expect(healthMs).toBeLessThan(TIMEOUT_MS);

      await postgres.up();
      await eventually(
        () => callApi(server, '/echo/me', agentToken),
        (r) => r.status === 200,
        10_000,
      );
      // The pool did not grow past its size while requests timed out.
      expect(postgres.openConnections).toBeLessThanOrEqual(4);
    });
  });
});
