import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, rmdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * Creating a new embedded cluster (Postgres's initdb) runs a second PGlite instance and initdb's own WebAssembly beside
 * the one that stays open: about 600 MB at its peak, and about 60 MB more than a restart holds stays resident in the
 * server afterwards, since WebAssembly memory never shrinks and the freed heap is not all given back. So a new cluster
 * is made by a short-lived Node process, in a folder beside the target renamed into place when complete (a start
 * interrupted half-way leaves no half-made cluster behind), and the server then opens it as it opens an existing one.
 */

/** The child: create the cluster with the server's settings, close it (writing it out), exit. */
const CHILD = `
const [entry, dir, startParams] = process.argv.slice(1);
const { PGlite } = await import(entry);
const db = await PGlite.create(dir, { startParams: JSON.parse(startParams) });
await db.close();
`;

/** True when dataDir holds no cluster yet: missing or an empty folder. */
export function needsCluster(dataDir: string): boolean {
  return !existsSync(dataDir) || readdirSync(dataDir).length === 0;
}

/** Creates a cluster in dataDir (which must need one) in a child process with these Postgres start parameters. */
export async function createClusterAside(dataDir: string, startParams: string[], nodeFlags: string[]): Promise<void> {
  const building = `${dataDir}.new-${process.pid}`;
  mkdirSync(path.dirname(dataDir), { recursive: true });
  // What an interrupted creation left: DATA_DIR is locked to this process (embedded-lock.ts), so no one else builds here.
  const leftover = `${path.basename(dataDir)}.new-`;
  for (const name of readdirSync(path.dirname(dataDir))) {
    if (name.startsWith(leftover)) rmSync(path.join(path.dirname(dataDir), name), { recursive: true, force: true });
  }
  const entry = pathToFileURL(createRequire(import.meta.url).resolve('@electric-sql/pglite')).href;
  try {
    await run(process.execPath, [...nodeFlags, '--input-type=module', '-e', CHILD, entry, building, JSON.stringify(startParams)]);
    if (existsSync(dataDir)) rmdirSync(dataDir);
    renameSync(building, dataDir);
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      if (stderr.length < 16_384) stderr += chunk;
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`creating the embedded database failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`));
    });
  });
}
