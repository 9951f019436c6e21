import diagnostics from 'node:diagnostics_channel';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { scheduleOf } from './proc.js';

/**
 * BENCH_TRACE: one line a second on standard error with the responses a server's process finished in that second and,
 * per response, the CPU it used (all its threads, and the main thread alone), how long its main thread waited in the
 * run queue for a core, how busy its event loop was, and its resident memory, V8 heap and what V8 knows of outside its heap (Buffers) at that moment, from its
 * start to its stop, the warm-up included: a run shows when its rows reach a steady state and where a row's time went
 * (bench/README.md, "What each row's main thread waits for"). Responses are counted as Node's HTTP server reports them
 * finished (its diagnostics channel); a server in processes of its own (the worker rows) has none here and prints
 * nothing.
 */

/** What the process had done up to a moment. A figure this Node or kernel cannot give is undefined. */
export interface TraceSample {
  responses: number;
  /** CPU of every thread, and of the main thread alone (Node 23.9 and later), µs. */
  cpuMicros: number;
  mainCpuMicros: number | undefined;
  /** The main thread's time waiting in the run queue for a core, µs (Linux's schedstat). */
  waitMicros: number | undefined;
  loop: EventLoopUtilization;
  rssBytes: number;
  heapBytes: number;
  /** Memory V8 knows of outside its heap: Buffers and other ArrayBuffers, and strings kept outside it. */
  externalBytes: number;
}

const micros = ({ user, system }: NodeJS.CpuUsage) => user + system;
// process.threadCpuUsage: Node 23.9 and later (the bench runs on Node 24; the project is typed for Node 20).
const threadCpuUsage = (process as unknown as { threadCpuUsage?: () => NodeJS.CpuUsage }).threadCpuUsage;

export function sampleProcess(responses: number): TraceSample {
  const mainCpu = threadCpuUsage?.();
  const { rss, heapTotal, external } = process.memoryUsage();
  return {
    responses,
    cpuMicros: micros(process.cpuUsage()),
    mainCpuMicros: mainCpu && micros(mainCpu),
    waitMicros: scheduleOf('self', process.pid)?.waitMicros,
    loop: performance.eventLoopUtilization(),
    rssBytes: rss,
    heapBytes: heapTotal,
    externalBytes: external,
  };
}

/** The line for the time between two samples, or undefined when no response was finished in it. */
export function traceLine(label: string, second: number, last: TraceSample, now: TraceSample): string | undefined {
  const responses = now.responses - last.responses;
  if (responses <= 0) return undefined;
  const each = (from: number | undefined, to: number | undefined) =>
    from === undefined || to === undefined ? '?' : String(Math.round((to - from) / responses));
  const busy = performance.eventLoopUtilization(now.loop, last.loop).utilization;
  const mib = (bytes: number) => Math.round(bytes / 2 ** 20);
  return (
    `trace ${label}: ${second} s, ${responses} responses; each ${each(last.cpuMicros, now.cpuMicros)} µs CPU ` +
    `(${each(last.mainCpuMicros, now.mainCpuMicros)} on the main thread, which waited ${each(last.waitMicros, now.waitMicros)} µs ` +
    `for a core); event loop busy ${Math.round(busy * 100)} %; RSS ${mib(now.rssBytes)} MiB, V8 heap ${mib(now.heapBytes)} MiB, ` +
    `outside it ${mib(now.externalBytes)} MiB`
  );
}

export function traceEverySecond(label: string): void {
  let finished = 0;
  diagnostics.subscribe('http.server.response.finish', () => finished++);
  let second = 0;
  let last = sampleProcess(finished);
  setInterval(() => {
    const now = sampleProcess(finished);
    const line = traceLine(label, ++second, last, now);
    if (line) process.stderr.write(line + '\n');
    last = now;
  }, 1000).unref();
}
