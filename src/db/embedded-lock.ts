import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

/**
 * Only one process may open an embedded (PGlite) data directory: two would corrupt it. The lock file names the
 * holder, so a second process (the admin CLI while the server runs) can say plainly who has it.
 */
export class EmbeddedStorageBusy extends Error {
  override name = 'EmbeddedStorageBusy';
  constructor(
    readonly dataDir: string,
    readonly holder: { pid: number; purpose: string },
  ) {
    super(
      `The embedded database in ${dataDir} is in use by process ${holder.pid} (${holder.purpose}). ` +
        'Only one process can open it at a time: stop that process and run this again, ' +
        'or set DATABASE_URL to use Postgres, which any number of processes can share.',
    );
  }
}

const Holder = z.object({ pid: z.number(), purpose: z.string() });

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the lock or throws EmbeddedStorageBusy; a lock left by a dead process is taken over. Returns the release. */
export function lockDataDir(dataDir: string, purpose: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, 'oauth3.lock');
  const mine = JSON.stringify({ pid: process.pid, purpose, since: new Date().toISOString() });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, mine, { flag: 'wx', mode: 0o600 });
      const release = () => {
        try {
          if (readFileSync(file, 'utf8') === mine) unlinkSync(file);
        } catch {
          // already gone
        }
      };
      process.once('exit', release);
      return release;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      let holder: { pid: number; purpose: string } | undefined;
      try {
        holder = Holder.parse(JSON.parse(readFileSync(file, 'utf8')));
      } catch {
        holder = undefined;
      }
      if (holder && holder.pid !== process.pid && alive(holder.pid)) throw new EmbeddedStorageBusy(dataDir, holder);
      if (holder && holder.pid === process.pid) throw new EmbeddedStorageBusy(dataDir, holder);
      unlinkSync(file);
    }
  }
  throw new Error(`could not lock ${dataDir}`);
}
