import { readFileSync } from 'node:fs';

/**
 * The Node flags `npm start` gives the server (package.json's start script: `node <flags> scripts/start.mjs`), read
 * from there so that the bench's embedded server and the memory test run the embedded default exactly as a person's
 * `npm start` does. Today they are two V8 heap settings (bench/README.md, "Memory of the embedded default"):
 *   --max-semi-space-size=4     the young generation at 4 MB per semi-space instead of growing to 32 MB;
 *   --heap-growing-percent=50   the next full collection once the old generation grows by half its live size, where V8
 *                               otherwise let it reach about four times (54 MB live grew to 211 MB under the bench load).
 * Under the resource API's bench load the embedded server's peak went from 392 to 252 MiB, at the same CPU per request.
 */
export function startNodeFlags(): string[] {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } };
  const match = /^node((?: --[\w-]+(?:=\S+)?)*) scripts\/start\.mjs$/.exec(pkg.scripts.start);
  if (!match) throw new Error(`package.json's start script is not "node [flags] scripts/start.mjs": ${pkg.scripts.start}`);
  return match[1]!.trim().split(' ').filter(Boolean);
}
