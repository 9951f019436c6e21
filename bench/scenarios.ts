import type { Scenario, StorageKind, TargetName } from './protocol.js';

export interface ScenarioSpec {
  id: Scenario;
  title: string;
  /** What one measured unit is: the round trip counts GET /auth and POST /token as one. */
  unit: 'request' | 'round trip';
  /** What is sent, for the report. */
  sends: string;
  /** Our target, run on each storage backend. */
  ours: TargetName;
  /** Measured in the same run, once unless baselineOnEachStorage; every row's ratios are to it. */
  baseline: TargetName;
  /**
   * The baseline is another of our targets, so it runs on each backend too, right after ours on the same backend,
   * and each row's ratios are to the baseline of its own backend.
   */
  baselineOnEachStorage?: boolean;
  /** Further reference rows (a floor), compared with the baseline like ours. */
  extra?: TargetName[];
  /** Its targets call the fake upstream (bench/upstream-process.ts), started once for the scenario. */
  upstream?: boolean;
  /** Load connections when not the run's (BENCH_CONNECTIONS): one for a client alone. */
  connections?: number;
  /** Measured on this storage only (several workers need Postgres). */
  storage?: StorageKind;
}

export const SCENARIOS: ScenarioSpec[] = [
  {
    id: 'discovery',
    title: 'Discovery',
    unit: 'request',
    ours: 'ours',
    baseline: 'bare-koa',
    sends: 'GET /.well-known/openid-configuration',
  },
  {
    id: 'client-credentials',
    title: 'Client credentials',
    unit: 'request',
    ours: 'ours',
    baseline: 'in-memory',
    extra: ['bare-koa'],
    sends: 'POST /token, grant_type=client_credentials, scope=tweet.read, HTTP Basic',
  },
  {
    id: 'authorization-code',
    title: 'Authorization code + PKCE',
    unit: 'round trip',
    ours: 'ours',
    baseline: 'in-memory',
    sends:
      'GET /auth (signed-in session, existing grant, fresh S256 challenge) → 303 with a code, then POST /token redeeming it with its verifier',
  },
  {
    id: 'refresh',
    title: 'Refresh rotation',
    unit: 'request',
    ours: 'ours',
    baseline: 'in-memory',
    sends: 'POST /token, grant_type=refresh_token; each connection goes on with the refresh token it got back',
  },
  {
    id: 'refresh-one-client',
    title: 'Refresh rotation, one client',
    unit: 'request',
    ours: 'ours',
    baseline: 'in-memory',
    connections: 1,
    sends:
      'the refresh rotation above from a single connection, one chain: what a client refreshing alone waits for, with no ' +
      'concurrent request to share a statement with (src/db/coalesce.ts)',
  },
  {
    id: 'introspection',
    title: 'Introspection',
    unit: 'request',
    ours: 'ours',
    baseline: 'in-memory',
    sends: 'POST /token/introspection of a live access token, by the client it was issued to',
  },
  {
    id: 'resource',
    title: 'Resource API call',
    unit: 'request',
    ours: 'resource',
    baseline: 'bare-proxy',
    upstream: true,
    sends: 'POST /api/bench/posts with an agent token, forwarded to a fake upstream in its own process',
  },
  {
    id: 'mcp',
    title: 'MCP tool call',
    unit: 'request',
    ours: 'mcp',
    baseline: 'resource',
    baselineOnEachStorage: true,
    upstream: true,
    sends:
      'POST /mcp, a JSON-RPC tools/call of post_tweet (MCP protocol 2025-11-25, stateless Streamable HTTP, JSON answer) with an agent ' +
      "token for the MCP server's audience: the same bench action, policy and fake upstream as the resource API call, beside which it " +
      'runs on the same storage',
  },
  {
    id: 'workers',
    title: 'Client credentials, 2 workers',
    unit: 'request',
    ours: 'two-workers',
    baseline: 'one-worker',
    baselineOnEachStorage: true,
    storage: 'postgres',
    sends:
      'the client credentials request above to `node dist/src/main.js` with WORKERS=2 (a primary and two workers sharing the port, ' +
      'src/cluster/) against the same with WORKERS=1: what the second core adds, with Postgres, Redis and the load generator on ' +
      'the same cores',
  },
];

export const SCENARIO_IDS = SCENARIOS.map((s) => s.id);

export function scenario(id: Scenario): ScenarioSpec {
  return SCENARIOS.find((s) => s.id === id)!;
}

export const STORAGE_LABELS: Record<StorageKind, string> = { postgres: 'Postgres + Redis', embedded: 'embedded PGlite' };

const TARGET_LABELS: Record<TargetName, string> = {
  ours: 'oauth3',
  'in-memory': 'oidc-provider in memory',
  'bare-koa': 'bare Koa',
  resource: 'oauth3 resource API',
  mcp: 'oauth3 MCP server',
  'bare-proxy': 'bare proxy',
  'one-worker': 'oauth3, 1 worker',
  'two-workers': 'oauth3, 2 workers',
};

/** A row's name: our targets with their storage, the references alone. */
export function targetLabel(target: TargetName, storage?: StorageKind): string {
  return storage ? `${TARGET_LABELS[target]}, ${STORAGE_LABELS[storage]}` : TARGET_LABELS[target];
}

/**
 * The rows of one scenario, in the order they run: ours on every backend, then the baseline, then any floor; or, for
 * a baseline of ours, ours then the baseline on each backend in turn.
 */
export function rowsOf(spec: ScenarioSpec, all: StorageKind[]): { target: TargetName; storage?: StorageKind }[] {
  const storages = spec.storage ? all.filter((storage) => storage === spec.storage) : all;
  const paired = spec.baselineOnEachStorage
    ? storages.flatMap((storage) => [
        { target: spec.ours, storage },
        { target: spec.baseline, storage },
      ])
    : [...storages.map((storage) => ({ target: spec.ours, storage })), { target: spec.baseline }];
  return [...paired, ...(spec.extra ?? []).map((target) => ({ target }))];
}

const ALIASES: Record<string, Scenario> = { tokens: 'client-credentials' };

/** BENCH_ONLY: a comma list of scenarios (`tokens` still means client credentials); unset, every one. */
export function parseOnly(value: string | undefined): Scenario[] {
  if (value === undefined || value.trim() === '') return SCENARIO_IDS;
  const names = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => ALIASES[s] ?? s);
  const unknown = names.filter((s) => !SCENARIO_IDS.includes(s as Scenario));
  if (unknown.length) throw new Error(`BENCH_ONLY: unknown scenario ${unknown.join(', ')}; use a comma list of ${SCENARIO_IDS.join(', ')}`);
  return SCENARIO_IDS.filter((id) => names.includes(id));
}

/** BENCH_STORAGE: postgres, embedded or both (the default). */
export function parseStorage(value: string | undefined): StorageKind[] {
  switch (value ?? 'both') {
    case 'both':
      return ['postgres', 'embedded'];
    case 'postgres':
      return ['postgres'];
    case 'embedded':
      return ['embedded'];
    default:
      throw new Error(`BENCH_STORAGE must be postgres, embedded or both, not ${value}`);
  }
}
