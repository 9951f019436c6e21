/**
 * One SQL dialect, two drivers (docs/architecture.md#storage): Postgres through `pg` when DATABASE_URL is set, else
 * embedded PGlite in DATA_DIR. Everything above this file speaks `Database` and never knows which one it has.
 */
export interface QueryResult<T> {
  rows: T[];
  rowCount: number;
}

export interface QueryOptions {
  /**
   * `false`: planned at each run for the table as it is then, never from a plan kept for the connection. For finds in
   * a table that grows with every token (oidc_models): a plan kept from a connection's first minutes, when a model had
   * few rows, reads every row of it. Postgres only; PGlite plans every statement at each run. (The finds and consumes
   * by key keep their plans safely in functions of their own: migrations/020_kept_token_plans.sql.)
   */
  prepare?: boolean;
}

export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[], options?: QueryOptions): Promise<QueryResult<T>>;
}

/** What a LISTEN subscription tells its owner (Database.listen). */
export interface Listener {
  /** A notification on the channel, with its payload. */
  message(payload: string): void;
  /**
   * `true` once notifications arrive; `false` whenever some may have been missed: the connection was lost (it is
   * opened again by itself) or the subscription ended.
   */
  state(listening: boolean): void;
}

export interface Database extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /** Runs `fn` in one transaction on one connection; rolls back if it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` on one connection of its own, outside any transaction, for as long as `fn` runs (a session-level
   * advisory lock lives exactly that long). On Postgres the connection is closed afterwards, never pooled again, so
   * nothing `fn` left on the session survives it; PGlite has one session for the whole process.
   */
  session<T>(fn: (conn: Queryable) => Promise<T>): Promise<T>;
  /** Runs a script of several statements (migrations). */
  exec(sql: string): Promise<void>;
  /** LISTEN on `channel` until the returned function or close() ends it; a lost connection is opened again. */
  listen(channel: string, listener: Listener): () => Promise<void>;
  /** True when the database answers a trivial query (readiness). */
  ping(): Promise<boolean>;
  /**
   * How many statements this database has been sent since it was opened (queries, a transaction's BEGIN and COMMIT,
   * scripts; LISTEN subscriptions aside): a plain count, read by the `oauth3_db_statements_total` metric.
   */
  statementsSent(): number;
  close(): Promise<void>;
}
