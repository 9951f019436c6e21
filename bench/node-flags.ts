import { readFileSync } from 'node:fs';

/**
 * The Node flags `npm start` gives the server (package.json's start script: `node <flags> scripts/start.mjs`), read
 * from there so that the bench's embedded server and the memory test run the embedded default exactly as a person's
 * `npm start` does. Today that is `--max-semi-space-size=4`: V8's young generation capped at 4 MB per semi-space
 * instead of growing to 32 MB, which keeps about 40–60 MB less resident at rest and under load for a few more
 * minor collections (bench/README.md, "Memory of the embedded default").
 */
export function startNodeFlags(): string[] {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } };
  const match = /^node((?: --[\w-]+(?:=\S+)?)*) scripts\/start\.mjs$/.exec(pkg.scripts.start);
  if (!match) throw new Error(`package.json's start script is not "node [flags] scripts/start.mjs": ${pkg.scripts.start}`);
  return match[1]!.trim().split(' ').filter(Boolean);
}
