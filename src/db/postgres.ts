import pg from 'pg';
import type { Database, Queryable, QueryResult } from './database.js';

export interface PostgresOptions {
  url: string;
  poolSize: number;
  /** Bounds connection waits and statement time, so slow storage fails a request instead of hanging it (H3). */
  timeoutMs: number;
}

/** How many distinct statements each connection keeps prepared; the rest are parsed each time. */
const MAX_PREPARED = 200;
const names = new Map<string, string>();

/**
 * A name under which each connection prepares `sql` once: Postgres then parses and plans the statements every token
 * request sends (client lookup, token write) once per connection instead of once per call. Only our own statements
 * with parameters are named, and only the first MAX_PREPARED distinct ones, so no input can grow the set.
 */
function statementName(sql: string): string | undefined {
  let name = names.get(sql);
  if (name === undefined && names.size < MAX_PREPARED) {
    name = `oauth3_${names.size}`;
    names.set(sql, name);
  }
  return name;
}

export function createPostgresDatabase({ url, poolSize, timeoutMs }: PostgresOptions): Database {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
    statement_timeout: timeoutMs,
    idleTimeoutMillis: 30_000,
  });
  // An idle client losing its connection (Postgres restarted) must not crash the process; the pool replaces it.
  pool.on('error', () => {});

  const run = async <T>(client: pg.Pool | pg.PoolClient, sql: string, params?: unknown[]): Promise<QueryResult<T>> => {
    const name = params?.length ? statementName(sql) : undefined;
    const result = await client.query(name ? { name, text: sql, values: params } : { text: sql, values: params });
    return { rows: result.rows as T[], rowCount: result.rowCount ?? 0 };
  };

  return {
    kind: 'postgres',
    query: (sql, params) => run(pool, sql, params),
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const tx: Queryable = { query: (sql, params) => run(client, sql, params) };
        const result = await fn(tx);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
    async exec(sql) {
      await pool.query(sql);
    },
    async ping() {
      try {
        await pool.query('SELECT 1');
        return true;
      } catch {
        return false;
      }
    },
    close: () => pool.end(),
  };
}
