/**
 * What the primary and its workers say to each other over node:cluster's IPC channel (besides prom-client's own
 * metrics requests). Kept apart so both sides name the same messages.
 */

/** The environment variable the primary hands each worker its place in (1 to WORKERS); place 1 is the lead. */
export const WORKER_SLOT_VARIABLE = 'OAUTH3_WORKER_SLOT';

/** Worker to primary: the server is listening and the start is over. */
export const READY = { type: 'oauth3:worker-ready' } as const;

/** Primary to worker: stop taking requests, finish those in flight, exit (SIGTERM or SIGINT reached the primary). */
export const SHUTDOWN = { type: 'oauth3:worker-shutdown' } as const;

export const isMessage = (message: unknown, expected: { type: string }): boolean =>
  typeof message === 'object' && message !== null && (message as { type?: unknown }).type === expected.type;
