import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deathReason, restartDelay } from '../../src/cluster/primary.js';
import { ServerProcess } from '../helpers/replicas.js';
import { freePort } from '../helpers/server.js';
import { createTestSchema, serviceUrl } from '../helpers/services.js';

const databaseUrl = serviceUrl('TEST_DATABASE_URL');

describe('replacing a dead worker', () => {
  it('waits longer each time a worker dies soon after starting, up to 30 s, and not at all after a healthy life', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 10].map(restartDelay)).toEqual([0, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  });

  it('says why a worker died in words', () => {
    expect(deathReason(null, 'SIGKILL')).toBe('killed by SIGKILL (out of memory, or killed by hand?)');
    expect(deathReason(null, 'SIGSEGV')).toBe('killed by SIGSEGV');
    expect(deathReason(1, null)).toBe('exited with code 1 (its last log lines say why)');
    expect(deathReason(0, null)).toBe('exited on its own (code 0)');
  });
});

/**
 * A worker that cannot start (here: Redis, which only the workers open, refuses) ends the whole start with its exit
 * code, instead of the primary restarting workers that would fail alike.
 */
(databaseUrl ? describe : describe.skip)('a worker that cannot start', () => {
  let schema: Awaited<ReturnType<typeof createTestSchema>>;
  let dataDir: string;

  beforeAll(async () => {
    schema = await createTestSchema(databaseUrl!);
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-workers-fail-'));
  });
  afterAll(async () => {
    await schema?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('stops the primary and the other worker, with the exit code the worker gave', async () => {
    const closedPort = await freePort();
    const started = Date.now();
    const failed = String(
      await new ServerProcess({
        NODE_ENV: 'test',
        WORKERS: '2',
        DATA_DIR: dataDir,
        DATABASE_URL: schema.url,
        REDIS_URL: `redis://127.0.0.1:${closedPort}`,
        DATABASE_TIMEOUT_MS: '1000',
        MASTER_KEY: randomBytes(32).toString('base64url'),
      })
        .start()
        .catch((e: unknown) => e),
    );
    expect(failed).toMatch(/^Error: server process exited with 1:/);
    expect(failed).toMatch(/"msg":"worker [12] could not start: exited with code 1/);
    expect(failed).not.toMatch(/a new one starts in/);
    // Told once, by the primary, for the first worker that failed; the other was stopped, not mourned.
    expect(failed.match(/"msg":"worker \d could not start/g)).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(60_000);
  }, 90_000);
});
