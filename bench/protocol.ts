/**
 * What the bench processes tell each other. The orchestrator (run.ts) prepares storage once per backend, then starts
 * each target in its own process (target-process.ts) and the load generator in another (load-process.ts), so no
 * target inherits another's heap or JIT state and the load generator never shares an event loop with a server.
 */
export type TargetName = 'ours' | 'in-memory' | 'bare-koa' | 'resource' | 'mcp' | 'bare-proxy' | 'one-worker' | 'two-workers';

/** What is measured; bench/scenarios.ts says what each one sends and against which baseline. */
export type Scenario =
  | 'discovery'
  | 'client-credentials'
  | 'authorization-code'
  | 'refresh'
  | 'refresh-one-client'
  | 'introspection'
  | 'resource'
  | 'mcp'
  | 'workers';

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
  /** The backend `ours`, `resource` and `mcp` run on; the in-memory baseline reads only keys, clients and the account from it. */
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

/**
 * What a target seeded for the load: the bearer token of the resource API (or of the MCP server, whose audience is
 * its own), a signed-in session's cookie, refresh tokens.
 */
export interface Seed {
  token?: string;
  cookie?: string;
  refreshTokens?: string[];
}

/** A server on embedded PGlite started without load (idle-process.ts): on a new DATA_DIR, then again on the same one. */
export interface IdleSetup {
  port: number;
  dataDir: string;
  masterKey: string;
  logLevel: string;
  /** How long it rests after start before its memory is read. */
  settleMs: number;
}

export type IdleMessage = { type: 'idle'; rssBytes: number; peakBytes: number } | { type: 'failed'; error: string };

/** The embedded server's memory at rest after its first start and after a restart (bytes). */
export interface IdleMemory {
  first: { rssBytes: number; peakBytes: number };
  restart: { rssBytes: number; peakBytes: number };
}

export type TargetMessage =
  | { type: 'ready'; url: string; seed: Seed }
  | {
      type: 'stopped';
      /** Rows our server wrote during the run (warm-up included), proof each measured response reached storage. */
      stored?: number;
      /** CPU the target used from the start of the measured run (µs). */
      cpuMicros?: number;
      /** SQL statements the target sent its database from the start of the measured run (its storage counter). */
      statements?: number;
      /** Commands the target sent Redis from the start of the measured run; absent without Redis. */
      redisCommands?: number;
      /** The target's resident-set high-water mark (bytes), setup included; absent when it cannot be read. */
      maxRssBytes?: number;
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
  /**
   * A 200 is not enough: `tool-result` also checks every body is a successful MCP tool result (an MCP server answers
   * a failed tool call with 200 and `isError`), and counts any other body as an unexpected outcome.
   */
  verify?: 'tool-result';
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
  /** CPU time the load generator itself used in the measured window (µs). */
  cpuMicros?: number;
}

export const TOKEN_BODY = 'grant_type=client_credentials&scope=tweet.read';

/** What the authorization-code scenario asks for: an ID token and a resource-API scope, already granted. */
export const CODE_SCOPE = 'openid tweet.read';
/** What a seeded refresh token carries. */
export const REFRESH_SCOPE = 'openid offline_access tweet.read';

/** The resource API call both resource targets answer: a short post, as an agent would send it. */
export const POST_BODY = JSON.stringify({ text: 'hello from the benchmark' });

/** The same post as an MCP client sends it: one JSON-RPC `tools/call` of `post_tweet` (bench/bench-plugin.ts). */
export const MCP_POST_BODY = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name: 'post_tweet', arguments: { text: 'hello from the benchmark' } },
});

/** What a Streamable HTTP client sends with every POST (MCP transport specification, protocol version 2025-11-25). */
export const MCP_HEADERS = {
  accept: 'application/json, text/event-stream',
  'content-type': 'application/json',
  'mcp-protocol-version': '2025-11-25',
};

/** The outcome a load counts for a 200 whose body is not a successful tool result. */
export const NOT_A_TOOL_RESULT = '200 without a successful tool result';

/**
 * Whether an answer to MCP_POST_BODY is a successful tool result: the post ran (`"status":"done"`, from its structured
 * result) and nothing says `isError`. A substring test, cheap enough for the load generator to run on every body; the
 * JSON text copy of the result holds the same words only escaped (`\"status\"`), so it cannot match for it.
 */
export function isToolSuccess(body: string): boolean {
  return body.includes('"status":"done"') && !body.includes('"isError":true');
}
