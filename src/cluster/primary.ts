import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import { metricsHost, type Config } from '../config.js';
import type { Logger } from '../logger.js';
import { openDatabase } from '../db/open.js';
import { loadMasterKeyRing } from '../keys/master-key.js';
import { loadCookieKeys, loadSigningKeys } from '../keys/keystore.js';
import { listenMetrics, type MetricsListener } from '../metrics/server.js';
import { requestLimits } from '../http/timeouts.js';
import { isMessage, READY, SHUTDOWN, WORKER_SLOT_VARIABLE } from './messages.js';

/**
 * The primary of WORKERS > 1 (docs/architecture.md, "Several workers on one machine"). It serves no request itself:
 * it does once what must be done once before any worker starts (migrations; the development master key file; the
 * signing and cookie keys on a first start), forks the workers, which share PORT through node:cluster, serves the
 * metrics of all of them on METRICS_PORT, replaces a worker that dies, and drains them all on SIGTERM or SIGINT.
 */

export interface RunningPrimary {
  /** The Prometheus scrape URL when METRICS_PORT is set: every worker's metrics, added up. */
  metricsUrl?: string;
  /** Asks every worker to drain (each finishes its requests in flight) and waits until all have exited. */
  close(): Promise<void>;
}

/** A worker that lived at least this long was healthy: its death is restarted at once, not after a back-off. */
const HEALTHY_AFTER_MS = 30_000;
/** The back-off of a worker that keeps dying soon after starting: 1 s, 2 s, 4 s, … up to 30 s. */
const FIRST_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 30_000;
/** Beyond SHUTDOWN_TIMEOUT_MS, how long a worker may take to close storage and exit before it is killed. */
const EXIT_GRACE_MS = 5000;

/** The wait before replacing a worker that died after `quickDeaths` deaths in a row soon after starting. */
export function restartDelay(quickDeaths: number): number {
  return quickDeaths === 0 ? 0 : Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (quickDeaths - 1));
}

/** Why a worker ended, in words for the log line. */
export function deathReason(code: number | null, signal: string | null): string {
  if (signal) return `killed by ${signal}${signal === 'SIGKILL' ? ' (out of memory, or killed by hand?)' : ''}`;
  return code === 0 ? 'exited on its own (code 0)' : `exited with code ${code ?? 'unknown'} (its last log lines say why)`;
}

interface Place {
  slot: number;
  worker?: Worker;
  startedAt: number;
  quickDeaths: number;
  restart?: NodeJS.Timeout;
}

export async function startPrimary(
  config: Config,
  logger: Logger,
  options: { progress?: (step: string) => void } = {},
): Promise<RunningPrimary> {
  const progress = options.progress ?? (() => undefined);
  const log = logger;

  // Once, before any worker: migrations (src/db/open.ts), the master key (in development generated into DATA_DIR),
  // and the signing and cookie keys a first start creates. Workers then only read them.
  progress('applying migrations and preparing the keys');
  const db = await openDatabase(config, 'oauth3 primary');
  try {
    const ring = await loadMasterKeyRing(config, logger);
    await loadSigningKeys(db, ring);
    await loadCookieKeys(db, ring, config.COOKIE_KEYS);
  } finally {
    await db.close();
  }

  const metrics = primaryMetrics();
  let metricsListener: MetricsListener | undefined;
  if (config.METRICS_PORT > 0) {
    const aggregator = new AggregatorRegistry();
    const scrape = async () => `${await aggregator.clusterMetrics()}\n${await metrics.registry.metrics()}`;
    metricsListener = await listenMetrics(
      { scrape, contentType: aggregator.contentType },
      config.METRICS_PORT,
      metricsHost(config),
      log,
      requestLimits(config),
    );
  }

  const places: Place[] = Array.from({ length: config.WORKERS }, (_, i) => ({ slot: i + 1, startedAt: 0, quickDeaths: 0 }));
  const placeOf = new Map<number, Place>();
  let shuttingDown = false;
  let started = false;
  let aborting = false;
  const exited: Array<() => void> = [];

  function fork(place: Place): void {
    place.restart = undefined;
    place.startedAt = Date.now();
    const worker = cluster.fork({ [WORKER_SLOT_VARIABLE]: String(place.slot) });
    place.worker = worker;
    placeOf.set(worker.id, place);
    metrics.live.set(placeOf.size);
    if (started) {
      worker.on('message', (message) => {
        if (isMessage(message, READY)) log.info({ worker: place.slot, pid: worker.process.pid }, `worker ${place.slot} is ready again`);
      });
    }
  }

  progress(`starting ${config.WORKERS} workers`);
  const allReady = new Promise<void>((resolve) => {
    let ready = 0;
    cluster.on('message', (worker, message) => {
      if (started || !isMessage(message, READY)) return;
      const place = placeOf.get(worker.id);
      log.info({ worker: place?.slot, pid: worker.process.pid }, `worker ${place?.slot} is ready`);
      if (++ready === config.WORKERS) resolve();
    });
  });

  cluster.on('exit', (worker, code, signal) => {
    const place = placeOf.get(worker.id);
    placeOf.delete(worker.id);
    metrics.live.set(placeOf.size);
    if (!place || place.worker !== worker) return;
    place.worker = undefined;
    if (shuttingDown) {
      if (placeOf.size === 0) exited.splice(0).forEach((done) => done());
      return;
    }
    if (!started) {
      // A worker that cannot start (Redis refused, a port taken) has said why on its own; the others would fail
      // alike, so the whole start ends here, with its exit code, instead of a restart loop.
      if (aborting) return;
      aborting = true;
      log.fatal(
        { worker: place.slot, pid: worker.process.pid, exitCode: code, signal },
        `worker ${place.slot} could not start: ${deathReason(code, signal)}`,
      );
      for (const other of Object.values(cluster.workers ?? {})) other?.process.kill('SIGKILL');
      void Promise.resolve(metricsListener?.close()).finally(() => process.exit(code || 1));
      return;
    }
    const lived = Date.now() - place.startedAt;
    place.quickDeaths = lived < HEALTHY_AFTER_MS ? place.quickDeaths + 1 : 0;
    const delay = restartDelay(place.quickDeaths);
    metrics.restarts.inc();
    log.error(
      { worker: place.slot, pid: worker.process.pid, exitCode: code, signal, livedMs: lived, restartInMs: delay },
      `worker ${place.slot} (pid ${worker.process.pid}) died: ${deathReason(code, signal)}; a new one starts in ${delay / 1000} s`,
    );
    place.restart = setTimeout(() => fork(place), delay);
  });

  for (const place of places) fork(place);
  await allReady;
  started = true;

  let closing: Promise<void> | undefined;
  return {
    metricsUrl: metricsListener?.url,
    close: () =>
      (closing ??= (async () => {
        shuttingDown = true;
        for (const place of places) clearTimeout(place.restart);
        const gone = new Promise<void>((resolve) => (placeOf.size === 0 ? resolve() : exited.push(resolve)));
        for (const { worker } of places) if (worker?.isConnected()) worker.send(SHUTDOWN);
        let killed = false;
        const deadline = setTimeout(() => {
          killed = true;
          for (const { worker } of places) worker?.process.kill('SIGKILL');
        }, config.SHUTDOWN_TIMEOUT_MS + EXIT_GRACE_MS);
        await gone;
        clearTimeout(deadline);
        await metricsListener?.close();
        if (killed) throw new Error(`workers still running ${config.SHUTDOWN_TIMEOUT_MS + EXIT_GRACE_MS} ms after SIGTERM were killed`);
      })()),
  };
}

/** The primary's own series, beside the workers' sums: how many workers live, and how many were replaced. */
function primaryMetrics() {
  const registry = new Registry();
  return {
    registry,
    live: new Gauge({ name: 'oauth3_workers', help: 'Worker processes running now (WORKERS).', registers: [registry] }),
    restarts: new Counter({
      name: 'oauth3_worker_restarts_total',
      help: 'Workers that died and were replaced since the primary started.',
      registers: [registry],
    }),
  };
}
