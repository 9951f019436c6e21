import { peakRssOf } from './proc.js';
import { traceEverySecond } from './trace.js';
import { recordAllocations } from './allocations.js';
import type { Seed, TargetMessage, TargetName, TargetSetup } from './protocol.js';
import type { RunningTarget, StorageCounts } from './listen.js';

/** Each target's module is loaded alone: the floors never hold oauth3, oidc-provider or PGlite in memory. */
const targets: Record<TargetName, () => Promise<(setup: TargetSetup) => Promise<RunningTarget & { seed?: Seed }>>> = {
  ours: async () => (await import('./targets.js')).ours,
  'in-memory': async () => (await import('./targets.js')).inMemory,
  resource: async () => (await import('./resource-targets.js')).resource,
  mcp: async () => (await import('./resource-targets.js')).mcp,
  'bare-koa': async () => (await import('./bare-targets.js')).bareKoa,
  'bare-proxy': async () => (await import('./bare-targets.js')).bareProxy,
  'one-worker': async () => {
    const { workers } = await import('./worker-targets.js');
    return (setup) => workers(setup, 1);
  },
  'two-workers': async () => {
    const { workers } = await import('./worker-targets.js');
    return (setup) => workers(setup, 2);
  },
};

/**
 * The process's resident-set high-water mark: Linux's VmHWM (bench/proc.ts); elsewhere, the highest of samples taken
 * every 100 ms.
 */
let sampled = process.memoryUsage.rss();
setInterval(() => {
  sampled = Math.max(sampled, process.memoryUsage.rss());
}, 100).unref();
const peakRss = (): number => peakRssOf('self') ?? Math.max(sampled, process.memoryUsage.rss());

/** One target in its own process: start it, say where it listens, stop when the orchestrator says so. */
const send = (message: TargetMessage) => new Promise<void>((resolve) => process.send!(message, () => resolve()));

const failed = async (error: unknown) => {
  await send({ type: 'failed', error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
};

const setup = JSON.parse(process.argv[2]!) as TargetSetup;
if (process.env.BENCH_TRACE) traceEverySecond(`${setup.scenario}, ${setup.target}`);

try {
  const target = await (await targets[setup.target]())(setup);
  // 'mark': the measured run starts now (after the warm-up); anything else: stop, saying how much CPU was used since,
  // how many statements and Redis commands were sent since (read before stopping: the stop's own count is not the
  // load's), and the process's peak resident memory (setup and warm-up included).
  let mark: { cpu: number | undefined; counts: Promise<StorageCounts | undefined> } | undefined;
  let allocations: ReturnType<typeof recordAllocations> | undefined;
  // A server in processes of its own (bench/worker-targets.ts) says what they used; any other is this process.
  const ownCpu = () => (({ user, system }) => user + system)(process.cpuUsage());
  const cpuNow = target.cpuMicros ? () => target.cpuMicros!() : ownCpu;
  const stop = async () => {
    const now = cpuNow();
    const used = mark?.cpu !== undefined && now !== undefined ? now - mark.cpu : undefined;
    const [before, after] = mark ? await Promise.all([mark.counts, target.counts?.()]) : [];
    const since = (key: keyof StorageCounts) => {
      const [from, to] = [before?.[key], after?.[key]];
      return from !== undefined && to !== undefined ? { [key]: to - from } : {};
    };
    const maxRssBytes = target.peakRssBytes ? target.peakRssBytes() : peakRss();
    await allocations?.stop();
    const { stored } = await target.stop();
    await send({
      type: 'stopped',
      ...(maxRssBytes !== undefined ? { maxRssBytes } : {}),
      ...(stored !== undefined ? { stored } : {}),
      ...(used !== undefined ? { cpuMicros: used } : {}),
      ...since('statements'),
      ...since('redisCommands'),
    });
    process.exit(0);
  };
  process.on('message', (message) => {
    if (message === 'mark') {
      if (process.env.BENCH_TRACE) process.stderr.write(`trace ${setup.scenario}, ${setup.target}: the measured window starts\n`);
      mark = { cpu: cpuNow(), counts: target.counts?.() ?? Promise.resolve(undefined) };
      const heapFolder = process.env.BENCH_HEAP_PROFILE;
      if (heapFolder) allocations = recordAllocations(heapFolder, `${setup.scenario} ${setup.target}`);
      return;
    }
    stop().catch(failed);
  });
  await send({ type: 'ready', url: target.url, seed: target.seed ?? {} });
} catch (error) {
  await failed(error);
}
