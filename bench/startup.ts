import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './listen.js';

/**
 * The start-up rows of `npm run bench`: how long a person waits for `npm start`. "Fresh clone" is the committed tree
 * in a new folder with its dependencies installed (`npm ci` is not counted: its time is the network's), through the
 * TypeScript build, the embedded database's creation, the migrations and the keys, until discovery answers. "Restart"
 * is `npm start` again in that folder with nothing changed: the build skipped, the database and keys already there.
 * Each is measured with the quick start's settings (embedded storage, development), metrics off.
 */

export interface StartupRow {
  label: string;
  /** Seconds a person may wait, at most. */
  targetSeconds: number;
  seconds?: number;
  /** Of those, the TypeScript build's, as the build step printed it (0 when it was skipped). */
  buildSeconds?: number;
  loadBefore: number;
  failure?: string;
}

export const STARTUP_TARGETS = { fresh: 8, restart: 2 } as const;

const root = path.resolve(import.meta.dirname, '..');

/** `npm start` in `dir`, in a process group of its own (npm runs the build and the server as its children). */
function npmStart(dir: string, port: number): { child: ChildProcess; output: () => string } {
  const child = spawn('npm', ['start'], {
    cwd: dir,
    detached: true,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(port), METRICS_PORT: '0', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += String(chunk)));
  child.stderr.on('data', (chunk) => (output += String(chunk)));
  return { child, output: () => output };
}

/** Seconds from now until discovery answers 200 on the port, or a failure when the process exits or time runs out. */
async function untilReady(child: ChildProcess, port: number, output: () => string, limitSeconds = 600): Promise<number> {
  const began = performance.now();
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`npm start exited (${child.exitCode}): ${output().trim().split('\n').slice(-3).join(' / ')}`);
    if (performance.now() - began > limitSeconds * 1000) throw new Error(`not ready after ${limitSeconds} s`);
    const ok = await fetch(`http://127.0.0.1:${port}/.well-known/openid-configuration`).then(
      (res) => res.status === 200,
      () => false,
    );
    if (ok) return (performance.now() - began) / 1000;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Stops the whole group and waits for it. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    process.kill(-child.pid!, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }, 20_000);
  await gone;
  clearTimeout(timer);
}

const buildSecondsIn = (output: string) => Number(/oauth3: built in (\d+(?:\.\d+)?) s/.exec(output)?.[1] ?? 0);

async function measure(dir: string, label: string, targetSeconds: number): Promise<StartupRow> {
  const loadBefore = os.loadavg()[0]!;
  process.stderr.write(`measuring start-up: ${label} (load average ${loadBefore.toFixed(2)})...\n`);
  const port = await freePort();
  const { child, output } = npmStart(dir, port);
  try {
    const seconds = await untilReady(child, port, output);
    return { label, targetSeconds, seconds, buildSeconds: buildSecondsIn(output()), loadBefore };
  } catch (error) {
    return { label, targetSeconds, loadBefore, failure: (error as Error).message };
  } finally {
    await stop(child);
  }
}

/** The committed tree in a new folder, with this checkout's installed dependencies: a clone right after `npm ci`. */
function freshClone(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-bench-clone-'));
  const archive = spawnSync('sh', ['-c', `git -C "${root}" archive HEAD | tar -x -C "${dir}"`], { encoding: 'utf8' });
  if (archive.status !== 0) throw new Error(`git archive failed: ${archive.stderr}`);
  symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

export async function measureStartup(): Promise<StartupRow[]> {
  const dir = freshClone();
  try {
    const fresh = await measure(dir, 'Fresh clone (after npm ci) to ready', STARTUP_TARGETS.fresh);
    const restart = await measure(dir, 'Restart, nothing changed, to ready', STARTUP_TARGETS.restart);
    return [fresh, restart];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const startupMet = (row: StartupRow) => row.seconds !== undefined && row.seconds <= row.targetSeconds;

/** The start-up table, with a verdict per row. */
export function startupTable(rows: StartupRow[]): string {
  const lines = [
    '| Start-up | Target | Seconds | Of which TypeScript build | Verdict | Load before |',
    '| --- | --- | ---: | ---: | --- | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.label} | ≤ ${r.targetSeconds} s | ${r.seconds?.toFixed(1) ?? '—'} | ${r.buildSeconds?.toFixed(1) ?? '—'} | ` +
        `${r.failure ? `failed: ${r.failure.replace(/\|/g, '\\|')}` : startupMet(r) ? 'met' : 'missed'} | ${r.loadBefore.toFixed(2)} |`,
    ),
  ];
  return lines.join('\n') + '\n';
}
