import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import type { Database, Queryable, QueryResult } from './database.js';

/** Embedded Postgres (WASM) in a folder: the default storage, so `npm start` needs nothing installed. */
export async function createPgliteDatabase(dataDir: string | undefined): Promise<Database> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const db = await PGlite.create(dataDir);

  const run = async <T>(target: Pick<PGlite, 'query'>, sql: string, params?: unknown[]): Promise<QueryResult<T>> => {
    const result = await target.query<T>(sql, params);
    return { rows: result.rows, rowCount: result.affectedRows || result.rows.length };
  };

  return {
    kind: 'pglite',
    query: (sql, params) => run(db, sql, params),
    transaction: (fn) => db.transaction((tx) => fn({ query: (sql, params) => run(tx, sql, params) } satisfies Queryable)),
    async exec(sql) {
      await db.exec(sql);
    },
    async ping() {
      return !db.closed;
    },
    async close() {
      if (!db.closed) await db.close();
    },
  };
}
