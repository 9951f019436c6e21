import { spawn } from 'node:child_process';
import { describe, expect, it } from '@jest/globals';
import { cpuMicrosOf, peakRssOf, processTree } from '../../bench/proc.js';

/** What the workers rows read of a server's processes (bench/worker-targets.ts), on Linux's /proc. */
const linux = process.platform === 'linux';

(linux ? describe : describe.skip)('process figures from /proc', () => {
  it("reads this process's peak resident memory and its CPU time as Node counts them", () => {
    // A high-water mark: never below what was resident before it was read, and it only grows. Linux keeps a
    // process's resident pages in per-CPU counters and reads them approximately, so two reads a moment apart can
    // disagree by a few pages (8 KiB seen in CI): within 1 MiB, which still tells bytes from the kilobytes /proc shows.
    const resident = process.memoryUsage.rss();
    const peak = peakRssOf('self')!;
    expect(peak).toBeGreaterThanOrEqual(resident - 1024 * 1024);
    expect(peak).toBeLessThan(resident * 64);
    expect(peakRssOf(process.pid)).toBeGreaterThanOrEqual(peak);
    const { user, system } = process.cpuUsage();
    // /proc counts in hundredths of a second.
    expect(Math.abs(cpuMicrosOf(process.pid)! - (user + system))).toBeLessThan(50_000);
  });

  it('finds a child and its own child below a process', async () => {
    const child = spawn('sh', ['-c', 'sleep 30 & wait'], { stdio: 'ignore' });
    try {
      let tree: number[] = [];
      for (let i = 0; i < 50 && tree.length < 3; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        tree = processTree(process.pid);
      }
      expect(tree[0]).toBe(process.pid);
      expect(tree).toContain(child.pid);
      expect(tree.length).toBeGreaterThanOrEqual(3);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('answers unknown, never zero, for a process that is not there', () => {
    const gone = 2 ** 22 + 1; // above Linux's highest pid
    expect(peakRssOf(gone)).toBeUndefined();
    expect(cpuMicrosOf(gone)).toBeUndefined();
    expect(processTree(gone)).toEqual([]);
  });
});
