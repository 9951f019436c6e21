import pg from 'pg';
import type { Database, Listener, Queryable, QueryOptions, QueryResult } from './database.js';

export interface PostgresOptions {
  url: string;
  poolSize: number;
  /** Bounds connection waits and statement time, so slow storage fails a request instead of hanging it (H3). */
  timeoutMs: number;
  /** Bounds statement time instead of `timeoutMs`, for work that is not a request's (migrations). */
  statementTimeoutMs?: number;
  /** How long a connection serves before it is replaced: CONNECTION_LIFETIME_SECONDS unless a test asks otherwise. */
  lifetimeSeconds?: number;
}

/**
 * A connection is replaced after ten minutes, when it is next idle, so that the plans Postgres keeps for its prepared
 * statements are made again at least that often. Postgres keeps a statement's plan after five calls, made on the
 * tables as they were then: on a new deployment's few rows, a sequential scan, which it keeps as the table grows until
 * the table is analyzed (autovacuum does, unless it is turned off). The statements every token request sends keep
 * their plans in a way that stays safe as the tables grow (migrations/020_kept_token_plans.sql); this bounds how long
 * any other plan can outlive the table it was made for.
 */
const CONNECTION_LIFETIME_SECONDS = 600;

/** How many distinct statements each connection keeps prepared; the rest are parsed each time. */
const MAX_PREPARED = 200;
const names = new Map<string, string>();

/**
 * A name under which each connection prepares `sql` once: Postgres then parses and plans the statements every token
 * request sends (client lookup, token write) once per connection instead of once per call. Only our own statements
 * with parameters are named (unless the caller asks otherwise: QueryOptions), and only the first MAX_PREPARED distinct
 * ones, so no input can grow the set.
 */
function statementName(sql: string): string | undefined {
  if (unprepared.has(sql)) return undefined;
  let name = names.get(sql);
  if (name === undefined && names.size < MAX_PREPARED) {
    name = `oauth3_${names.size}`;
    names.set(sql, name);
  }
  return name;
}

/** Statements whose prepared plans went stale once; their names stay taken, so no other statement reuses them. */
const unprepared = new Set<string>();

const isStalePlan = (error: unknown) =>
  (error as { code?: string } | null)?.code === '0A000' && /cached plan must not change result type/.test(String((error as Error).message));

export function createPostgresDatabase({
  url,
  poolSize,
  timeoutMs,
  statementTimeoutMs = timeoutMs,
  lifetimeSeconds = CONNECTION_LIFETIME_SECONDS,
}: PostgresOptions): Database {
  let sent = 0;
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    connectionTimeoutMillis: timeoutMs,
    query_timeout: statementTimeoutMs,
    statement_timeout: statementTimeoutMs,
    idleTimeoutMillis: 30_000,
    maxLifetimeSeconds: lifetimeSeconds,
    // No JIT compilation, on any connection of ours. Postgres compiles a statement whose estimated cost passes
    // jit_above_cost, and the estimates grow with the tables: once a million tokens were stored, the resource API's
    // token lookup (an index read of one row) went through 20 ms of compilation on every call, where it runs in a
    // tenth of a millisecond. Every statement we send is that kind, short and indexed; JIT never pays for itself on
    // them. Set as each connection opens, before the pool hands it out (a connection that cannot take it is not
    // used), rather than as a startup option, which a DATABASE_URL's own `options` would replace.
    // eslint-disable-next-line @typescript-eslint/no-misused-promises -- pg-pool awaits it (its types say void)
    onConnect: async (client) => {
      sent++;
      await client.query('SET jit = off');
    },
  });
  // An idle client losing its connection (Postgres restarted) must not crash the process; the pool replaces it.
  pool.on('error', () => {});

  const run = async <T>(
    client: pg.Pool | pg.PoolClient,
    sql: string,
    params?: unknown[],
    options?: QueryOptions,
  ): Promise<QueryResult<T>> => {
    sent++;
    const name = params?.length && options?.prepare !== false ? statementName(sql) : undefined;
    let result: pg.QueryResult;
    try {
      result = await client.query(name ? { name, text: sql, values: params } : { text: sql, values: params });
    } catch (error) {
      // A migration changed the columns a prepared `SELECT *` or `RETURNING *` returns (a rolling upgrade: the
      // new version migrated while this one serves). Nothing ran; from now on the statement is parsed each time.
      if (!name || !isStalePlan(error)) throw error;
      unprepared.add(sql);
      sent++;
      result = await client.query({ text: sql, values: params });
    }
    return { rows: result.rows as T[], rowCount: result.rowCount ?? 0 };
  };

  const listeners = new Set<() => Promise<void>>();
  const listen = (channel: string, listener: Listener) => {
    const end = listenOn({ url, timeoutMs }, channel, listener, () => listeners.delete(end));
    listeners.add(end);
    return end;
  };

  return {
    kind: 'postgres',
    listen,
    statementsSent: () => sent,
    query: (sql, params, options) => run(pool, sql, params, options),
    async transaction(fn) {
      const client = await pool.connect();
      try {
        sent++;
        await client.query('BEGIN');
        const tx: Queryable = { query: (sql, params, options) => run(client, sql, params, options) };
        const result = await fn(tx);
        sent++;
        await client.query('COMMIT');
        return result;
      } catch (error) {
        sent++;
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
    async session(fn) {
      const client = await pool.connect();
      try {
        return await fn({ query: (sql, params, options) => run(client, sql, params, options) });
      } finally {
        // Destroyed rather than returned to the pool: session state (locks, settings) must end with `fn`.
        client.release(true);
      }
    },
    async exec(sql) {
      sent++;
      await pool.query(sql);
    },
    async ping() {
      try {
        sent++;
        await pool.query('SELECT 1');
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      await Promise.all([...listeners].map((end) => end()));
      await pool.end();
    },
  };
}

const CHANNEL = /^[a-z_][a-z0-9_]*$/;
const RETRY_MS = { first: 250, most: 10_000 };

/**
 * One connection of its own, outside the pool, that LISTENs on `channel`. When it fails or ends, the listener hears
 * `state(false)` (notifications may have been missed) and a new connection is tried, waiting longer each time, up to
 * ten seconds; once it listens again, `state(true)`. TCP keep-alive notices a peer that vanished.
 */
function listenOn(
  { url, timeoutMs }: Pick<PostgresOptions, 'url' | 'timeoutMs'>,
  channel: string,
  listener: Listener,
  onEnd: () => void,
): () => Promise<void> {
  if (!CHANNEL.test(channel)) throw new Error(`not a channel name: ${channel}`);
  let ended = false;
  let current: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;
  let wait = RETRY_MS.first;

  const connect = async () => {
    if (ended) return;
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs, keepAlive: true });
    current = client;
    let lost = false;
    const onLost = () => {
      if (lost) return;
      lost = true;
      listener.state(false);
      client.end().catch(() => {});
      if (ended) return;
      retry = setTimeout(() => void connect(), wait);
      wait = Math.min(wait * 2, RETRY_MS.most);
    };
    client.on('error', onLost);
    client.on('end', onLost);
    client.on('notification', (n) => {
      if (n.channel === channel) listener.message(n.payload ?? '');
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${channel}`);
      if (ended) await client.end().catch(() => {});
      if (lost || ended) return;
      wait = RETRY_MS.first;
      listener.state(true);
    } catch {
      onLost();
    }
  };
  void connect();

  return async () => {
    if (ended) return;
    ended = true;
    onEnd();
    clearTimeout(retry);
    listener.state(false);
    await current?.end().catch(() => {});
  };
}
