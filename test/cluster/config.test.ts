import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config.js';
import { ServerProcess } from '../helpers/replicas.js';

const postgres = 'postgres://oauth3@127.0.0.1:5432/oauth3';
const production = {
  NODE_ENV: 'production',
  ISSUER: 'https://auth.example.com',
  MASTER_KEY: 'a'.repeat(64),
  COOKIE_KEYS: 'c'.repeat(32),
};

describe('WORKERS', () => {
  it('is 1 in development, and every CPU in production on Postgres unless set', () => {
    expect(loadConfig({}).WORKERS).toBe(1);
    expect(loadConfig({ DATABASE_URL: postgres }).WORKERS).toBe(1);
    expect(loadConfig({ ...production, DATABASE_URL: postgres }).WORKERS).toBe(os.availableParallelism());
    expect(loadConfig({ ...production, DATABASE_URL: postgres, WORKERS: '1' }).WORKERS).toBe(1);
    expect(loadConfig({ DATABASE_URL: postgres, WORKERS: '3' }).WORKERS).toBe(3);
    // Embedded storage in production stays one process rather than refusing to start.
    expect(loadConfig(production).WORKERS).toBe(1);
  });

  it('above 1 is refused on embedded storage, naming WORKERS and DATABASE_URL in one line', () => {
    const error = (() => {
      try {
        loadConfig({ WORKERS: '2' });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'WORKERS=2 needs DATABASE_URL: the embedded database serves one process (set DATABASE_URL to a Postgres, or WORKERS=1)',
    ]);
    expect(() => loadConfig({ WORKERS: '0' })).toThrow(/WORKERS: .*\(use a whole number from 1 to 256\)/);
    expect(loadConfig({ WORKERS: '1' }).WORKERS).toBe(1);
  });

  it('`npm start` with WORKERS=2 and no DATABASE_URL exits 78 with that line, before anything is created', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-workers-embedded-'));
    try {
      const failed = await new ServerProcess({ WORKERS: '2', DATA_DIR: dataDir }).start().catch((e: unknown) => e);
      expect(String(failed)).toMatch(
        /exited with 78:\noauth3 cannot start, the configuration has 1 problem\(s\):\n {2}- WORKERS=2 needs DATABASE_URL: /,
      );
      expect(readdirSync(dataDir)).toEqual([]);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
