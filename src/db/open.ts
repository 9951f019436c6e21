import path from 'node:path';
import type { Config } from '../config.js';
import type { Database } from './database.js';
import { lockDataDir } from './embedded-lock.js';
import { migrate } from './migrate.js';
import { needsCluster } from './pglite-initdb.js';

/**
 * How long one migration statement may take (building an index on a large table): DATABASE_TIMEOUT_MS is sized for
 * requests, and a start must not fail because a migration is slower than a request may be.
 */
const MIGRATION_STATEMENT_MS = 300_000;

/**
 * Opens the configured database and brings its schema up to date: Postgres when DATABASE_URL is set, else the
 * embedded one in DATA_DIR (locked to this process).
 */
export async function openDatabase(config: Config, purpose: string, options: { migrate?: boolean } = {}): Promise<Database> {
  let db: Database;
  // Each driver is loaded only when it is the one configured: pg for Postgres, PGlite (and its WebAssembly) embedded.
  if (config.DATABASE_URL) {
    const { createPostgresDatabase } = await import('./postgres.js');
    db = createPostgresDatabase({ url: config.DATABASE_URL, poolSize: config.DATABASE_POOL_SIZE, timeoutMs: config.DATABASE_TIMEOUT_MS });
  } else {
    const release = lockDataDir(config.DATA_DIR, purpose);
    try {
      const { createPgliteDatabase } = await import('./pglite.js');
      const embedded = await createPgliteDatabase(path.join(config.DATA_DIR, 'pgdata'));
      db = {
        ...embedded,
        close: async () => {
          try {
            await embedded.close();
          } finally {
            release();
          }
        },
      };
    } catch (error) {
      release();
      throw error;
    }
  }
  if (options.migrate !== false) {
    try {
      if (config.DATABASE_URL) await migratePostgres(config.DATABASE_URL, config.DATABASE_TIMEOUT_MS);
      else await migrate(db);
    } catch (error) {
      await db.close();
      throw error;
    }
  }
  return db;
}

/**
 * The embedded database's first start: creates its cluster (Postgres's initdb, seconds of work in a process of its own)
 * when DATA_DIR has none, under DATA_DIR's lock; true when it did. `npm start` calls it before loading the server, so
 * that work and the loading overlap; openDatabase then opens the cluster as on any restart. Nothing to do on Postgres.
 */
export async function createEmbeddedCluster(
  config: Pick<Config, 'DATABASE_URL' | 'DATA_DIR'>,
  purpose: string,
  /** Told once the lock is held and a cluster is to be made (not when another process holds DATA_DIR). */
  creating: () => void = () => undefined,
): Promise<boolean> {
  if (config.DATABASE_URL) return false;
  const pgdata = path.join(config.DATA_DIR, 'pgdata');
  const release = lockDataDir(config.DATA_DIR, purpose);
  try {
    if (!needsCluster(pgdata)) return false;
    creating();
    const { ensureCluster } = await import('./pglite.js');
    return await ensureCluster(pgdata);
  } finally {
    release();
  }
}

/** Migrates on a connection of its own: connecting as bounded as ever, statements allowed to take longer. */
async function migratePostgres(url: string, timeoutMs: number): Promise<void> {
  const { createPostgresDatabase } = await import('./postgres.js');
  const migrator = createPostgresDatabase({ url, poolSize: 1, timeoutMs, statementTimeoutMs: Math.max(timeoutMs, MIGRATION_STATEMENT_MS) });
  try {
    await migrate(migrator);
  } finally {
    await migrator.close();
  }
}
