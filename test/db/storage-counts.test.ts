import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { createPostgresDatabase } from '../../src/db/postgres.js';
import { createPgliteDatabase } from '../../src/db/pglite.js';
import type { Database } from '../../src/db/database.js';
import { countRedisCommands } from '../../src/server.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { createTestSchema, serviceUrl } from '../helpers/services.js';

/**
 * The counts behind oauth3_db_statements_total and oauth3_redis_commands_total (the benchmark's statements and
 * commands per request): every statement a database is sent, a transaction's BEGIN and COMMIT included, and every
 * command the Redis client sends.
 */
const databaseUrl = serviceUrl('TEST_DATABASE_URL');
const redisUrl = serviceUrl('TEST_REDIS_URL');

async function countsStatements(db: Database): Promise<void> {
  await db.exec('CREATE TABLE counted (id text PRIMARY KEY)');
  // Every connection the pool will use is open before counting: opening one sends a statement of its own (its
  // settings, src/db/postgres.ts), counted too, but once per connection rather than per call.
  await Promise.all([db.query('SELECT 1'), db.query('SELECT 2')]);
  const before = db.statementsSent();
  await db.query('INSERT INTO counted (id) VALUES ($1)', ['a']);
  await db.query('SELECT id FROM counted');
  expect(db.statementsSent() - before).toBe(2);
  // BEGIN, two statements, COMMIT.
  await db.transaction(async (tx) => {
    await tx.query('INSERT INTO counted (id) VALUES ($1)', ['b']);
    await tx.query('SELECT count(*) FROM counted');
  });
  expect(db.statementsSent() - before).toBe(6);
  // A failed statement was sent all the same; a rolled-back transaction sends BEGIN and ROLLBACK.
  await expect(db.query('INSERT INTO counted (id) VALUES ($1)', ['a'])).rejects.toThrow();
  await expect(
    db.transaction(async (tx) => {
      await tx.query('SELECT 1');
      throw new Error('rolled back');
    }),
  ).rejects.toThrow('rolled back');
  expect(db.statementsSent() - before).toBe(10);
}

describe('statements sent to the database', () => {
  (databaseUrl ? it : it.skip)('are counted on Postgres', async () => {
    const schema = await createTestSchema(databaseUrl!);
    const db = createPostgresDatabase({ url: schema.url, poolSize: 2, timeoutMs: 10_000 });
    try {
      const opened = db.statementsSent();
      await countsStatements(db);
      // CREATE TABLE, the two SELECTs, the ten counted above, and each of the two connections' SET.
      expect(db.statementsSent() - opened).toBe(15);
    } finally {
      await db.close();
      await schema.drop();
    }
  });

  it('are counted on embedded PGlite', async () => {
    const db = await createPgliteDatabase(undefined);
    try {
      await countsStatements(db);
    } finally {
      await db.close();
    }
  }, 60_000);
});

(redisUrl ? describe : describe.skip)('commands sent to Redis', () => {
  let redis: Redis;
  beforeAll(async () => {
    redis = new Redis(redisUrl!, { lazyConnect: true });
    await redis.connect();
  });
  afterAll(() => redis?.disconnect());

  it('are counted from the moment counting starts, a script as one command', async () => {
    const sent = countRedisCommands(redis);
    expect(sent()).toBe(0);
    const key = `oauth3:test:counted:${process.pid}`;
    await redis.set(key, '1', 'EX', 60);
    await redis.get(key);
    await redis.eval("return redis.call('DEL', KEYS[1])", 1, key);
    expect(sent()).toBe(3);
  });
});

describe('the storage counters of the metrics', () => {
  it('show what the counts say at each scrape, and no Redis counter without Redis', async () => {
    let statements = 0;
    let commands = 0;
    const withRedis = new Metrics();
    withRedis.countStorage({ statements: () => statements, redisCommands: () => commands });
    statements = 5;
    commands = 2;
    expect(await withRedis.counterValue('oauth3_db_statements_total')).toBe(5);
    statements = 12;
    expect(await withRedis.counterValue('oauth3_db_statements_total')).toBe(12);
    expect(await withRedis.counterValue('oauth3_redis_commands_total')).toBe(2);
    expect(await withRedis.scrape()).toMatch(/^oauth3_db_statements_total 12$/m);

    const withoutRedis = new Metrics();
    withoutRedis.countStorage({ statements: () => 3 });
    expect(await withoutRedis.counterValue('oauth3_db_statements_total')).toBe(3);
    expect(await withoutRedis.counterValue('oauth3_redis_commands_total')).toBeUndefined();
    expect(await withoutRedis.scrape()).not.toContain('oauth3_redis_commands_total');
  });
});
