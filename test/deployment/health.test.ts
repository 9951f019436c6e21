import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { serviceUrl } from '../helpers/services.js';
import { TcpProxy, proxiedStorage } from '../helpers/tcp-proxy.js';

const databaseUrl = serviceUrl('TEST_DATABASE_URL');
const redisUrl = serviceUrl('TEST_REDIS_URL');

async function probe(base: string, path: '/healthz' | '/readyz') {
  const started = Date.now();
  const res = await fetch(`${base}${path}`);
  return {
    status: res.status,
    cacheControl: res.headers.get('cache-control'),
    body: (await res.json()) as Record<string, unknown>,
    ms: Date.now() - started,
  };
}

/** Liveness and readiness are cheap, bounded in time, never cached, and served by every ROLE. */
describe('health endpoints', () => {
  let all: TestServer;
  let resource: TestServer;
  beforeAll(async () => {
    [all, resource] = await Promise.all([startTestServer(), startTestServer({ env: { ROLE: 'resource' } })]);
  }, 180_000);
  afterAll(async () => {
    await all?.stop();
    await resource?.stop();
  });

  it('answer on every ROLE, uncached: /healthz alive, /readyz with the storage checks', async () => {
    for (const server of [all, resource]) {
      expect(await probe(server.url, '/healthz')).toMatchObject({ status: 200, cacheControl: 'no-store', body: { status: 'ok' } });
      expect(await probe(server.url, '/readyz')).toMatchObject({
        status: 200,
        cacheControl: 'no-store',
        body: { status: 'ok', checks: { database: true } },
      });
    }
  });

  // Last in this block: it shuts the shared server down.
  it('readiness fails while the server drains, and the request in flight still gets its answer', async () => {
    const server = all;
    // A second listener on the same app: the server's own port stops accepting as soon as the drain begins.
    const side = http.createServer((req, res) => void server.app.callback(req, res));
    await new Promise<void>((resolve) => side.listen(0, '127.0.0.1', resolve));
    const sideUrl = `http://127.0.0.1:${(side.address() as AddressInfo).port}`;
    try {
      expect((await probe(sideUrl, '/readyz')).status).toBe(200);
      // A request in flight (its body still arriving) holds the drain open.
      const port = Number(new URL(server.url).port);
      const body = 'grant_type=client_credentials';
      const held = http.request({
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/token',
        agent: false,
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': body.length },
      });
      const answer = new Promise<{ status?: number; connection?: string }>((resolve, reject) => {
        held.on('response', (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode, connection: res.headers.connection }));
        });
        held.on('error', reject);
      });
      held.write(body.slice(0, 5));
      held.flushHeaders();
      await new Promise((resolve) => setTimeout(resolve, 200));

      const closing = server.close();
      const draining = await probe(sideUrl, '/readyz');
      expect(draining).toMatchObject({ status: 503, cacheControl: 'no-store', body: { status: 'draining' } });
      // Still alive: liveness is not readiness (a restart now would only cut the requests in flight).
      expect((await probe(sideUrl, '/healthz')).status).toBe(200);

      held.end(body.slice(5));
      // The request finished (an OAuth error without client credentials: the point is that it was answered).
      expect(await answer).toEqual({ status: 400, connection: 'close' });
      await closing;
    } finally {
      side.closeAllConnections();
      await new Promise<void>((resolve) => side.close(() => resolve()));
    }
  });
});

/** A hung Postgres or Redis (threat model H3) must not hang the probe: 503 within about two seconds. */
(databaseUrl && redisUrl ? describe : describe.skip)('readiness against hung storage', () => {
  let storage: Awaited<ReturnType<typeof proxiedStorage>>;
  let postgres: TcpProxy;
  let redis: TcpProxy;
  let server: TestServer;

  beforeAll(async () => {
    storage = await proxiedStorage(databaseUrl!, redisUrl!, 'oauth3-health-');
    ({ postgres, redis } = storage);
    // The default DATABASE_TIMEOUT_MS (5 s): the probe's own bound, not the request timeout, is what answers.
    server = await startTestServer({ storage: storage.storage, env: storage.env });
  }, 180_000);
  afterAll(async () => {
    await postgres?.up();
    await redis?.up();
    await server?.stop();
    await storage?.close();
  });

  it('is ready with both reachable', async () => {
    expect(await probe(server.url, '/readyz')).toMatchObject({ status: 200, body: { checks: { database: true, redis: true } } });
  });

  it('answers 503 naming the database within 2 s when Postgres hangs, to every one of a burst of probes', async () => {
    postgres.stall();
    try {
      const probes = await Promise.all(Array.from({ length: 10 }, () => probe(server.url, '/readyz')));
      for (const p of probes) {
        expect(p).toMatchObject({ status: 503, body: { status: 'unavailable', checks: { database: false, redis: true } } });
        expect(p.ms).toBeLessThan(2500);
      }
      // Liveness does not touch storage.
      expect((await probe(server.url, '/healthz')).ms).toBeLessThan(500);
    } finally {
      await postgres.up();
    }
  });

  it('answers 503 naming Redis within 2 s when Redis hangs', async () => {
    redis.stall();
    try {
      const p = await probe(server.url, '/readyz');
      expect(p).toMatchObject({ status: 503, body: { checks: { database: true, redis: false } } });
      expect(p.ms).toBeLessThan(2500);
    } finally {
      await redis.up();
    }
  });
});
