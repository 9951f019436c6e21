import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * The URL of a service a suite needs. Unset, that suite is skipped on a laptop; in CI a missing service fails the
 * run instead of quietly shrinking it.
 */
export function serviceUrl(name: 'TEST_DATABASE_URL' | 'TEST_REDIS_URL'): string | undefined {
  const url = process.env[name];
  if (!url && process.env.CI) throw new Error(`${name} is not set: in CI the Postgres and Redis suites must run`);
  return url;
}

/** A fresh schema on the test Postgres, so test files running in parallel never see each other's rows. */
export async function createTestSchema(baseUrl: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const url = new URL(baseUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: baseUrl });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    },
  };
}

export type Backend = 'pglite' | 'postgres' | 'postgres+redis';

/**
 * The storage backends a suite runs on: embedded always; Postgres, and Postgres with Redis for the short-lived
 * models, when configured (both required in CI).
 */
export function backends(): Backend[] {
  const list: Backend[] = ['pglite'];
  if (serviceUrl('TEST_DATABASE_URL')) list.push('postgres');
  if (serviceUrl('TEST_DATABASE_URL') && serviceUrl('TEST_REDIS_URL')) list.push('postgres+redis');
  return list;
}
