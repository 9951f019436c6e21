import { spawn } from 'node:child_process';
import { describe, expect, it } from '@jest/globals';
import { cpuMicrosOf, cpuMicrosOfCommands, peakRssOf, processTree, scheduleOf } from '../../bench/proc.js';

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

  it('tells a thread that ran from one that waited for a core', async () => {
    // Three processes that each spin for 900 ms of wall time on the same single core, then sleep so that their figures
    // can be read. While all three spin, each runs a third of the time and waits for the rest: together they wait
    // about twice as long as they run. They do not start at the same moment (on a busy machine one may spin alone for
    // a while), so the test reads their sums, not each one's.
    const spin = 'const end = Date.now() + 900; while (Date.now() < end); setTimeout(() => {}, 10_000);';
    const spinners = [0, 1, 2].map(() => spawn('taskset', ['-c', '0', process.execPath, '-e', spin], { stdio: 'ignore' }));
    try {
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const schedules = spinners.map(({ pid }) => scheduleOf(pid!, pid!)!);
      for (const [i, schedule] of schedules.entries()) {
        expect(schedule.runMicros).toBeGreaterThan(150_000);
        // The same run time as /proc's CPU counters, which count in hundredths of a second.
        expect(Math.abs(schedule.runMicros - cpuMicrosOf(spinners[i]!.pid!)!)).toBeLessThan(50_000);
      }
      const sum = (figure: 'runMicros' | 'waitMicros') => schedules.reduce((total, schedule) => total + schedule[figure], 0);
      expect(sum('waitMicros')).toBeGreaterThan(sum('runMicros') * 1.2);
    } finally {
      for (const spinner of spinners) spinner.kill('SIGKILL');
    }
  });

  it('sums the CPU time of every process with a given command, and of none other', async () => {
    // Two processes named alike each spin until they have used 200 ms of CPU, then sleep; a third named otherwise spins
    // too. By CPU used, not by time passed: on a busy machine a spinner may get a core for only part of its time.
    const spinner = (title: string) =>
      spawn(
        process.execPath,
        [
          '-e',
          `process.title = '${title}';
           const used = () => { const { user, system } = process.cpuUsage(); return user + system; };
           while (used() < 200_000);
           process.stdout.write('spun\\n');
           setTimeout(() => {}, 10_000);`,
        ],
        { stdio: ['ignore', 'pipe', 'ignore'] },
      );
    const spun = (child: ReturnType<typeof spinner>) => new Promise((resolve) => child.stdout.once('data', resolve));
    const [a, b, other] = [spinner('oauth3-spin'), spinner('oauth3-spin'), spinner('oauth3-other')];
    try {
      // Once all three have spun they sleep; their figures are read once they have stopped moving (a process's last
      // ticks after its loop: the write, its timer, V8's own threads).
      await Promise.all([a, b, other].map(spun));
      for (let last = -1, i = 0; i < 50; i++) {
        const now = cpuMicrosOfCommands(new Set(['oauth3-spin', 'oauth3-other']));
        if (now === last) break;
        last = now ?? -1;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const both = cpuMicrosOf(a.pid!)! + cpuMicrosOf(b.pid!)!;
      expect(both).toBeGreaterThan(300_000);
      expect(cpuMicrosOfCommands(new Set(['oauth3-spin']))).toBe(both);
      expect(cpuMicrosOfCommands(new Set(['oauth3-spin', 'oauth3-other']))).toBe(both + cpuMicrosOf(other.pid!)!);
      expect(cpuMicrosOfCommands(new Set(['no-such-command']))).toBe(0);
    } finally {
      for (const child of [a, b, other]) child.kill('SIGKILL');
    }
  });

  it('answers unknown, never zero, for a process that is not there', () => {
    const gone = 2 ** 22 + 1; // above Linux's highest pid
    expect(peakRssOf(gone)).toBeUndefined();
    expect(cpuMicrosOf(gone)).toBeUndefined();
    expect(scheduleOf(gone, gone)).toBeUndefined();
    expect(processTree(gone)).toEqual([]);
  });
});
