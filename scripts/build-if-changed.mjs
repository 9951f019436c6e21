#!/usr/bin/env node
/**
 * `npm start`'s build step: compiles TypeScript into dist/ only when its inputs changed since the last build, so a
 * restart with nothing edited starts at once. The inputs are the compiled folders, the tsconfig files and the lock file
 * (a `git pull`, an edit, a new dependency); their SHA-256, over names and contents, is kept in dist/.build-stamp once
 * a build succeeds. Contents, not times: a checkout that leaves the bytes as they were needs no build, and one that
 * changes them always gets one, whatever the clocks say. The build itself is scripts/build.mjs (esbuild: the types
 * stripped, not checked, in well under a second; `npm run typecheck` checks them); a syntax error stops the start.
 *
 * Plain Node and esbuild (a dev dependency): it runs right after `npm ci` on a fresh clone.
 *   node scripts/build-if-changed.mjs            build if needed
 *   node scripts/build-if-changed.mjs --check    exit 1 when a build is needed, 0 when dist/ is current (no build)
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { build, buildFolders } from './build.mjs';

const root = path.resolve(import.meta.dirname, '..');
const DIST = path.join(root, 'dist');
const STAMP = path.join(DIST, '.build-stamp');
/** Besides the folders tsconfig.build.json compiles: what changes the output (settings, dependencies). */
const FILES = ['tsconfig.json', 'tsconfig.build.json', 'package.json', 'package-lock.json'];
/** Files of the folders the build reads; the pages' static assets (css, browser js) are served as they are. */
const COMPILED = /\.(ts|mts|cts|json)$/;

function filesUnder(dir) {
  const found = [];
  if (!existsSync(dir)) return found;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...filesUnder(full));
    else if (entry.isFile() && COMPILED.test(entry.name)) found.push(full);
  }
  return found;
}

/** The digest of every input: relative names (a rename counts) and contents. */
export function inputsDigest() {
  const hash = createHash('sha256');
  const files = [
    ...buildFolders().flatMap((f) => filesUnder(path.join(root, f))),
    ...FILES.map((f) => path.join(root, f)).filter(existsSync),
  ];
  for (const file of files.map((f) => path.relative(root, f).split(path.sep).join('/')).sort()) {
    hash.update(`${file}\0`);
    hash.update(readFileSync(path.join(root, file)));
    hash.update('\0');
  }
  return hash.digest('hex');
}

const current = (digest) =>
  existsSync(path.join(DIST, 'src', 'main.js')) && existsSync(STAMP) && readFileSync(STAMP, 'utf8').trim() === digest;

const digest = inputsDigest();
if (process.argv.includes('--check')) process.exit(current(digest) ? 0 : 1);
if (current(digest)) {
  process.stderr.write('oauth3: the build in dist/ is up to date (no source changed since it was made)\n');
  process.exit(0);
}

const began = performance.now();
process.stderr.write(
  `oauth3: building (TypeScript → dist/) ${existsSync(STAMP) ? 'because sources changed since the last build' : 'for the first start'}…\n`,
);
try {
  await build();
} catch {
  process.stderr.write('oauth3: the build failed (above); fix it and run npm start again.\n');
  process.exit(1);
}
// The digest of what was compiled: a file edited during the build makes the next start build again.
writeFileSync(STAMP, `${digest}\n`);
process.stderr.write(`oauth3: built in ${((performance.now() - began) / 1000).toFixed(1)} s\n`);
