import { afterAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { createPgliteDatabase } from '../../src/db/pglite.js';
import { createClusterAside, needsCluster } from '../../src/db/pglite-initdb.js';

/**
 * The embedded database as the server opens it (src/db/pglite.ts, src/db/pglite-initdb.ts): a new cluster is made by
 * a child process beside its folder and renamed into place, then opened with the memory settings; what was committed
 * is there after a reopen; a failed creation leaves nothing behind.
 */
describe('the embedded database', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'oauth3-pglite-cluster-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('creates a new cluster aside, opens it with 16 MB of shared buffers, and keeps what was committed', async () => {
    const dataDir = path.join(root, 'new', 'pgdata');
    expect(needsCluster(dataDir)).toBe(true);
    // What a creation killed half-way would have left.
    mkdirSync(path.join(root, 'new', 'pgdata.new-1'), { recursive: true });
    const db = await createPgliteDatabase(dataDir);
    try {
      expect(existsSync(path.join(dataDir, 'PG_VERSION'))).toBe(true);
      expect(readdirSync(path.dirname(dataDir))).toEqual(['pgdata']);
      const { rows } = await db.query<{ shared_buffers: string }>('SHOW shared_buffers');
      expect(rows[0]!.shared_buffers).toBe('16MB');
      await db.exec('CREATE TABLE kept (v text)');
      await db.query('INSERT INTO kept (v) VALUES ($1)', ['survives a reopen']);
    } finally {
      await db.close();
    }
    expect(needsCluster(dataDir)).toBe(false);
    const again = await createPgliteDatabase(dataDir);
    try {
      expect((await again.query<{ v: string }>('SELECT v FROM kept')).rows).toEqual([{ v: 'survives a reopen' }]);
    } finally {
      await again.close();
    }
  }, 180_000);

  it('creates a cluster in an empty folder too', async () => {
    const dataDir = path.join(root, 'empty', 'pgdata');
    mkdirSync(dataDir, { recursive: true });
    expect(needsCluster(dataDir)).toBe(true);
    const db = await createPgliteDatabase(dataDir);
    await db.close();
    expect(existsSync(path.join(dataDir, 'PG_VERSION'))).toBe(true);
  }, 180_000);

  it('leaves neither the folder nor a half-made cluster when creating one fails', async () => {
    const dataDir = path.join(root, 'failed', 'pgdata');
    const broken = [...PGlite.defaultStartParams, '-c', 'shared_buffers=not-a-size'];
    await expect(createClusterAside(dataDir, broken, [])).rejects.toThrow(/creating the embedded database failed/);
    expect(readdirSync(path.dirname(dataDir))).toEqual([]);
  }, 180_000);
});
