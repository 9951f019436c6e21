import { readFileSync } from 'node:fs';
import { startServer } from '../src/server.js';
import type { IdleMessage, IdleSetup } from './protocol.js';
import { benchConfig, benchLogger } from './storage.js';

/**
 * Our server on embedded PGlite, at rest: start it on the folder given (a new one for the first start, the same one
 * again for a restart), wait without load, and say its resident memory then and its peak since the process began.
 * Each start is a process of its own, as a restart is.
 */
const setup = JSON.parse(process.argv[2]!) as IdleSetup;
const send = (message: IdleMessage) => new Promise<void>((resolve) => process.send!(message, () => resolve()));

function statusBytes(field: 'VmRSS' | 'VmHWM'): number {
  const kib = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  return kib ? Number(kib) * 1024 : process.memoryUsage.rss();
}

try {
  const config = benchConfig({ ...setup, storage: 'embedded' });
  const server = await startServer(config, benchLogger(config));
  await new Promise((resolve) => setTimeout(resolve, setup.settleMs));
  const measured = { rssBytes: statusBytes('VmRSS'), peakBytes: statusBytes('VmHWM') };
  await server.close();
  await send({ type: 'idle', ...measured });
  process.exit(0);
} catch (error) {
  await send({ type: 'failed', error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
}
