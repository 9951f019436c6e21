import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createPostgresDatabase } from '../../src/db/postgres.js';
import type { Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { PostgresAdapter } from '../../adapters/postgres.js';
import { createTestSchema, serviceUrl } from '../helpers/services.js';

/**
 * Statements with parameters are prepared once per Postgres connection (src/db/postgres.ts). A migration run while
 * a server serves (a rolling upgrade) must not break the statements it prepared, and the finds of tokens, planned at
 * each run, must not keep a plan made while the table was small.
 */
const databaseUrl = serviceUrl('TEST_DATABASE_URL');

(databaseUrl ? describe : describe.skip)('prepared statements on Postgres', () => {
  let schema: Awaited<ReturnType<typeof createTestSchema>>;
  let db: Database;
  beforeAll(async () => {
    schema = await createTestSchema(databaseUrl!);
    // One connection, so every query below reuses the statement it prepared.
    db = createPostgresDatabase({ url: schema.url, poolSize: 1, timeoutMs: 10_000 });
    await db.exec('CREATE TABLE things (id text PRIMARY KEY, label text)');
    await migrate(db);
    // Only what the tests do changes oidc_models' statistics: no ANALYZE by autovacuum halfway.
    await db.exec('ALTER TABLE oidc_models SET (autovacuum_enabled = false)');
  }, 60_000);
  afterAll(async () => {
    await db?.close();
    await schema?.drop();
  });

  it('prepares a statement once and runs it again with new values', async () => {
    await db.query('INSERT INTO things (id, label) VALUES ($1, $2)', ['a', 'first']);
    await db.query('INSERT INTO things (id, label) VALUES ($1, $2)', ['b', 'second']);
    const { rows } = await db.query<{ id: string; label: string }>('SELECT id, label FROM things WHERE id = ANY($1::text[]) ORDER BY id', [
      ['a', 'b'],
    ]);
    expect(rows).toEqual([
      { id: 'a', label: 'first' },
      { id: 'b', label: 'second' },
    ]);
    const { rows: prepared } = await db.query<{ name: string }>("SELECT name FROM pg_prepared_statements WHERE name LIKE 'oauth3_%'");
    expect(prepared.length).toBeGreaterThanOrEqual(2);
  });

  it('answers with the new columns after a migration changes the table under a prepared SELECT *', async () => {
    const select = 'SELECT * FROM things WHERE id = $1';
    expect((await db.query(select, ['a'])).rows).toEqual([{ id: 'a', label: 'first' }]);
    await db.exec("ALTER TABLE things ADD COLUMN color text NOT NULL DEFAULT 'blue'");
    expect((await db.query(select, ['a'])).rows).toEqual([{ id: 'a', label: 'first', color: 'blue' }]);
    expect((await db.query(select, ['b'])).rows).toEqual([{ id: 'b', label: 'second', color: 'blue' }]);
  });

  /** The buffers of oidc_models (heap and indexes) read by what `fn` sends on the pool's one connection. */
  async function buffersRead(fn: () => Promise<unknown>): Promise<number> {
    const read = async () => {
      // This connection's counts are sent to the statistics at the end of the next transaction.
      await db.query('SELECT pg_stat_force_next_flush()');
      const { rows } = await db.query<{ blocks: string }>(
        `SELECT heap_blks_hit + heap_blks_read + idx_blks_hit + idx_blks_read AS blocks
         FROM pg_statio_user_tables WHERE relid = 'oidc_models'::regclass`,
      );
      return Number(rows[0]!.blocks);
    };
    const before = await read();
    await fn();
    return (await read()) - before;
  }

  it('finds a token by its key, not by reading every token, after the table grew past the plans it first had', async () => {
    // A new deployment: a handful of tokens while every connection prepares its statements and runs them a few times.
    const tokens = new PostgresAdapter('RefreshToken', db);
    for (let i = 0; i < 3; i++) await tokens.upsert(`early-${i}`, { kind: 'RefreshToken', grantId: 'g' }, 3600);
    for (let round = 0; round < 8; round++) for (let i = 0; i < 3; i++) expect(await tokens.find(`early-${i}`)).toBeDefined();
    // Then many more tokens than the statistics have seen.
    await db.exec(
      `INSERT INTO oidc_models (model, id, payload, grant_id, expires_at)
       SELECT 'RefreshToken', 'bulk-' || n, '{"kind":"RefreshToken"}', 'g', now() + interval '1 hour' FROM generate_series(1, 20000) AS n`,
    );
    // One probe of the primary key reads a few index pages and one heap page; reading the model's rows reads hundreds.
    expect(
      await buffersRead(async () => expect(await tokens.find('early-1')).toMatchObject({ kind: 'RefreshToken', grantId: 'g' })),
    ).toBeLessThan(20);
    expect(await buffersRead(() => tokens.consume('early-2'))).toBeLessThan(20);
  });
});
