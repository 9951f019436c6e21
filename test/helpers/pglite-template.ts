import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createPgliteDatabase } from '../../src/db/pglite.js';
import { migrate, readMigrations } from '../../src/db/migrate.js';
import { projectRoot } from '../../src/paths.js';

/** Where the server keeps its embedded database inside DATA_DIR (src/db/open.ts). */
const PGDATA = 'pgdata';

/**
 * A migrated, empty embedded database made once per machine and schema version, then copied into each test server's
 * new DATA_DIR: creating a PGlite cluster costs seconds of CPU, copying its folder a fraction of one. The server
 * still opens, locks and migrates the copy itself (nothing to apply), and creates its own keys in it.
 */
async function templateDir(): Promise<string> {
  const migrations = await readMigrations();
  const pglite = JSON.parse(readFileSync(path.join(projectRoot, 'node_modules', '@electric-sql', 'pglite', 'package.json'), 'utf8')) as {
    version: string;
  };
  const digest = createHash('sha256').update(pglite.version);
  for (const m of migrations) digest.update(`${m.name}\n${m.sql}\n`);
  const dir = path.join(os.tmpdir(), `oauth3-pglite-template-${digest.digest('hex').slice(0, 16)}`);
  if (existsSync(path.join(dir, 'ready'))) return dir;

  // Built aside and renamed into place, so a worker never copies a half-made template; two workers may both build
  // one, and the first rename wins.
  const building = `${dir}.${process.pid}.${randomBytes(4).toString('hex')}`;
  mkdirSync(building, { recursive: true });
  const db = await createPgliteDatabase(path.join(building, PGDATA));
  await migrate(db, migrations);
  await db.close();
  writeFileSync(path.join(building, 'ready'), '');
  try {
    renameSync(building, dir);
  } catch {
    rmSync(building, { recursive: true, force: true });
  }
  return dir;
}

let template: Promise<string> | undefined;

/** Fills a new DATA_DIR with a copy of the template's embedded database. */
export async function seedEmbeddedDatabase(dataDir: string): Promise<void> {
  template ??= templateDir();
  cpSync(path.join(await template, PGDATA), path.join(dataDir, PGDATA), { recursive: true });
}
