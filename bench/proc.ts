import { readFileSync, readdirSync } from 'node:fs';

/**
 * What Linux's /proc says of a process: its resident-set high-water mark, its CPU time, its children. Each answers
 * undefined (or no children) where there is no /proc or the process is gone, so a report shows a dash rather than a
 * number measured on something else.
 */

/** The resident-set high-water mark (VmHWM, bytes): this process image's alone, unlike getrusage's maxRSS. */
export function peakRssOf(pid: number | 'self'): number | undefined {
  try {
    const kib = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kib ? Number(kib) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** A process's command (`comm`) and CPU time so far, user and system (µs), from its /proc/<pid>/stat line. */
function statOf(pid: number | string): { command: string; cpuMicros: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command is in parentheses; after it, from field 3 on: utime and stime are fields 14 and 15, in clock ticks
  // (100 a second on Linux).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    command: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
    cpuMicros: ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100,
  };
}

/** CPU time used so far, user and system (µs). */
export function cpuMicrosOf(pid: number): number | undefined {
  try {
    return statOf(pid).cpuMicros;
  } catch {
    return undefined;
  }
}

/**
 * CPU time used so far, user and system (µs), by every process whose command is one of `commands` (a process's
 * `comm`: `postgres` for each of Postgres's backends and helpers, `redis-server`); undefined without /proc. A process
 * that exits is no longer counted, so a difference of two readings leaves out what one that exited in between used.
 */
export function cpuMicrosOfCommands(commands: ReadonlySet<string>): number | undefined {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  let total = 0;
  for (const pid of pids) {
    try {
      const { command, cpuMicros } = statOf(pid);
      if (commands.has(command)) total += cpuMicros;
    } catch {
      // Gone between the listing and the read.
    }
  }
  return total;
}

/** The process and every process below it. */
export function processTree(pid: number): number[] {
  try {
    const children = readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
    );
    return [pid, ...children.flatMap(processTree)];
  } catch {
    return [];
  }
}

/**
 * How long a thread has run on a CPU and waited in the run queue for one, so far (µs; /proc/<pid>/task/<tid>/schedstat,
 * kept by kernels with scheduler statistics): a thread ready to run that waits there is busy for its event loop but
 * uses no CPU, the time the machine's other work (Postgres, the load generator, the garbage collector's threads) took.
 */
export function scheduleOf(pid: number | 'self', tid: number): { runMicros: number; waitMicros: number } | undefined {
  try {
    const [run, wait] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
    return run === undefined || wait === undefined || Number.isNaN(run + wait)
      ? undefined
      : { runMicros: run / 1000, waitMicros: wait / 1000 };
  } catch {
    return undefined;
  }
}
