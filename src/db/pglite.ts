import { mkdirSync } from 'node:fs';
import v8 from 'node:v8';
import { PGlite } from '@electric-sql/pglite';
import { createClusterAside, needsCluster } from './pglite-initdb.js';
import type { Database, Listener, Queryable, QueryResult } from './database.js';

/**
 * Postgres settings of the embedded database, sized for one process's storage rather than a database server's
 * (measurements in bench/README.md, "Memory of the embedded default"). Postgres writes its shared buffers when it
 * starts, so PGlite's default of 128 MB was resident from the first second, and WASM memory never shrinks. 16 MB
 * holds the hot pages of oauth3's tables; the rest is read back from the files in DATA_DIR (through the OS's page
 * cache). Index builds in a migration spill to disk past 16 MB instead of growing the memory for good. Nothing here
 * touches durability: every commit is written to the files as before.
 */
export const PGLITE_SETTINGS = ['shared_buffers=16MB', 'maintenance_work_mem=16MB'];

/**
 * V8 compiles WebAssembly with its baseline compiler (Liftoff) and recompiles the functions that turn out hot with its
 * optimizing one. For one of Postgres's functions (over 100 KB of WebAssembly) that recompilation takes about 600 MB
 * for several seconds, a few seconds after every start and again under load, and it leaves tens of MB behind. So
 * PGlite's functions stay on the baseline compiler: they then cost about a third more CPU once warm, and no
 * recompilation runs. These flags are read when a WebAssembly module is compiled, so they must be set before the first
 * PGlite is created; they apply to WebAssembly compiled later in this process too (nothing else of oauth3's is).
 */
const BASELINE_WASM_FLAGS = ['--no-wasm-tier-up', '--no-wasm-dynamic-tiering'];

const startParams = () => [...PGlite.defaultStartParams, ...PGLITE_SETTINGS.flatMap((setting) => ['-c', setting])];

/**
 * Creates the cluster in dataDir when it has none (in a process of its own: pglite-initdb.ts); true when it did. The
 * caller holds DATA_DIR's lock.
 */
export async function ensureCluster(dataDir: string): Promise<boolean> {
  if (!needsCluster(dataDir)) return false;
  await createClusterAside(dataDir, startParams(), BASELINE_WASM_FLAGS);
  return true;
}

/** Embedded Postgres (WASM) in a folder: the default storage, so `npm start` needs nothing installed. */
export async function createPgliteDatabase(dataDir: string | undefined): Promise<Database> {
  v8.setFlagsFromString(BASELINE_WASM_FLAGS.join(' '));
  if (dataDir) await ensureCluster(dataDir);
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const db = await PGlite.create(dataDir, { startParams: startParams() });

  let sent = 0;
  const run = async <T>(target: Pick<PGlite, 'query'>, sql: string, params?: unknown[]): Promise<QueryResult<T>> => {
    sent++;
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
    statementsSent: () => sent,
    query: (sql, params) => run(db, sql, params),
    // PGlite's transaction sends BEGIN, and COMMIT or ROLLBACK, around the statements: two more.
    transaction: (fn) => {
      sent += 2;
      return db.transaction((tx) => fn({ query: (sql, params) => run(tx, sql, params) } satisfies Queryable));
    },
    session: (fn) => fn({ query: (sql, params) => run(db, sql, params) }),
    async exec(sql) {
      sent++;
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
