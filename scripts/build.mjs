#!/usr/bin/env node
/**
 * The build: every TypeScript file of the folders tsconfig.build.json includes, transpiled one by one into dist/ with
 * the same layout (src/main.ts → dist/src/main.js), as ES modules for Node. esbuild strips the types in well under a
 * second where `tsc` took tens of seconds on a small machine, which is most of what a person waited for on a first
 * `npm start`. It does not check types: `npm run typecheck` (and `npm run lint`, and CI on every change) does, with
 * the same tsconfig.json. The code is written so that file-by-file transpiling means what tsc means
 * (`isolatedModules` and `verbatimModuleSyntax` in tsconfig.json make tsc refuse anything that would not); a syntax
 * error still stops the build.
 *
 *   node scripts/build.mjs       (npm run build)
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const root = path.resolve(import.meta.dirname, '..');

/** The folders the build compiles: tsconfig.build.json's `include`, the one place they are named. */
export function buildFolders() {
  const config = JSON.parse(readFileSync(path.join(root, 'tsconfig.build.json'), 'utf8'));
  return config.include;
}

function sourcesUnder(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourcesUnder(full);
    return entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [full] : [];
  });
}

/**
 * Transpiles the sources into dist/; rejects (esbuild having printed the errors with file and line) on a syntax error.
 * The bench builds its own copy with its folder added (`folders`, `outdir` inside dist/), so its servers run the same
 * JavaScript `npm start` runs.
 */
export async function build({ folders = buildFolders(), outdir = path.join(root, 'dist') } = {}) {
  // Loaded here, not above: `npm start` reads buildFolders() on every start and builds only when a source changed.
  const { build: esbuild } = await import('esbuild');
  await esbuild({
    absWorkingDir: root,
    entryPoints: folders.flatMap((folder) => sourcesUnder(path.join(root, folder))),
    outdir,
    outbase: root,
    tsconfig: path.join(root, 'tsconfig.build.json'),
    format: 'esm',
    platform: 'node',
    // The oldest Node package.json's engines admits; Node 24 is what the project is tested on.
    target: 'node20',
    sourcemap: false,
    logLevel: 'error',
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await build().catch(() => {
    process.stderr.write('oauth3: the build failed (above)\n');
    process.exit(1);
  });
}
