/**
 * What the bench processes tell each other. The orchestrator (run.ts) prepares storage once per backend, then starts
 * each target in its own process (target-process.ts) and the load generator in another (load-process.ts), so no
 * target inherits another's heap or JIT state and the load generator never shares an event loop with a server.
 */
export type TargetName = 'ours' | 'in-memory' | 'bare-koa' | 'resource' | 'bare-proxy';

/** What is measured; bench/scenarios.ts says what each one sends and against which baseline. */
export type Scenario = 'discovery' | 'client-credentials' | 'authorization-code' | 'refresh' | 'introspection' | 'resource';

/** Where our server keeps its state: Postgres with Redis for the short-lived models, or PGlite in DATA_DIR. */
export type StorageKind = 'postgres' | 'embedded';

/** The registered clients and the owner account prepareStorage creates in each backend. */
export interface BenchFixtures {
  /** Confidential client_credentials client (scope tweet.read). */
  credentials: { clientId: string; clientSecret: string };
  /** Confidential web app: authorization code + PKCE, refresh tokens, introspection of its own tokens. */
  web: { clientId: string; clientSecret: string; redirectUri: string };
  /** The signed-in owner whose session, grants and refresh tokens the targets seed. */
  accountId: string;
}

/** Everything a target process needs; the same values for both oidc-provider targets, so their configurations match. */
export interface TargetSetup {
  target: TargetName;
  scenario: Scenario;
  /** The backend `ours` and `resource` run on; the in-memory baseline reads only keys, clients and the account from it. */
  storage: StorageKind;
  port: number;
  /** Postgres (a fresh schema) when storage is postgres. */
  databaseUrl?: string;
  redisUrl?: string;
  /** PGlite's folder when storage is embedded. */
  dataDir?: string;
  masterKey: string;
  logLevel: string;
  /** Client ids and the account; secrets are not needed by the servers. */
  fixtures: BenchFixtures;
  /** Load connections: the refresh scenario seeds one refresh-token chain per connection, plus one for the check. */
  connections: number;
  /** The fake upstream the resource targets call (upstream-process.ts). */
  upstreamUrl?: string;
}

/** What a target seeded for the load: the resource API's bearer token, a signed-in session's cookie, refresh tokens. */
export interface Seed {
  token?: string;
  cookie?: string;
  refreshTokens?: string[];
}

export type TargetMessage =
  | { type: 'ready'; url: string; seed: Seed }
  | {
      type: 'stopped';
      /** Rows our server wrote during the run (warm-up included), proof each measured response reached storage. */
      stored?: number;
      /** CPU the target used from the start of the measured run (µs). */
      cpuMicros?: number;
      /** The target process's resident-set high-water mark (bytes), setup included. */
      maxRssBytes: number;
    }
  | { type: 'failed'; error: string };

interface LoadTiming {
  connections: number;
  warmupSeconds: number;
  durationSeconds: number;
}

/** One request, over and over, with autocannon. */
export interface SimpleLoad extends LoadTiming {
  kind: 'simple';
  method: 'GET' | 'POST';
  url: string;
  headers: Record<string, string>;
  body?: string;
}

/** GET /auth with a signed-in session and a fresh PKCE pair, then POST /token with the code: one unit. */
export interface RoundTripLoad extends LoadTiming {
  kind: 'round-trip';
  url: string;
  cookie: string;
  clientId: string;
  authorization: string;
  redirectUri: string;
  scope: string;
}

/** Each connection redeems its own refresh token and goes on with the one it gets back (rotation). */
export interface RefreshLoad extends LoadTiming {
  kind: 'refresh';
  url: string;
  authorization: string;
  /** One per connection. */
  refreshTokens: string[];
}

export type LoadOptions = SimpleLoad | RoundTripLoad | RefreshLoad;

export interface LoadResult {
  requests: number;
  seconds: number;
  reqPerSec: number;
  p50: number;
  p99: number;
  /** Outcomes by kind: a status code, or for a round trip both steps' ("/auth 303 → /token 200"). */
  statuses: Record<string, number>;
  /** The outcomes that are a success; any other one makes the run invalid. */
  expected: string[];
  errors: number;
  timeouts: number;
}

export const TOKEN_BODY = 'grant_type=client_credentials&scope=tweet.read';

/** What the authorization-code scenario asks for: an ID token and a resource-API scope, already granted. */
export const CODE_SCOPE = 'openid tweet.read';
/** What a seeded refresh token carries. */
export const REFRESH_SCOPE = 'openid offline_access tweet.read';

/** The resource API call both resource targets answer: a short post, as an agent would send it. */
export const POST_BODY = JSON.stringify({ text: 'hello from the benchmark' });
