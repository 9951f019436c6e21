import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Seed, TargetSetup } from './protocol.js';
import { freePort, type RunningTarget, type StorageCounts } from './listen.js';
import { startNodeFlags } from './node-flags.js';
import { benchEnvironment } from './storage.js';
import { cpuMicrosOf, peakRssOf, processTree } from './proc.js';

/**
 * oauth3 as production runs it, `node dist/src/main.js` (here the bench's own build of it) with WORKERS=1 or 2, in a
 * process tree of its own: with 2, a primary and two workers behind one port (src/cluster/). Its CPU and peak memory
 * are read from /proc for the whole tree, its SQL and Redis counts from the metrics the primary adds up.
 */
const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));
const READY_WITHIN_MS = 60_000;

/** A counter's value in Prometheus' text format (its samples summed), undefined when it is not exposed. */
function counter(text: string, name: string): number | undefined {
  const values = text
    .split('\n')
    .filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`))
    .map((line) => Number(line.slice(line.lastIndexOf(' ') + 1)));
  return values.length ? values.reduce((a, b) => a + b, 0) : undefined;
}

/** The values, unless any is unknown or there are none: a part measured is not the whole. */
const allKnown = (values: (number | undefined)[]): number[] | undefined =>
  values.length && values.every((v) => v !== undefined) ? values : undefined;

async function until(ready: () => Promise<boolean>, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + READY_WITHIN_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`oauth3 exited (${child.exitCode}) before it answered`);
    if (await ready().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`oauth3 did not answer within ${READY_WITHIN_MS / 1000} s`);
}

export async function workers(setup: TargetSetup, count: number): Promise<RunningTarget & { seed: Seed }> {
  if (setup.storage !== 'postgres') throw new Error('several workers need Postgres');
  const url = `http://127.0.0.1:${setup.port}`;
  const metricsPort = await freePort();
  const child = spawn(process.execPath, [...startNodeFlags(), MAIN], {
    env: {
      ...process.env,
      ...benchEnvironment(setup),
      WORKERS: String(count),
      METRICS_PORT: String(metricsPort),
      METRICS_HOST: '127.0.0.1',
    },
    // Its log lines are written as in production, to /dev/null (as the other targets' are); what it says on stderr
    // (the start-up's progress) is kept for the error if it does not start.
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let said = '';
  child.stderr.on('data', (chunk: Buffer) => {
    said = (said + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Every process the server ever had: one that died during a row (a worker replaced) makes its CPU unknown, not less.
  const seen = new Set<number>();
  const processes = () => {
    for (const pid of processTree(child.pid!)) seen.add(pid);
    return [...seen];
  };
  try {
    await until(async () => (await fetch(`${url}/.well-known/openid-configuration`)).status === 200, child);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${error instanceof Error ? error.message : String(error)}; it said:\n${said}`, { cause: error });
  }
  return {
    url,
    seed: {},
    async counts(): Promise<StorageCounts> {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      const [statements, redisCommands] = [counter(text, 'oauth3_db_statements_total'), counter(text, 'oauth3_redis_commands_total')];
      return { ...(statements !== undefined ? { statements } : {}), ...(redisCommands !== undefined ? { redisCommands } : {}) };
    },
    cpuMicros: () => allKnown(processes().map(cpuMicrosOf))?.reduce((a, b) => a + b, 0),
    peakRssBytes: () => {
      const peaks = allKnown(processes().map(peakRssOf));
      return peaks && Math.max(...peaks);
    },
    async stop() {
      child.kill('SIGTERM');
      await exited;
      return {};
    },
  };
}
