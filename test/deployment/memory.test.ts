import { afterAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../../src/paths.js';
import { freePort } from '../helpers/server.js';
import { startNodeFlags } from '../../bench/node-flags.js';

/**
 * The embedded default's memory (bench/README.md, "Memory of the embedded default"), measured without timing: a
 * server on a new DATA_DIR, as its own process (src/main.ts through tsx, which adds about 45 MB to what `npm start`
 * holds, with the Node flags of npm start), after its first start and after a restart (about 200–220 MiB here). The bounds leave room for the JavaScript heap's ups and downs and
 * still fail on what brought the memory down coming undone: PGlite's 128 MB of shared buffers (about 110 MB more at
 * rest), V8 optimizing PGlite's WebAssembly (a 600 MB peak seconds after a start) or the cluster being created in the
 * server's own process (a 600 MB peak on the first start, about 60 MB more at rest).
 */
const RESIDENT_MIB = 300;
const PEAK_MIB = 360;
/** Long enough for V8 to have optimized PGlite's hot functions, had it been allowed to. */
const SETTLE_MS = 8_000;

const linux = existsSync('/proc/self/status');

function memoryOf(pid: number): { residentMiB: number; peakMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)![1]);
  return { residentMiB: kib('VmRSS') / 1024, peakMiB: kib('VmHWM') / 1024 };
}

async function startServer(dataDir: string, port: number): Promise<ChildProcess> {
  const output: string[] = [];
  const child = spawn(process.execPath, [...startNodeFlags(), '--import', 'tsx', 'src/main.ts'], {
    cwd: projectRoot,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      DATA_DIR: dataDir,
      PORT: String(port),
      HOST: '127.0.0.1',
      METRICS_PORT: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (chunk) => output.push(String(chunk)));
  child.stderr.on('data', (chunk) => output.push(String(chunk)));
  const deadline = Date.now() + 150_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}:\n${output.join('')}`);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return child;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  child.kill('SIGKILL');
  throw new Error(`server did not become ready:\n${output.join('')}`);
}

async function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  return exited;
}

(linux ? describe : describe.skip)('memory of the embedded default', () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-memory-'));
  const running: ChildProcess[] = [];
  afterAll(async () => {
    for (const child of running) await stop(child);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('stays under its bounds after the first start and after a restart, peaks included', async () => {
    const port = await freePort();
    const measured: { residentMiB: number; peakMiB: number }[] = [];
    for (const start of ['first', 'restart']) {
      const child = await startServer(dataDir, port);
      running.push(child);
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      const memory = memoryOf(child.pid!);
      measured.push(memory);
      expect(await stop(child)).toBe(0);
      if (start === 'first') {
        // The cluster was made aside and renamed into place: nothing of the build is left beside it.
        expect(readdirSync(dataDir).filter((name) => name.startsWith('pgdata.'))).toEqual([]);
      }
    }
    for (const memory of measured) {
      expect(memory.residentMiB).toBeLessThan(RESIDENT_MIB);
      expect(memory.peakMiB).toBeLessThan(PEAK_MIB);
    }
  }, 360_000);
});
