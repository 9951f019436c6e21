import { readFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../src/paths.js';

/**
 * The Node flags `npm start` gives the server (package.json's start script: `node <flags> scripts/start.mjs`), read
 * from there so that every bench server of ours, the memory test, the image's CMD and the chart's command (both checked
 * by their tests) run with exactly what a person's `npm start` does. Today they are two V8 heap settings (bench/README.md,
 * "Memory"):
 *   --max-semi-space-size=8     the young generation at 8 MB per semi-space instead of growing to 32-64 MB;
 *   --heap-growing-percent=50   the next full collection once the old generation grows by half its live size, where V8
 *                               otherwise let it reach about four times (54 MB live grew to 211 MB under the bench load).
 * Under the bench's load a server on Postgres + Redis peaked at 150-185 MiB with them, 300-400 MiB without.
 */
export function startNodeFlags(): string[] {
  const pkg = JSON.parse(readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { scripts: { start: string } };
  const match = /^node((?: --[\w-]+(?:=\S+)?)*) scripts\/start\.mjs$/.exec(pkg.scripts.start);
  if (!match) throw new Error(`package.json's start script is not "node [flags] scripts/start.mjs": ${pkg.scripts.start}`);
  return match[1]!.trim().split(' ').filter(Boolean);
}
