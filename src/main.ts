import cluster from 'node:cluster';
import path from 'node:path';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger } from './logger.js';
import { EmbeddedStorageBusy } from './db/embedded-lock.js';
import { TeeUnavailable } from './tee/dstack.js';
import { checkPorts, ListenError } from './http/listen.js';
import { startupReporter, storageStep } from './startup-progress.js';
import { databaseProblem } from './cli/database-problem.js';
import { createEmbeddedCluster, openDatabase } from './db/open.js';
import type { Database } from './db/database.js';

/** `npm start`: configuration, storage, keys, then listen; SIGTERM/SIGINT drain requests and close the pools. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(error.message + '\n');
      process.exit(78);
    }
    throw error;
  }
  // WORKERS > 1: this process is the primary, which forks the workers (src/cluster/primary.ts), or one of them.
  const worker = config.WORKERS > 1 && cluster.isWorker ? await import('./cluster/worker.js') : undefined;
  const logger = worker ? worker.workerLogger(createLogger(config.LOG_LEVEL)) : createLogger(config.LOG_LEVEL);
  const progress = startupReporter(config, logger, worker ? () => undefined : undefined);
  let server;
  try {
    // A taken port is told at once, before the seconds spent loading the server and opening storage.
    if (!worker) await checkPorts(config);
    if (config.WORKERS > 1 && cluster.isPrimary) {
      // The primary of several workers never loads the server itself; it migrates and makes the keys once for all.
      progress.step('loading the server');
      const { startPrimary } = await import('./cluster/primary.js');
      server = await startPrimary(config, logger, { progress: progress.step });
    } else {
      // Storage opens while the server's modules load: on a first embedded start that is creating the database (in a
      // process of its own), on every start opening it and applying migrations. Not in a TEE, where the master key
      // must come from dstack before storage is touched, nor in a worker, whose primary migrated already.
      const opening = config.MASTER_KEY_SOURCE === 'dstack' || worker ? undefined : openStorage(config, progress.step);
      // Whichever fails first is the one reported; the other is not left unhandled.
      opening?.catch(() => undefined);
      progress.step('loading the server');
      // Loaded only once the configuration is valid, so a bad one fails in a moment, before the protocol engine loads.
      const { startServer } = await import('./server.js');
      server = await startServer(config, logger, { progress: progress.step, database: opening, worker: worker?.role() });
    }
  } catch (error) {
    // A port or socket already taken: one plain line naming the address and the variable that moves it.
    if (error instanceof ListenError) {
      process.stderr.write(`oauth3 cannot start: ${error.message}\n`);
      process.exit(75);
    }
    // Postgres down, or refusing the user or database: one plain line saying where and what to check.
    const unreachable = databaseProblem(error, config.DATABASE_URL, config.DATABASE_TIMEOUT_MS);
    if (unreachable) {
      process.stderr.write(`oauth3 cannot start: ${unreachable}\n`);
      process.exit(69);
    }
    // Another oauth3 (or a CLI command) holds DATA_DIR: one plain line naming the process.
    if (error instanceof EmbeddedStorageBusy) {
      process.stderr.write(`oauth3 cannot start: ${error.message}\n`);
      process.exit(75);
    }
    // TEE mode without a working guest agent: one plain line, and never a start on any other key (threat model J10).
    if (error instanceof TeeUnavailable) {
      logger.fatal(error.message);
      process.exit(69);
    }
    logger.fatal({ err: error }, 'oauth3 could not start');
    process.exit(1);
  }
  logger.info(
    {
      issuer: config.ISSUER,
      role: config.ROLE,
      port: config.PORT,
      storage: config.DATABASE_URL ? 'postgres' : `embedded (${config.DATA_DIR})`,
      redis: Boolean(config.REDIS_URL),
      workers: config.WORKERS,
    },
    `oauth3 is listening on ${config.ISSUER}`,
  );
  // The log's buffered lines first (the listening line, a generated key's warning), so the pages to open come last.
  await new Promise<void>((resolve) => {
    setTimeout(resolve, 500).unref();
    logger.flush(() => resolve());
  });
  progress.ready(server.metricsUrl);
  worker?.ready();

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    // Readiness fails and the listener closes now; requests in flight get SHUTDOWN_TIMEOUT_MS to finish.
    logger.info({ signal, timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, 'shutting down: finishing requests in flight');
    server.close().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'unclean shutdown');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  worker?.onDrain(() => stop('the primary'));
}

/** The database the server will use, created on a first embedded start, opened and migrated; each step told. */
async function openStorage(config: Config, step: (what: string) => void): Promise<Database> {
  await createEmbeddedCluster(config, 'oauth3 server', () =>
    step(`creating the embedded database in ${path.join(config.DATA_DIR, 'pgdata')} (first start only: this takes a few seconds)`),
  );
  step(storageStep(config));
  return openDatabase(config, 'oauth3 server');
}

await main();
