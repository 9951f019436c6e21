import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
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

/**
 * The pages of `tables` (heap and indexes, found on the connection's search_path) read by what `fn` sends on the
 * connection `query` runs on.
 */
async function pagesRead(
  query: (sql: string) => Promise<{ rows: unknown[] }>,
  tables: string[],
  fn: () => Promise<unknown>,
): Promise<number> {
  const read = async () => {
    // This connection's counts are sent to the statistics at the end of the next transaction.
    await query('SELECT pg_stat_force_next_flush()');
    const { rows } = await query(
      `SELECT sum(heap_blks_hit + heap_blks_read + idx_blks_hit + idx_blks_read) AS blocks
       FROM pg_statio_user_tables WHERE relid IN (${tables.map((table) => `'${table}'::regclass`).join(', ')})`,
    );
    return Number((rows[0] as { blocks: string }).blocks);
  };
  const before = await read();
  await fn();
  return (await read()) - before;
}

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
  const buffersRead = (fn: () => Promise<unknown>) => pagesRead((sql) => db.query(sql), ['oidc_models'], fn);

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

(databaseUrl ? describe : describe.skip)('connections replaced after their lifetime on Postgres', () => {
  const LIFETIME_SECONDS = 4;
  let schema: Awaited<ReturnType<typeof createTestSchema>>;
  let db: Database;
  let opened = 0;
  beforeAll(async () => {
    schema = await createTestSchema(databaseUrl!);
    // One connection, replaced after four seconds (ten minutes in the server).
    opened = Date.now();
    db = createPostgresDatabase({ url: schema.url, poolSize: 1, timeoutMs: 10_000, lifetimeSeconds: LIFETIME_SECONDS });
    await db.exec('CREATE TABLE labels (id text PRIMARY KEY, label text) WITH (autovacuum_enabled = false)');
  }, 60_000);
  afterAll(async () => {
    await db?.close();
    await schema?.drop();
  });

  /** Buffers of `labels` (heap and index) that one lookup reads on the pool's connection. */
  const lookupReads = (id: string) =>
    pagesRead(
      (sql) => db.query(sql),
      ['labels'],
      async () => expect((await db.query('SELECT label FROM labels WHERE id = $1', [id])).rows).toEqual([{ label: id }]),
    );
  const backend = async () => (await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;

  it('makes the plans of prepared statements again once a connection has served its time', async () => {
    await db.query(`INSERT INTO labels (id, label) VALUES ('a', 'a'), ('b', 'b')`);
    await db.exec('ANALYZE labels');
    // Postgres keeps a plan after five calls, made on two rows: a sequential scan.
    for (let i = 0; i < 8; i++) await lookupReads('a');
    const first = await backend();
    await db.exec(`INSERT INTO labels (id, label) SELECT 'n' || n, 'n' || n FROM generate_series(1, 50000) AS n`);
    // The kept plan reads every page the table has since been given (on the same connection, still in its lifetime).
    expect(await lookupReads('n7')).toBeGreaterThan(100);
    expect(await backend()).toBe(first);
    // A new connection once the lifetime is over; its plans are made on the table as it is now: one index lookup.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, opened + LIFETIME_SECONDS * 1_000 + 300 - Date.now())));
    expect(await backend()).not.toBe(first);
    for (let i = 0; i < 8; i++) await lookupReads('n7');
    expect(await lookupReads('n42')).toBeLessThan(10);
  });
});

/**
 * The finds and consumes by key run through functions (migrations/020_kept_token_plans.sql) that plan each call for its
 * own values while oidc_models is under 1 MB, and keep one plan per connection from then on. What the planner chose
 * is read from auto_explain, which sends each plan to the connection that ran it: a plan made for one call knows its
 * values (a session not asked for is `false`, a list of keys holds one key), a kept plan was made for any values (the
 * flag is a parameter, `$5`; a list of keys is assumed to hold ten, Postgres's default).
 */
(databaseUrl ? describe : describe.skip)('plans kept for the token finds and consumes on Postgres', () => {
  let schema: Awaited<ReturnType<typeof createTestSchema>>;
  let client: pg.Client | undefined;
  const plans: string[] = [];
  /** A new connection (with none of the plans an earlier one kept), which receives auto_explain's plans. */
  async function connect(): Promise<void> {
    await client?.end();
    client = new pg.Client({ connectionString: schema.url });
    await client.connect();
    client.on('notice', (notice) => {
      if (/^duration: .* plan:/.test(notice.message ?? '')) plans.push(notice.message!);
    });
    await client.query("LOAD 'auto_explain'");
    for (const setting of ['log_min_duration = 0', 'log_nested_statements = on']) await client.query(`SET auto_explain.${setting}`);
    await client.query('SET client_min_messages = log');
  }
  beforeAll(async () => {
    schema = await createTestSchema(databaseUrl!);
    const db = createPostgresDatabase({ url: schema.url, poolSize: 1, timeoutMs: 10_000 });
    await migrate(db);
    await db.close();
    await connect();
    // Only what the test does changes the statistics: no ANALYZE by autovacuum halfway.
    await client!.query('ALTER TABLE oidc_models SET (autovacuum_enabled = false)');
    await client!.query('ALTER TABLE accounts SET (autovacuum_enabled = false)');
  }, 60_000);
  afterAll(async () => {
    await client?.end();
    await schema?.drop();
  });

  const find = (ids: string[]) =>
    client!.query<{ id: string; grant: string | null; owner: string | null }>(
      'SELECT * FROM oauth3_find_models($1::text[], $2::text[], true, true, false)',
      [ids.map(() => 'RefreshToken'), ids],
    );
  const spend = (id: string, next: string) =>
    client!.query<{ model: string; id: string }>('SELECT * FROM oauth3_write_models($1::text[], $2::text[], $3::jsonb)', [
      ['RefreshToken'],
      [id],
      JSON.stringify([
        {
          model: 'RefreshToken',
          id: next,
          payload: { accountId: 'owner' },
          grant_id: 'grant',
          expires_in: 600,
          consumes_model: 'RefreshToken',
          consumes_id: id,
        },
      ]),
    ]);
  /** The plan of the statement inside the function `fn` calls: the one that reads oidc_models. */
  async function planOf(fn: () => Promise<unknown>): Promise<string> {
    plans.length = 0;
    await fn();
    const inner = plans.filter((plan) => /on oidc_models/.test(plan));
    expect(inner).toHaveLength(1);
    return inner[0]!;
  }
  const keptFind = /One-Time Filter: \(\$5 AND/;
  const keysAssumed = (plan: string) => Number(/Function Scan on c\S*\s+\(cost=\S+ rows=(\d+)/.exec(plan)?.[1]);
  /** Buffers of oidc_models and accounts (heap and indexes) read by what `fn` sends on the connection. */
  const buffersRead = (fn: () => Promise<unknown>) => pagesRead((sql) => client!.query(sql), ['oidc_models', 'accounts'], fn);

  /**
   * A new deployment's tables: an owner, a grant and one token of `model` ('first'), analyzed as autovacuum does in
   * its first minutes. A plan made on those statistics joins by reading the table's every key: cheaper than a lookup,
   * as long as the table stays this small.
   */
  async function startSmall(model: string): Promise<void> {
    await client!.query('TRUNCATE oidc_models, accounts CASCADE');
    await client!.query(`INSERT INTO accounts (id) VALUES ('owner')`);
    await client!.query(
      `INSERT INTO oidc_models (model, id, payload, grant_id, expires_at) VALUES
         ('Grant', 'grant', '{"accountId":"owner","clientId":"app"}', NULL, now() + interval '1 hour'),
         ($1, 'first', '{"accountId":"owner","clientId":"app","grantId":"grant"}', 'grant', now() + interval '1 hour')`,
      [model],
    );
    await client!.query('ANALYZE oidc_models');
    await client!.query('ANALYZE accounts');
    await connect();
  }
  /** Rows of a model nothing here reads, past 1 MB. */
  const fillPastOneMegabyte = () =>
    client!.query(
      `INSERT INTO oidc_models (model, id, payload)
       SELECT 'Filler', 'filler-' || n, jsonb_build_object('text', repeat('x', 200)) FROM generate_series(1, 6000) AS n`,
    );
  /** Far more tokens of `model` ('bulk-<n>'), grants and owners than the statistics know of (no ANALYZE). */
  async function grow(model: string): Promise<void> {
    await client!.query(
      `INSERT INTO oidc_models (model, id, payload, grant_id, expires_at)
       SELECT $1, 'bulk-' || n, jsonb_build_object('accountId', 'owner-' || n, 'clientId', 'app', 'grantId', 'grant-' || n),
              'grant-' || n, now() + interval '1 hour' FROM generate_series(1, 20000) AS n
       UNION ALL
       SELECT 'Grant', 'grant-' || n, jsonb_build_object('accountId', 'owner-' || n, 'clientId', 'app'), NULL, now() + interval '1 hour'
       FROM generate_series(1, 20000) AS n`,
      [model],
    );
    await client!.query(`INSERT INTO accounts (id) SELECT 'owner-' || n FROM generate_series(1, 20000) AS n`);
  }
  /** What two rows that grow() added come back with: each found with its grant and owner. */
  const bothFound = (rows: { id: string; grant: unknown; owner?: unknown; account_found?: boolean }[]) =>
    expect(
      rows.map(({ id, grant, owner, account_found }) => [id, grant !== null, (owner ?? null) !== null || account_found === true]).sort(),
    ).toEqual([
      ['bulk-19999', true, true],
      ['bulk-7', true, true],
    ]);

  it('plans each call for its values on a small table, then keeps one plan that stays a lookup by key as the tables grow', async () => {
    await startSmall('RefreshToken');
    // A small table: each call planned for its own values.
    for (let i = 0; i < 6; i++)
      expect((await find(['first'])).rows).toMatchObject([{ id: 'first', grant: expect.stringContaining('owner') }]);
    const small = await planOf(() => find(['first']));
    expect(small).toMatch(/One-Time Filter: false/);
    expect(small).not.toMatch(keptFind);
    expect(keysAssumed(await planOf(() => spend('missing', 'never')))).toBe(1);

    // Past 1 MB: one plan, made for any values, kept.
    await fillPastOneMegabyte();
    expect(await planOf(() => find(['first']))).toMatch(keptFind);
    expect(keysAssumed(await planOf(() => spend('missing', 'never')))).toBe(10);

    // Then the tables grow: each find and consume reads a few index pages and one heap page per row, not every row of a
    // model or every owner.
    await grow('RefreshToken');
    expect(await buffersRead(async () => bothFound((await find(['bulk-7', 'bulk-19999'])).rows))).toBeLessThan(40);
    const spent = await buffersRead(async () =>
      expect((await spend('bulk-8', 'after-8')).rows).toEqual([{ model: 'RefreshToken', id: 'bulk-8' }]),
    );
    expect(spent).toBeLessThan(40);
    // Still the plans kept before the growth.
    expect(await planOf(() => find(['bulk-9']))).toMatch(keptFind);
  });

  it('keeps the grant and session lookups by key when the statistics were taken before there were any grants or sessions', async () => {
    await client!.query('TRUNCATE oidc_models, accounts CASCADE');
    // Statistics of a table past 1 MB that holds no grant and no session yet: the planner thinks it holds none.
    await fillPastOneMegabyte();
    await client!.query('ANALYZE oidc_models');
    await connect();
    await client!.query(`INSERT INTO accounts (id) VALUES ('owner')`);
    await client!.query(
      `INSERT INTO oidc_models (model, id, payload, grant_id, expires_at) VALUES
         ('RefreshToken', 'first', '{"accountId":"owner","expiresWithSession":true,"sessionUid":"uid-1"}', 'grant', now() + interval '1 hour')`,
    );
    const findWithSession = (ids: string[]) =>
      client!.query<{ id: string; grant: string | null; session: string | null }>(
        'SELECT * FROM oauth3_find_models($1::text[], $2::text[], true, true, true)',
        [ids.map(() => 'RefreshToken'), ids],
      );
    for (let i = 0; i < 3; i++)
      expect((await findWithSession(['first'])).rows).toMatchObject([{ id: 'first', grant: null, session: null }]);
    expect(await planOf(() => findWithSession(['first']))).toMatch(keptFind);
    // Then many grants and sessions, and no ANALYZE.
    await client!.query(
      `INSERT INTO oidc_models (model, id, payload, uid, expires_at)
       SELECT 'Grant', 'grant-' || n, '{}'::jsonb, NULL, now() + interval '1 hour' FROM generate_series(1, 20000) AS n
       UNION ALL SELECT 'Grant', 'grant', '{}', NULL, now() + interval '1 hour'
       UNION ALL
       SELECT 'Session', 'session-' || n, '{}', 'uid-' || n, now() + interval '1 hour' FROM generate_series(1, 20000) AS n`,
    );
    const read = await buffersRead(async () =>
      expect((await findWithSession(['first'])).rows).toMatchObject([{ id: 'first', grant: '{}', session: '{}' }]),
    );
    expect(read).toBeLessThan(40);
  });

  it("keeps the resource API's lookup of bearer tokens a lookup by key as the tables grow past the plan it kept", async () => {
    await startSmall('AccessToken');
    const lookup = (ids: string[]) =>
      client!.query<{ id: string; grant: unknown; account_found: boolean }>('SELECT * FROM oauth3_find_bearer_tokens($1::text[])', [ids]);
    const keysOf = (plan: string) => Number(/Function Scan on (?:unnest )?presented\s+\(cost=\S+ rows=(\d+)/.exec(plan)?.[1]);
    for (let i = 0; i < 6; i++) expect((await lookup(['first'])).rows).toMatchObject([{ id: 'first', account_found: true }]);
    // A small table: planned for the one key of each call.
    expect(keysOf(await planOf(() => lookup(['first'])))).toBe(1);
    // Past 1 MB: one plan for any keys, kept.
    await fillPastOneMegabyte();
    expect(keysOf(await planOf(() => lookup(['first'])))).toBe(10);
    await grow('AccessToken');
    const looksUp = () => buffersRead(async () => bothFound((await lookup(['bulk-7', 'bulk-19999'])).rows));
    // With the plan kept from before the growth, and with one made now, on statistics of two rows.
    expect(await looksUp()).toBeLessThan(40);
    await connect();
    // (A connection's first statement on a table also reads each of its indexes' metapages.)
    await lookup(['bulk-1']);
    expect(await looksUp()).toBeLessThan(40);
  });
});
