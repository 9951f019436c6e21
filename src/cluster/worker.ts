import cluster from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import type { Logger } from '../logger.js';
import type { ClusterWorkerRole } from '../server.js';
import { isMessage, READY, SHUTDOWN, WORKER_SLOT_VARIABLE } from './messages.js';

/**
 * The worker's side of WORKERS > 1 (see docs/architecture.md, "Several workers on one machine"): its place among the
 * workers, its metrics handed to the primary's scrape, "ready" told to the primary, and the primary's request to
 * drain. The server itself is started by src/main.ts exactly as without workers, with `role()` as its `worker`.
 */

/** This worker's place, 1 to WORKERS, from the primary; a replacement keeps the place of the worker it replaces. */
export const slot = Number(process.env[WORKER_SLOT_VARIABLE] ?? cluster.worker?.id ?? 0);

let drain: (() => void) | undefined;
let drainAsked = false;
// Listened for from the first moment: a drain asked while the worker is still starting is honoured once it listens.
process.on('message', (message) => {
  if (!isMessage(message, SHUTDOWN)) return;
  drainAsked = true;
  drain?.();
});

/** Every line this worker logs carries its place, so an operator can tell the workers apart. */
export const workerLogger = (logger: Logger): Logger => logger.child({ worker: slot });

export function role(): ClusterWorkerRole {
  return {
    // Place 1 runs what must run once per machine; a replacement of it takes it over.
    lead: slot === 1,
    shareMetrics(metrics) {
      // prom-client answers the primary's AggregatorRegistry with these registries; constructing one in a worker is
      // what makes it listen for the primary's requests.
      AggregatorRegistry.setRegistries([metrics.registry]);
      new AggregatorRegistry();
    },
  };
}

/** Tells the primary the server listens. */
export function ready(): void {
  process.send?.(READY);
}

/** Runs `stop` when the primary asks this worker to drain (at once, if it already asked). */
export function onDrain(stop: () => void): void {
  drain = stop;
  if (drainAsked) stop();
}
