import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import type { Database, Listener, Queryable, QueryResult } from './database.js';

/** Embedded Postgres (WASM) in a folder: the default storage, so `npm start` needs nothing installed. */
export async function createPgliteDatabase(dataDir: string | undefined): Promise<Database> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const db = await PGlite.create(dataDir);

  const run = async <T>(target: Pick<PGlite, 'query'>, sql: string, params?: unknown[]): Promise<QueryResult<T>> => {
    const result = await target.query<T>(sql, params);
    return { rows: result.rows, rowCount: result.affectedRows || result.rows.length };
  };

  const listeners = new Set<() => Promise<void>>();
  const listen = (channel: string, listener: Listener) => {
    let ended = false;
    // In-process: once subscribed, nothing can be missed until the database closes.
    const subscribed = db
      .listen(channel, (payload) => listener.message(payload))
      .then((unsubscribe) => {
        if (!ended) listener.state(true);
        return unsubscribe;
      });
    const end = async () => {
      if (ended) return;
      ended = true;
      listeners.delete(end);
      listener.state(false);
      const unsubscribe = await subscribed.catch(() => undefined);
      if (!db.closed) await unsubscribe?.().catch(() => {});
    };
    listeners.add(end);
    return end;
  };

  return {
    kind: 'pglite',
    listen,
    query: (sql, params) => run(db, sql, params),
    transaction: (fn) => db.transaction((tx) => fn({ query: (sql, params) => run(tx, sql, params) } satisfies Queryable)),
    session: (fn) => fn({ query: (sql, params) => run(db, sql, params) }),
    async exec(sql) {
      await db.exec(sql);
    },
    async ping() {
      return !db.closed;
    },
    async close() {
      await Promise.all([...listeners].map((end) => end()));
      if (!db.closed) await db.close();
    },
  };
}
