import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/open.js';
import { createPostgresDatabase } from '../../src/db/postgres.js';
import { createTestSchema, serviceUrl } from '../helpers/services.js';

const databaseUrl = serviceUrl('TEST_DATABASE_URL');
/** The advisory lock migrations take (src/db/migrate.ts), so one start migrates at a time. */
const MIGRATION_LOCK = 7330001;

/**
 * DATABASE_TIMEOUT_MS bounds a request's statements; migrating at start is not a request, and a migration slower than
 * that (an index on a big table, another replica migrating first) must not stop the server from starting.
 */
(databaseUrl ? describe : describe.skip)('migrations at start on Postgres', () => {
  let schema: Awaited<ReturnType<typeof createTestSchema>>;
  beforeAll(async () => {
    schema = await createTestSchema(databaseUrl!);
  });
  afterAll(async () => {
    await schema?.drop();
  });

  it('bounds statements by statementTimeoutMs where it is given, and by timeoutMs otherwise', async () => {
    const strict = createPostgresDatabase({ url: schema.url, poolSize: 1, timeoutMs: 200 });
    const patient = createPostgresDatabase({ url: schema.url, poolSize: 1, timeoutMs: 200, statementTimeoutMs: 5000 });
    try {
      await expect(strict.query('SELECT pg_sleep(0.6)')).rejects.toThrow();
      await expect(patient.query('SELECT pg_sleep(0.6)')).resolves.toMatchObject({ rowCount: 1 });
    } finally {
      await strict.close();
      await patient.close();
    }
  });

  it('waits out a migration longer than DATABASE_TIMEOUT_MS (another start holding the migration lock) and migrates', async () => {
    const other = new pg.Client({ connectionString: databaseUrl });
    await other.connect();
    try {
      await other.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
      const release = setTimeout(() => void other.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]), 1000);
      const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: schema.url, DATABASE_TIMEOUT_MS: '300' });
      const started = Date.now();
      const db = await openDatabase(config, 'test');
      clearTimeout(release);
      try {
        // It did wait for the lock, far longer than DATABASE_TIMEOUT_MS, and the schema is there.
        expect(Date.now() - started).toBeGreaterThanOrEqual(900);
        const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM schema_migrations');
        expect(rows[0]!.n).toBeGreaterThan(0);
      } finally {
        await db.close();
      }
    } finally {
      await other.end();
    }
  });
});
