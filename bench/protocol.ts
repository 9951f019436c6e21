/**
 * What the bench processes tell each other. The orchestrator (run.ts) prepares storage once, then starts each
 * target in its own process (target-process.ts) and the load generator in another (load-process.ts), so no
 * target inherits another's heap or JIT state and the load generator never shares an event loop with a server.
 */
export type TargetName = 'ours' | 'in-memory' | 'bare-koa' | 'resource' | 'bare-proxy';

/** Everything a target process needs; the same values for every target, so the two oidc-provider ones match. */
export interface TargetSetup {
  target: TargetName;
  port: number;
  databaseUrl: string;
  masterKey: string;
  clientId: string;
  logLevel: string;
  /** The fake upstream the resource targets call (upstream-process.ts). */
  upstreamUrl?: string;
}

export type TargetMessage =
  | { type: 'ready'; url: string; /** The resource target's bearer token for its owner. */ token?: string }
  | { type: 'stopped'; storedTokens?: number; /** CPU the target used from the start of the measured run (µs). */ cpuMicros?: number }
  | { type: 'failed'; error: string };

export interface LoadOptions {
  url: string;
  authorization: string;
  body: string;
  connections: number;
  warmupSeconds: number;
  durationSeconds: number;
  /** Default: a form body (the token endpoint). */
  contentType?: string;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  reqPerSec: number;
  p50: number;
  p99: number;
  /** Responses by status code; anything but 200 fails the run. */
  statuses: Record<string, number>;
  errors: number;
  timeouts: number;
}

export const TOKEN_BODY = 'grant_type=client_credentials&scope=tweet.read';

/** The resource API call both resource targets answer: a short post, as an agent would send it. */
export const POST_BODY = JSON.stringify({ text: 'hello from the benchmark' });
