import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/** What the vault reports: one seal or open, and whether it worked (a failed open is a tampered row or a lost key). */
export type VaultObserver = (operation: 'seal' | 'open', outcome: 'ok' | 'error') => void;

/** What the upstream token service reports: one refresh of an owner's upstream tokens, by provider and outcome. */
/**
 * The provider as a metric label: owners' own OAuth apps (`own-…`) are counted together as `own`, since their names
 * are the owner's to choose and one series per app would grow without bound and show them to whoever reads metrics.
 */
export const providerLabel = (provider: string) => (provider.startsWith('own-') ? 'own' : provider);

export type RefreshObserver = (provider: string, outcome: 'ok' | 'revoked' | 'no_refresh_token' | 'failed') => void;

export interface MetricsOptions {
  /** Node's process metrics (CPU, memory, event loop lag, GC); only for a process that serves them. */
  processMetrics?: boolean;
}

/**
 * The Prometheus metrics of one app (README, Metrics). Each app has its own registry, so two apps in one process
 * (tests) never count into each other. Every label value comes from a fixed set — a route pattern, a grant type, a
 * provider id, an error code — and never from a request's path, a token or a secret.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly requestDuration = new Histogram({
    name: 'oauth3_http_request_duration_seconds',
    help: 'HTTP requests by method, route pattern and status class (2xx, 4xx, ...), with their duration in seconds.',
    labelNames: ['method', 'route', 'status_class'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly tokensIssued = new Counter({
    name: 'oauth3_tokens_issued_total',
    help: 'Successful token endpoint responses, by grant type.',
    labelNames: ['grant_type'] as const,
    registers: [this.registry],
  });

  readonly reuseDetected = new Counter({
    name: 'oauth3_token_reuse_detected_total',
    help: 'Replayed authorization codes, refresh tokens and device codes; each revoked its whole grant (RFC 9700 §4.14).',
    labelNames: ['grant_type'] as const,
    registers: [this.registry],
  });

  readonly upstreamCalls = new Counter({
    name: 'oauth3_upstream_calls_total',
    help: "Resource API calls that needed an owner's upstream account, by provider and outcome (ok or the error code answered).",
    labelNames: ['provider', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly upstreamRefreshes = new Counter({
    name: 'oauth3_upstream_token_refreshes_total',
    help: "Refreshes of an owner's upstream OAuth tokens, by provider and outcome (ok, revoked, no_refresh_token, failed).",
    labelNames: ['provider', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly vaultOperations = new Counter({
    name: 'oauth3_vault_operations_total',
    help: 'Upstream credentials sealed into or opened from the vault, by operation and outcome.',
    labelNames: ['operation', 'outcome'] as const,
    registers: [this.registry],
  });

  constructor(options: MetricsOptions = {}) {
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /**
   * `oauth3_db_statements_total` and `oauth3_redis_commands_total`: what this app sent to its storage, read at each
   * scrape from the plain counts the database and the Redis client keep (src/db/database.ts `statementsSent`,
   * countRedisCommands in src/server.ts), so counting costs a request one integer increment per statement or command.
   * The benchmark reads them before and after its measured window (bench/README.md).
   */
  countStorage(counts: { statements: () => number; redisCommands?: () => number }): void {
    const mirror = (name: string, help: string, read: () => number) => {
      let seen = 0;
      new Counter({
        name,
        help,
        registers: [this.registry],
        collect() {
          const now = read();
          if (now > seen) this.inc(now - seen);
          seen = Math.max(seen, now);
        },
      });
    };
    mirror(
      'oauth3_db_statements_total',
      'SQL statements sent to the database (Postgres or embedded PGlite), including BEGIN and COMMIT.',
      counts.statements,
    );
    const redisCommands = counts.redisCommands;
    if (redisCommands) mirror('oauth3_redis_commands_total', 'Commands sent to Redis (a script run by EVAL counts as one).', redisCommands);
  }

  /** A counter's current value (the sum over its labels), as a scrape would show it; undefined when there is none. */
  async counterValue(name: string): Promise<number | undefined> {
    const metric = this.registry.getSingleMetric(name);
    if (!metric) return undefined;
    const { values } = await metric.get();
    return values.reduce((total, v) => total + v.value, 0);
  }

  readonly vault: VaultObserver = (operation, outcome) => this.vaultOperations.inc({ operation, outcome });

  readonly refresh: RefreshObserver = (provider, outcome) => this.upstreamRefreshes.inc({ provider: providerLabel(provider), outcome });

  /** The Prometheus text exposition of everything above. */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
