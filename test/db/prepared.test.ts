import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createPostgresDatabase } from '../../src/db/postgres.js';
import type { Database } from '../../src/db/database.js';
import { createTestSchema, serviceUrl } from '../helpers/services.js';

/**
 * Statements with parameters are prepared once per Postgres connection (src/db/postgres.ts). A migration run while
 * a server serves (a rolling upgrade) must not break the statements it prepared.
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
  });
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
});
