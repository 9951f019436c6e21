import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import { appHost, metricsHost, type Config } from './config.js';
import { storageStep } from './startup-progress.js';
import type { Clock } from './clock.js';
import type { Logger } from './logger.js';
import type { Database } from './db/database.js';
import { openDatabase } from './db/open.js';
import { dstackKeyRing, loadMasterKeys } from './keys/master-key.js';
import { connectDstack, dstackEndpoint } from './tee/dstack.js';
import { loadCookieKeys, loadSigningKeys } from './keys/keystore.js';
import { createApp, type App, type AppDeps } from './app.js';
import type { Plugin } from './plugins/plugin.js';
import { loadBuiltinPlugins } from './plugins/load.js';
import { deleteExpired } from '../adapters/index.js';
import { adminSocketPath, listenAdminSocket } from './cli/admin-socket.js';
import { Metrics } from './metrics/metrics.js';
import { listenMetrics, type MetricsListener } from './metrics/server.js';
import { APP_LISTENER, checkPorts, listenTcp } from './http/listen.js';
import { drainHttpServer } from './http/drain.js';
import { requestLimits } from './http/timeouts.js';

export interface RunningServer {
  url: string;
  app: App;
  db: Database;
  redis?: Redis;
  /** The Prometheus scrape URL when METRICS_PORT is set. */
  metricsUrl?: string;
  /**
   * Graceful stop: readiness fails, the Telegram bot stops polling, no new connections, requests in flight finish (cut after SHUTDOWN_TIMEOUT_MS),
   * then the admin socket, the metrics listener, Redis and the database close.
   */
  close(): Promise<void>;
}

const CLEANUP_EVERY_MS = 10 * 60 * 1000;

export async function connectRedis(url: string, timeoutMs: number): Promise<Redis> {
  // Loaded here: an instance without REDIS_URL never reads ioredis's modules.
  const { Redis } = await import('ioredis');
  // No offline queue and one retry: with Redis down a request fails at once instead of waiting (threat model H2).
  // Commands issued in the same turn of the event loop (concurrent requests' lookups) go out in one write: one
  // round trip and one system call for many, each still answered on its own.
  const redis = new Redis(url, {
    lazyConnect: true,
    enableAutoPipelining: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
  });
  redis.on('error', () => {});
  await redis.connect();
  return redis;
}

/**
 * Counts the commands `redis` sends from now on (every ioredis command, a MULTI's and a script's EVAL included, goes
 * through sendCommand): a plain increment, read by the `oauth3_redis_commands_total` metric.
 */
export function countRedisCommands(redis: Redis): () => number {
  let sent = 0;
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = (...args: Parameters<Redis['sendCommand']>) => {
    sent++;
    return send(...args);
  };
  return () => sent;
}

/** Opens storage, loads keys, and serves the app on PORT (or an ephemeral port when PORT=0). */
export interface ServerOptions {
  /** Plugins to run instead of the built-in ones (tests, the benchmark's own plugin). */
  plugins?: Plugin[];
  /** The server's clock (tests move it to end a client secret's grace period). */
  clock?: Clock;
  /** The Telegram bot's sending pace (tests shorten it). */
  telegramSender?: AppDeps['telegramSender'];
  /** Told of each step of the start as it begins, in a few words (main.ts shows them to a person in development). */
  progress?: (step: string) => void;
  /**
   * Storage the caller began opening (and migrating) already, so that it overlaps with loading the server (main.ts);
   * by default the server opens it itself, after the master key.
   */
  database?: Promise<Database>;
  /**
   * This process is one worker of several (WORKERS, src/cluster/): the primary has checked the ports, migrated, made
   * the keys and serves the metrics of all of them. `lead` marks the one worker that also runs what must run once per
   * machine: the expired-row cleanup and the Telegram bot's polling or webhook setup.
   */
  worker?: ClusterWorkerRole;
}

export interface ClusterWorkerRole {
  lead: boolean;
  /** Hands this worker's metrics to the primary's scrape instead of listening on METRICS_PORT. */
  shareMetrics(metrics: Metrics): void;
}

export async function startServer(config: Config, logger: Logger, options: ServerOptions = {}): Promise<RunningServer> {
  const progress = options.progress ?? (() => undefined);
  const host = appHost(config);
  const worker = options.worker;
  // Both ports first, in a moment: a clash is told before the seconds spent on storage and keys, not after them.
  if (!worker) {
    await checkPorts(config).catch(async (error: unknown) => {
      await options.database?.then((db) => db.close()).catch(() => undefined);
      throw error;
    });
  }
  // In a TEE the key comes from dstack's KMS and nowhere else, asked before storage is opened so that a CVM without its
  // guest agent stops at once; the same agent answers /attestation.
  const agent = config.MASTER_KEY_SOURCE === 'dstack' ? connectDstack(dstackEndpoint(config)) : undefined;
  const teeRing = agent ? await dstackKeyRing(config, agent) : undefined;
  const tee = agent ? { agent, identity: await agent.identity() } : undefined;
  if (tee) {
    logger.info(
      { appId: tee.identity.appId, composeHash: tee.identity.composeHash, keyPath: config.DSTACK_KEY_PATH },
      'master key derived inside the TEE by dstack',
    );
  }
  let db: Database;
  if (options.database) db = await options.database;
  else {
    progress(storageStep(config));
    db = await openDatabase(config, 'oauth3 server', { migrate: !worker });
  }
  let redis: Redis | undefined;
  let metricsListener: MetricsListener | undefined;
  let server: http.Server | undefined;
  try {
    if (config.REDIS_URL) progress('connecting to Redis');
    redis = config.REDIS_URL ? await connectRedis(config.REDIS_URL, config.DATABASE_TIMEOUT_MS) : undefined;
    progress('loading the signing and cookie keys (made on the first start)');
    const ring = teeRing ?? loadMasterKeys(config, logger);
    const signingKeys = await loadSigningKeys(db, ring);
    const cookieKeys = await loadCookieKeys(db, ring, config.COOKIE_KEYS);
    progress('starting the authorization server');
    const metrics = new Metrics({ processMetrics: config.METRICS_PORT > 0 });
    metrics.countStorage({ statements: () => db.statementsSent(), ...(redis ? { redisCommands: countRedisCommands(redis) } : {}) });
    const app = createApp({
      config,
      logger,
      db,
      redis,
      signingKeys,
      cookieKeys,
      masterKeys: ring,
      plugins: options.plugins ?? (await loadBuiltinPlugins()),
      clock: options.clock,
      telegramSender: options.telegramSender,
      // oauth3's own bot runs where the console is served, with a bot token; only then is grammY loaded for it.
      telegramBotModule: config.TELEGRAM_BOT_TOKEN && config.ROLE === 'all' ? await import('./telegram-bot/index.js') : undefined,
      metrics,
      tee,
    });
    // Before the app's port: a taken metrics port stops the start instead of leaving a server nobody can watch.
    if (worker && config.METRICS_PORT > 0) worker.shareMetrics(metrics);
    metricsListener =
      config.METRICS_PORT > 0 && !worker
        ? await listenMetrics(metrics, config.METRICS_PORT, metricsHost(config), logger, requestLimits(config))
        : undefined;

    // Koa's callback answers and reports a failed request itself (ctx.onerror): its promise never rejects.
    const listener = http.createServer(requestLimits(config), (req, res) => void app.callback(req, res));
    listener.keepAliveTimeout = 5000;
    await listenTcp(listener, config.PORT, host, APP_LISTENER);
    server = listener;
    const { port } = listener.address() as AddressInfo;
    // Embedded storage: the admin CLI cannot open the database while we hold it, so it sends its commands here.
    const admin =
      config.DATABASE_URL || worker
        ? undefined
        : await listenAdminSocket(adminSocketPath(config.DATA_DIR), async (argv) => {
            // The CLI (with the verifier's quote library) is loaded by the first admin command, not at every start.
            const { execute, parseCommand } = await import('./cli/oauth3.js');
            const reply = { code: 0, out: [] as string[], err: [] as string[] };
            reply.code = await execute(
              parseCommand(argv),
              { config, db, ring, scopes: app.scopes, clients: app.clients },
              (l) => reply.out.push(l),
              (l) => reply.err.push(l),
            );
            logger.info({ command: argv.slice(0, 2).join(' '), code: reply.code }, 'admin command');
            return reply;
          });
    const once = !worker || worker.lead;
    const cleanup = once
      ? setInterval(() => {
          deleteExpired(db).catch((err: unknown) => logger.warn({ err }, 'expired-row cleanup failed'));
        }, CLEANUP_EVERY_MS).unref()
      : undefined;

    // Last, once nothing else can fail the start: a running poller must not outlive a failed one.
    await app.telegramBot?.start({ receive: once });

    let closing: Promise<void> | undefined;
    return {
      url: config.PORT === 0 ? `http://localhost:${port}` : config.ISSUER,
      app,
      db,
      redis,
      metricsUrl: metricsListener?.url,
      close: () =>
        (closing ??= (async () => {
          app.health.drain();
          clearInterval(cleanup);
          await app.telegramBot?.stop();
          const { cut } = await drainHttpServer(listener, config.SHUTDOWN_TIMEOUT_MS);
          if (cut) logger.warn({ timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, 'requests still in flight at SHUTDOWN_TIMEOUT_MS were cut off');
          // An admin client that never finishes its line must not hold the shutdown: wait a moment, no more.
          await new Promise<void>((resolve) => {
            if (!admin) return resolve();
            setTimeout(resolve, 1000).unref();
            admin.close(() => resolve());
          });
          await metricsListener?.close();
          redis?.disconnect();
          await db.close();
        })()),
    };
  } catch (error) {
    // Nothing stays listening after a failed start (a taken admin socket, a bot that cannot start).
    const listening = server;
    if (listening) await new Promise<void>((resolve) => listening.close(() => resolve()));
    await metricsListener?.close();
    redis?.disconnect();
    await db.close();
    throw error;
  }
}
