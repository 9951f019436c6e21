import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { createPostgresDatabase } from '../../src/db/postgres.js';
import type { Database } from '../../src/db/database.js';
import { createTestSchema, serviceUrl } from '../helpers/services.js';
import { projectRoot } from '../../src/paths.js';

/**
 * Postgres compiles a statement with LLVM once its estimated cost passes jit_above_cost, and estimates grow with the
 * tables: with a million tokens stored, the resource API's one-row token lookup spent 20 ms compiling on every call.
 * No connection of ours may JIT-compile anything (src/db/postgres.ts). Here every plan is made to pass the threshold
 * (jit_above_cost = 0), which a plain connection then compiles, and ours must not.
 */
const databaseUrl = serviceUrl('TEST_DATABASE_URL');

(databaseUrl ? describe : describe.skip)('JIT compilation on Postgres', () => {
  let schema: Awaited<ReturnType<typeof createTestSchema>>;
  let db: Database;
  const statement = 'SELECT sum(n) AS total FROM generate_series(1, $1::int) AS n WHERE n % 3 = 0';

  beforeAll(async () => {
    schema = await createTestSchema(databaseUrl!);
    db = createPostgresDatabase({ url: schema.url, poolSize: 2, timeoutMs: 10_000 });
  }, 60_000);
  afterAll(async () => {
    await db?.close();
    await schema?.drop();
  });

  /** Whether a plan of `statement` run on `query`'s connection went through JIT compilation. */
  async function compiled(query: (sql: string, params?: unknown[]) => Promise<{ rows: unknown[] }>): Promise<boolean> {
    await query('SET jit_above_cost = 0');
    const { rows } = await query(`EXPLAIN (ANALYZE, FORMAT JSON) ${statement}`, [1000]);
    const [plan] = (rows[0] as { 'QUERY PLAN': [{ JIT?: { Functions: number } }] })['QUERY PLAN'];
    return (plan.JIT?.Functions ?? 0) > 0;
  }

  it('compiles nothing on any connection of the pool, however costly the plan looks', async () => {
    const plain = new pg.Client({ connectionString: schema.url });
    await plain.connect();
    try {
      const { rows } = await plain.query<{ available: boolean }>('SELECT pg_jit_available() AS available');
      // Where this Postgres can compile at all (Debian's and the official images' builds can), a plain connection does:
      // the check below would see the difference.
      if (rows[0]!.available) expect(await compiled((sql, params) => plain.query(sql, params))).toBe(true);
    } finally {
      await plain.end();
    }
    // Both of the pool's connections, each opened for a statement of its own.
    await db.transaction(async (tx) => {
      expect(await compiled((sql, params) => tx.query(sql, params))).toBe(false);
      await db.session(async (session) => {
        expect((await session.query<{ jit: string }>('SHOW jit')).rows).toEqual([{ jit: 'off' }]);
        expect(await compiled((sql, params) => session.query(sql, params))).toBe(false);
      });
    });
    expect((await db.query<{ total: string }>(statement, [9])).rows).toEqual([{ total: '18' }]);
  });

  it('sets it before a connection is handed out, so nothing is sent beside it and pg has nothing to warn about', async () => {
    // A query sent to a connection still running another one works, but pg deprecates it with a warning on standard
    // error, once per process: a process of its own, opening three connections at once.
    const script = `
      import { createPostgresDatabase } from './src/db/postgres.ts';
      const db = createPostgresDatabase({ url: process.env.URL, poolSize: 3, timeoutMs: 10000 });
      const settings = await Promise.all([1, 2, 3].map(() => db.query('SHOW jit')));
      console.log(settings.map(({ rows }) => rows[0].jit).join(' '));
      await db.close();`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: projectRoot,
      env: { ...process.env, URL: schema.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let [stdout, stderr] = ['', ''];
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const [code] = (await once(child, 'exit')) as [number];
    expect({ code, stdout: stdout.trim(), stderr }).toEqual({ code: 0, stdout: 'off off off', stderr: '' });
  }, 30_000);
});
