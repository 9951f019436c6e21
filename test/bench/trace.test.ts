import { describe, expect, it } from '@jest/globals';
import { sampleProcess, traceLine, type TraceSample } from '../../bench/trace.js';

/** BENCH_TRACE's line a second (bench/trace.ts): each figure per response, and a plain '?' for one not available. */
describe('the bench trace', () => {
  const loop = (idle: number, active: number) => ({ idle, active, utilization: active / (idle + active) });
  const at = (responses: number, micros: number, wait: number | undefined, busy: ReturnType<typeof loop>): TraceSample => ({
    responses,
    cpuMicros: micros * 2,
    mainCpuMicros: micros,
    waitMicros: wait,
    loop: busy,
    rssBytes: 190 * 2 ** 20,
    heapBytes: 70 * 2 ** 20,
    externalBytes: 5 * 2 ** 20,
  });

  it('gives the CPU, the main thread’s share and its wait per response, the event loop’s busy share and the memory', () => {
    const line = traceLine('refresh, ours', 7, at(1000, 500_000, 100_000, loop(100, 400)), at(3000, 1_200_000, 366_000, loop(160, 1340)));
    // 2000 responses in the second: 1 400 000 µs of CPU, 700 000 on the main thread, 266 000 waited; 60 ms idle of 1000.
    expect(line).toBe(
      'trace refresh, ours: 7 s, 2000 responses; each 700 µs CPU (350 on the main thread, which waited 133 µs for a core); ' +
        'event loop busy 94 %; RSS 190 MiB, V8 heap 70 MiB, outside it 5 MiB',
    );
  });

  it('says "?" for a figure this Node or kernel does not give, and prints nothing for a second without responses', () => {
    const line = traceLine('x', 1, { ...at(0, 0, undefined, loop(0, 1)), mainCpuMicros: undefined }, at(10, 1000, 50, loop(0, 2)));
    expect(line).toContain('each 200 µs CPU (? on the main thread, which waited ? µs for a core)');
    expect(traceLine('x', 2, at(10, 0, 0, loop(0, 1)), at(10, 5000, 0, loop(0, 2)))).toBeUndefined();
  });

  it('samples this process: its CPU, its main thread’s and, on Linux, its wait for a core', () => {
    const sample = sampleProcess(0);
    expect(sample.cpuMicros).toBeGreaterThan(0);
    // The bench and CI run on Node 24, which counts a thread's CPU of its own.
    expect(sample.mainCpuMicros).toBeGreaterThan(0);
    expect(sample.mainCpuMicros).toBeLessThanOrEqual(sample.cpuMicros);
    if (process.platform === 'linux') expect(sample.waitMicros).toBeGreaterThanOrEqual(0);
    expect(sample.rssBytes).toBeGreaterThan(sample.heapBytes);
    expect(sample.externalBytes).toBeGreaterThan(0);
  });
});
