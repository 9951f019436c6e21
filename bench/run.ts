import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './listen.js';
import { fileURLToPath } from 'node:url';
import { createTestSchema } from '../test/helpers/services.js';
import type { BenchFixtures, IdleMemory, IdleMessage, IdleSetup, LoadResult, StorageKind, TargetMessage, TargetSetup } from './protocol.js';
import { GOAL_SCENARIOS, benchReport, machine, type Measured } from './report.js';
import { SCENARIOS, parseOnly, parseStorage, rowsOf, targetLabel, type ScenarioSpec } from './scenarios.js';
import { prepareLoad } from './preflight.js';
import { benchConfig, prepareStorage } from './storage.js';
import { startNodeFlags } from './node-flags.js';
import { measureStartup, startupMet, startupTable } from './startup.js';
import { cpuMicrosOfCommands } from './proc.js';

/**
 * `npm run bench`: every scenario of bench/scenarios.ts (discovery, client credentials, authorization code + PKCE,
 * refresh rotation with 50 chains and with one client alone, introspection, the resource API, the MCP server) on our
 * server with Postgres + Redis and with embedded PGlite, each beside its baseline measured in the same run. Each server
 * runs in its own process, one after the other, and the load generator in another. Writes bench/results/latest.md and
 * prints it; exits 1 when a response was not the expected one or our Postgres + Redis rows miss a target
 * (bench/report.ts POSTGRES_GOALS and MAX_PEAK_RSS_BYTES; bench/README.md, Targets).
 *
 * The start-up rows (bench/startup.ts) time `npm start` from a fresh clone and again on a restart; BENCH_ONLY=startup
 * runs them alone, in a minute or two.
 *
 * BENCH_ONLY (comma list of scenarios, and `startup`), BENCH_STORAGE (postgres, embedded or both), BENCH_DURATION and BENCH_WARMUP
 * (seconds) and BENCH_ROUNDS (rounds of the scenarios with a target, default 3) shorten a run, BENCH_IDLE=0 skips the
 * embedded server's memory at rest (a first start and a restart without load, measured before the rows); BENCH_CONNECTIONS
 * sets the load's connections (50; the one-client row keeps its one); BENCH_DATABASE_URL and BENCH_REDIS_URL say where
 * Postgres and Redis are; BENCH_TRACE prints each server's responses every second with where their time went (bench/trace.ts);
 * BENCH_HEAP_PROFILE=<folder> has each row's server record what its measured window allocated (bench/allocations.ts).
 */
const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 5);
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'info';
/** `startup` in BENCH_ONLY (or unset) asks for the start-up rows; the rest names load scenarios. */
const ONLY_NAMES = (process.env.BENCH_ONLY ?? '').split(',').map((s) => s.trim());
const STARTUP = !process.env.BENCH_ONLY?.trim() || ONLY_NAMES.includes('startup');
const LOAD_ONLY = ONLY_NAMES.filter((s) => s && s !== 'startup');
const ONLY = STARTUP && process.env.BENCH_ONLY?.trim() && !LOAD_ONLY.length ? [] : parseOnly(LOAD_ONLY.join(',') || undefined);
const STORAGES = parseStorage(process.env.BENCH_STORAGE);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const IDLE = process.env.BENCH_IDLE !== '0';
const IDLE_SETTLE_SECONDS = 8;
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
if (!(DURATION > 0) || !(WARMUP >= 0)) throw new Error('BENCH_DURATION must be a positive number of seconds, BENCH_WARMUP zero or more');
if (!Number.isInteger(CONNECTIONS) || CONNECTIONS < 1)
  throw new Error('BENCH_CONNECTIONS must be a whole number of connections, at least 1');
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error('BENCH_ROUNDS must be a whole number of rounds, at least 1');

/** Scenarios with a target are measured in ROUNDS rounds (bench/report.ts pairs each round with its baseline). */
const roundsOf = (spec: ScenarioSpec) => (GOAL_SCENARIOS.includes(spec.id) ? ROUNDS : 1);

const children = new Set<ChildProcess>();

/**
 * The servers, the load generator and the fake upstream run from JavaScript built for this run (scripts/build.mjs, the
 * build `npm start` runs, with bench/ added) on plain Node, as `node dist/src/main.js` runs in production: through tsx,
 * its loader's thread alone held about 40 MB more in every server process and its hooks ran on every import.
 */
const BUILT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'bench-build');

async function buildForRun(): Promise<void> {
  const began = performance.now();
  // @ts-expect-error: a plain ES module of the project's scripts, without type declarations.
  const scripts = (await import('../scripts/build.mjs')) as {
    build: (options: { folders: string[]; outdir: string }) => Promise<void>;
    buildFolders: () => string[];
  };
  rmSync(BUILT, { recursive: true, force: true });
  await scripts.build({ folders: [...scripts.buildFolders(), 'bench'], outdir: BUILT });
  process.stderr.write(`built the servers for the run in ${Math.round(performance.now() - began)} ms (${BUILT})\n`);
}

function spawn(file: string, argument: unknown, nodeFlags: string[] = []): ChildProcess {
  const child = fork(path.join(BUILT, 'bench', file.replace(/\.ts$/, '.js')), [JSON.stringify(argument)], {
    execArgv: nodeFlags,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/**
 * BENCH_NODE_FLAGS: Node flags every row's server (ours and the baseline alike) runs with after npm start's, for an
 * experiment with V8's settings (`--trace-gc`, another young generation); a run with them is not the verdict.
 */
const EXTRA_FLAGS = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);

/**
 * BENCH_CPU_PROFILE=<folder>: every row's server writes a V8 CPU profile of its whole life (start-up and warm-up
 * included) into <folder>/<scenario, target and round>/, for bench/profile-summary.ts.
 */
const PROFILE_DIR = process.env.BENCH_CPU_PROFILE;
const profileFlags = (scenario: string, label: string, which: string): string[] => {
  if (!PROFILE_DIR) return [];
  const slug = `${scenario}-${label}${which}`
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
  return ['--cpu-prof', `--cpu-prof-dir=${path.resolve(PROFILE_DIR, slug)}`];
};

/** The processes of the storage the servers share: Postgres's backends and helpers, and Redis. */
const STORAGE_COMMANDS = new Set(['postgres', 'redis-server']);

/** CPU time every core of the machine has spent busy so far (µs): os.cpus() counts milliseconds. */
const machineCpu = () => os.cpus().reduce((sum, { times }) => sum + (times.user + times.nice + times.sys + times.irq) * 1000, 0);

/** The child's next message; an exit before it is a failure. */
function nextMessage<T>(child: ChildProcess, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`${what}: process exited (${code}) before answering`));
    child.once('exit', onExit);
    child.once('message', (message) => {
      child.off('exit', onExit);
      resolve(message as T);
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once('exit', () => resolve()));
}

/** A storage backend prepared for the run: where it is, its clients and owner, and how to remove it afterwards. */
interface Backend {
  where: Pick<TargetSetup, 'storage' | 'databaseUrl' | 'redisUrl' | 'dataDir'>;
  fixtures: BenchFixtures;
  remove(): Promise<void>;
}

async function prepareBackend(storage: StorageKind, shared: Pick<TargetSetup, 'port' | 'masterKey' | 'logLevel'>): Promise<Backend> {
  let where: Backend['where'];
  let remove: () => Promise<void>;
  if (storage === 'postgres') {
    const schema = await createTestSchema(DATABASE_URL);
    where = { storage, databaseUrl: schema.url, redisUrl: REDIS_URL };
    remove = () => schema.drop();
  } else {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-bench-'));
    where = { storage, dataDir };
    remove = async () => rmSync(dataDir, { recursive: true, force: true });
  }
  try {
    return { where, fixtures: await prepareStorage(benchConfig({ ...shared, ...where })), remove };
  } catch (error) {
    await remove();
    throw error;
  }
}

const firstLine = (error: unknown) => (error instanceof Error ? error.message : String(error)).split('\n')[0]!;

/** One row: start the target, check it, load it, stop it; a failure anywhere becomes the row's `failure`. */
async function measureRow(setup: TargetSetup, row: Omit<Measured, 'loadBefore'>, which = ''): Promise<Measured> {
  const loadBefore = os.loadavg()[0]!;
  process.stderr.write(
    `measuring ${row.scenario}: ${row.label}${which} (${WARMUP} s warm-up + ${DURATION} s, load average ${loadBefore.toFixed(2)})...\n`,
  );
  // Every server, ours and the baselines alike, runs with the Node flags `npm start` and the image give ours
  // (bench/node-flags.ts: V8's heap sizing), so a ratio compares code on the same runtime settings; the worker targets
  // start their own `node` with them.
  const server = spawn('./target-process.ts', setup, [
    ...startNodeFlags(),
    ...profileFlags(row.scenario, row.label, which),
    ...EXTRA_FLAGS,
  ]);
  try {
    const ready = await nextMessage<TargetMessage>(server, `${setup.target} server`);
    if (ready.type !== 'ready') throw new Error(`did not start: ${ready.type === 'failed' ? ready.error : ready.type}`);
    const options = await prepareLoad(setup.scenario, setup.target, ready, setup.fixtures, {
      connections: setup.connections,
      warmupSeconds: WARMUP,
      durationSeconds: DURATION,
    });
    const load = spawn('./load-process.ts', options);
    await nextMessage<{ type: 'measuring' }>(load, 'load generator');
    server.send('mark');
    const [machineFrom, storageFrom] = [machineCpu(), cpuMicrosOfCommands(STORAGE_COMMANDS)];
    const result = await nextMessage<LoadResult>(load, 'load generator');
    const machineCpuMicros = machineCpu() - machineFrom;
    const storageTo = cpuMicrosOfCommands(STORAGE_COMMANDS);
    const storageCpuMicros = storageFrom === undefined || storageTo === undefined ? undefined : Math.max(0, storageTo - storageFrom);
    await exited(load);
    server.send('stop');
    const stopped = await nextMessage<TargetMessage>(server, `${setup.target} server`);
    if (stopped.type !== 'stopped') throw new Error(`did not stop cleanly: ${stopped.type === 'failed' ? stopped.error : stopped.type}`);
    const { stored, cpuMicros, statements, redisCommands, maxRssBytes } = stopped;
    return {
      ...row,
      loadBefore,
      result,
      stored,
      cpuMicros,
      statements,
      redisCommands,
      maxRssBytes,
      machineCpuMicros,
      ...(storageCpuMicros === undefined ? {} : { storageCpuMicros }),
    };
  } catch (error) {
    process.stderr.write(`  ${row.label} failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    return { ...row, loadBefore, failure: firstLine(error) };
  } finally {
    // A server that said it stopped exits by itself (writing what --cpu-prof asked for); a stuck one is killed.
    await Promise.race([exited(server), new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
    if (server.exitCode === null && server.signalCode === null) server.kill();
    await exited(server);
  }
}

/** The fake upstream the resource and MCP targets and the bare proxy call, in a process of its own, for their rows. */
async function withUpstream<T>(spec: ScenarioSpec, body: (upstreamUrl?: string) => Promise<T>): Promise<T> {
  if (!spec.upstream) return body();
  const upstream = spawn('./upstream-process.ts', {});
  try {
    const ready = await nextMessage<{ type: 'ready'; url: string }>(upstream, 'fake upstream');
    return await body(ready.url);
  } finally {
    upstream.send('stop');
    await exited(upstream);
  }
}

/**
 * The embedded server's memory without load: started on a new DATA_DIR (creating its cluster and migrating it), then
 * restarted on the same folder, each start a process of its own resting IDLE_SETTLE_SECONDS before it is read.
 */
async function measureIdle(shared: Pick<TargetSetup, 'port' | 'masterKey' | 'logLevel'>): Promise<IdleMemory> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-bench-idle-'));
  try {
    const start = async (which: string) => {
      process.stderr.write(`measuring the embedded server at rest: ${which}...\n`);
      const setup: IdleSetup = { ...shared, dataDir, settleMs: IDLE_SETTLE_SECONDS * 1000 };
      const child = spawn('./idle-process.ts', setup, startNodeFlags());
      const message = await nextMessage<IdleMessage>(child, 'embedded server at rest');
      await exited(child);
      if (message.type !== 'idle') throw new Error(`the embedded server at rest failed: ${message.error}`);
      return { rssBytes: message.rssBytes, peakBytes: message.peakBytes };
    };
    return { first: await start('first start'), restart: await start('restart') };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<boolean> {
  await buildForRun();
  // First, on a machine not yet warmed by the load rows: what a person waits for at `npm start`.
  const startup = STARTUP ? await measureStartup() : [];
  const startupText = startup.length ? `\n### Start-up\n\n${startupTable(startup)}` : '';
  const startupOk = startup.every(startupMet);
  if (!ONLY.length) {
    process.stdout.write(startupText);
    const dir = new URL('./results/', import.meta.url);
    mkdirSync(dir, { recursive: true });
    writeFileSync(new URL('startup.md', dir), startupText);
    return startupOk;
  }
  const shared = { port: await freePort(), masterKey: randomBytes(32).toString('base64url'), logLevel: LOG_LEVEL };
  const backends = new Map<StorageKind, Backend>();
  try {
    for (const storage of STORAGES) backends.set(storage, await prepareBackend(storage, shared));
    // The baselines read keys, clients and the owner from the first backend; they keep nothing there.
    const baseline = backends.get(STORAGES[0]!)!;
    const idle = IDLE && STORAGES.includes('embedded') ? await measureIdle(shared) : undefined;
    const rows: Measured[] = [];
    for (const spec of SCENARIOS.filter((s) => ONLY.includes(s.id))) {
      await withUpstream(spec, async (upstreamUrl) => {
        const rounds = roundsOf(spec);
        for (let round = 1; round <= rounds; round++) {
          for (const { target, storage } of rowsOf(spec, STORAGES)) {
            const backend = storage ? backends.get(storage)! : baseline;
            const setup: TargetSetup = {
              ...shared,
              ...backend.where,
              target,
              scenario: spec.id,
              fixtures: backend.fixtures,
              connections: spec.connections ?? CONNECTIONS,
              ...(upstreamUrl ? { upstreamUrl } : {}),
            };
            const label = targetLabel(target, storage);
            rows.push(
              await measureRow(
                setup,
                { scenario: spec.id, target, ...(storage ? { storage } : {}), label, ...(rounds > 1 ? { round } : {}) },
                rounds > 1 ? ` (round ${round} of ${rounds})` : '',
              ),
            );
          }
        }
      });
    }
    const { ok, markdown } = benchReport(rows, {
      connections: CONNECTIONS,
      warmup: WARMUP,
      duration: DURATION,
      logLevel: LOG_LEVEL,
      storages: STORAGES,
      rounds: ROUNDS,
      machine: machine(),
      cores: os.cpus().length,
      date: new Date().toISOString(),
      ...(idle ? { idle, idleSettle: IDLE_SETTLE_SECONDS } : {}),
    });
    process.stdout.write('\n' + markdown + startupText);
    const dir = new URL('./results/', import.meta.url);
    mkdirSync(dir, { recursive: true });
    writeFileSync(new URL('latest.md', dir), markdown + startupText);
    return ok && startupOk;
  } finally {
    for (const backend of backends.values()) await backend.remove().catch(() => {});
  }
}

// A stuck child must not keep the bench alive: give up well after the longest honest run.
const rowCount = SCENARIOS.filter((s) => ONLY.includes(s.id)).reduce((n, s) => n + rowsOf(s, STORAGES).length * roundsOf(s), 0);
const watchdog = setTimeout(
  () => {
    process.stderr.write('bench: timed out\n');
    for (const child of children) child.kill('SIGKILL');
    process.exit(2);
  },
  (rowCount * (WARMUP + DURATION + 90) + 120 + (STARTUP ? 1200 : 0) + (IDLE ? 2 * (IDLE_SETTLE_SECONDS + 120) : 0)) * 1000,
);
watchdog.unref();

try {
  process.exitCode = (await main()) ? 0 : 1;
} catch (error) {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  for (const child of children) child.kill();
  process.exitCode = 1;
}
