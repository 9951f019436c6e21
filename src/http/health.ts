import compose from 'koa-compose';
import type { Middleware } from 'koa';
import type { Redis } from 'ioredis';
import type { Database } from '../db/database.js';
import { createRouter } from './router.js';

/** The longest a readiness probe waits on storage: a hung database answers 503 quickly instead of hanging the probe. */
const READY_TIMEOUT_MS = 1500;

export interface HealthDeps {
  db: Database;
  redis?: Redis;
  /** DATABASE_TIMEOUT_MS: a probe never waits longer than a request would. */
  timeoutMs: number;
}

export interface Health {
  /** `/healthz`, `/readyz`, and `Connection: close` on every answer once draining: mount before everything else. */
  middleware(): Middleware;
  /** Shutdown has begun: readiness fails from now on, so the load balancer sends nothing new here. */
  drain(): void;
  readonly draining: boolean;
}

interface Checks {
  database: boolean;
  redis?: boolean;
}

/** `check()` bounded by `ms`: a check that has not answered by then counts as failed. */
function within(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  return Promise.race([check().catch(() => false), late]).finally(() => clearTimeout(timer));
}

/**
 * Liveness and readiness for orchestrators (Kubernetes probes, the Docker HEALTHCHECK), served by every ROLE.
 * Liveness is the process answering at all; readiness is storage answering and the process not shutting down.
 * Concurrent probes share one storage check, so a burst of probes against a hung database costs one query.
 */
export function createHealth({ db, redis, timeoutMs }: HealthDeps): Health {
  let draining = false;
  let inflight: Promise<Checks> | undefined;
  const limit = Math.min(timeoutMs, READY_TIMEOUT_MS);

  const check = () =>
    (inflight ??= (async () => {
      const [database, redisUp] = await Promise.all([
        within(() => db.ping(), limit),
        redis ? within(() => redis.ping().then(() => true), limit) : Promise.resolve(undefined),
      ]);
      return { database, ...(redis ? { redis: redisUp } : {}) };
    })().finally(() => (inflight = undefined)));

  const router = createRouter();
  router.get('/healthz', function liveness(ctx) {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async function readiness(ctx) {
    const checks = await check();
    const ready = !draining && checks.database && checks.redis !== false;
    ctx.status = ready ? 200 : 503;
    ctx.body = { status: draining ? 'draining' : ready ? 'ok' : 'unavailable', checks };
  });

  // A probe's answer is about this moment: never stored by a cache or a proxy in between (RFC 9111 §5.2.2.5).
  async function noStore(ctx: Parameters<Middleware>[0], next: () => Promise<unknown>) {
    await next();
    if (ctx.path === '/healthz' || ctx.path === '/readyz') ctx.set('Cache-Control', 'no-store');
  }

  // While draining, keep-alive clients are told to reconnect (elsewhere) after the answer they are waiting for,
  // so their idle connections do not hold the process open (RFC 9112 §9.6).
  async function closeWhenDraining(ctx: Parameters<Middleware>[0], next: () => Promise<unknown>) {
    try {
      await next();
    } finally {
      if (draining) ctx.set('Connection', 'close');
    }
  }

  return {
    middleware() {
      const probes = compose([closeWhenDraining, noStore, router.routes() as unknown as Middleware]);
      // Every other request, until shutdown begins, passes by without a router match.
      return function health(ctx, next): unknown {
        return draining || ctx.path === '/healthz' || ctx.path === '/readyz' ? probes(ctx, next) : next();
      };
    },
    drain() {
      draining = true;
    },
    get draining() {
      return draining;
    },
  };
}
