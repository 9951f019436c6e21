import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Seed, TargetSetup } from './protocol.js';
import { freePort, type RunningTarget, type StorageCounts } from './listen.js';
import { startNodeFlags } from './node-flags.js';

/**
 * oauth3 as production runs it, `node dist/src/main.js` (here the bench's own build of it) with WORKERS=1 or 2, in a
 * process tree of its own: with 2, a primary and two workers behind one port (src/cluster/). Its CPU and peak memory
 * are read from /proc for the whole tree, its SQL and Redis counts from the metrics the primary adds up.
 */
const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));
const READY_WITHIN_MS = 60_000;

/** The process and every process below it (Linux /proc); empty elsewhere. */
function tree(pid: number): number[] {
  try {
    const children = readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
    );
    return [pid, ...children.flatMap(tree)];
  } catch {
    return [];
  }
}

/** CPU time used so far by a process (user + system, µs), from /proc/<pid>/stat; 0 once it is gone. */
function cpuOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of stat (utime, stime), in clock ticks: 100 per second on Linux.
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100;
  } catch {
    return 0;
  }
}

function peakOf(pid: number): number {
  try {
    return Number(/^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/** A counter's value in Prometheus' text format (its samples summed), undefined when it is not exposed. */
function counter(text: string, name: string): number | undefined {
  const values = text
    .split('\n')
    .filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`))
    .map((line) => Number(line.slice(line.lastIndexOf(' ') + 1)));
  return values.length ? values.reduce((a, b) => a + b, 0) : undefined;
}

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
      NODE_ENV: 'test',
      PORT: String(setup.port),
      HOST: '127.0.0.1',
      ISSUER: url,
      DATABASE_URL: setup.databaseUrl!,
      ...(setup.redisUrl ? { REDIS_URL: setup.redisUrl } : {}),
      MASTER_KEY: setup.masterKey,
      LOG_LEVEL: setup.logLevel,
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
  const seen = new Set<number>();
  const processes = () => {
    for (const pid of tree(child.pid!)) seen.add(pid);
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
    cpuMicros: () => processes().reduce((sum, pid) => sum + cpuOf(pid), 0),
    peakRssBytes: () => Math.max(0, ...processes().map(peakOf)),
    async stop() {
      child.kill('SIGTERM');
      await exited;
      return {};
    },
  };
}
