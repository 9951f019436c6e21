import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * `npm start`'s build step (scripts/build-if-changed.mjs) on a small project of the same shape: it builds on the first
 * start, skips the build when nothing changed, builds again after an edit or a changed lock file (a `git pull`), and a
 * syntax error stops it without recording a build. Types are not its business (npm run typecheck): a type error builds.
 */

const root = path.resolve(import.meta.dirname, '../..');
let project: string;

function build(...args: string[]) {
  const run = spawnSync(process.execPath, ['scripts/build-if-changed.mjs', ...args], { cwd: project, encoding: 'utf8' });
  return { code: run.status, out: run.stdout + run.stderr };
}
const write = (file: string, text: string) => {
  mkdirSync(path.dirname(path.join(project, file)), { recursive: true });
  writeFileSync(path.join(project, file), text);
};
const mainJs = () => readFileSync(path.join(project, 'dist/src/main.js'), 'utf8');

beforeAll(() => {
  project = mkdtempSync(path.join(os.tmpdir(), 'oauth3-build-'));
  mkdirSync(path.join(project, 'scripts'));
  for (const script of ['build-if-changed.mjs', 'build.mjs'])
    copyFileSync(path.join(root, 'scripts', script), path.join(project, 'scripts', script));
  for (const file of ['tsconfig.json', 'package.json']) copyFileSync(path.join(root, file), path.join(project, file));
  write('tsconfig.build.json', JSON.stringify({ extends: './tsconfig.json', compilerOptions: { sourceMap: false }, include: ['src'] }));
  write('package-lock.json', '{"lockfileVersion": 3}\n');
  write('src/main.ts', "export const greeting: string = 'hello';\n");
  write('src/web/public/style.css', 'body {}\n');
  symlinkSync(path.join(root, 'node_modules'), path.join(project, 'node_modules'));
});
afterAll(() => rmSync(project, { recursive: true, force: true }));

describe('npm start builds only when a source changed', () => {
  it('builds on the first start', () => {
    expect(build('--check').code).toBe(1);
    const first = build();
    expect(first).toMatchObject({ code: 0 });
    expect(first.out).toMatch(/building \(TypeScript → dist\/\) for the first start/);
    expect(mainJs()).toMatch(/["']hello["']/);
    expect(build('--check').code).toBe(0);
  }, 60_000);

  it('skips the build when nothing changed, even when files were touched', () => {
    const before = statSync(path.join(project, 'dist/src/main.js')).mtimeMs;
    // Same bytes, a new time (a checkout that changed nothing): still no build. A page asset is not compiled.
    write('src/main.ts', readFileSync(path.join(project, 'src/main.ts'), 'utf8'));
    write('src/web/public/style.css', 'body { color: red }\n');
    const again = build();
    expect(again).toMatchObject({ code: 0 });
    expect(again.out).toMatch(/up to date/);
    expect(statSync(path.join(project, 'dist/src/main.js')).mtimeMs).toBe(before);
  });

  it('builds again after an edit, a new file, or a changed lock file (a git pull)', () => {
    write('src/main.ts', "export const greeting: string = 'hello again';\n");
    expect(build()).toMatchObject({ code: 0, out: expect.stringMatching(/because sources changed/) });
    expect(mainJs()).toMatch(/["']hello again["']/);

    write('src/extra.ts', 'export const extra = 1;\n');
    expect(build().out).toMatch(/because sources changed/);
    expect(existsSync(path.join(project, 'dist/src/extra.js'))).toBe(true);

    write('package-lock.json', '{"lockfileVersion": 3, "packages": {}}\n');
    expect(build().out).toMatch(/because sources changed/);
    expect(build().out).toMatch(/up to date/);
  }, 120_000);

  it('stops on a syntax error and builds again on the next start', () => {
    write('src/main.ts', "export const greeting: string = 'unclosed;\n");
    const failed = build();
    expect(failed.code).not.toBe(0);
    expect(failed.out).toMatch(/ERROR\] Unterminated string literal[\s\S]*src\/main\.ts:1:\d+/);
    expect(failed.out).toMatch(/the build failed/);
    expect(build('--check').code).toBe(1);
    write('src/main.ts', "export const greeting: string = 'fixed';\n");
    expect(build().code).toBe(0);
    expect(mainJs()).toMatch(/["']fixed["']/);
  }, 120_000);

  it('builds code with a type error: the types are checked by npm run typecheck, not at every start', () => {
    write('src/wrong.ts', "export const wrong: number = 'still a string';\n");
    expect(build().code).toBe(0);
    expect(readFileSync(path.join(project, 'dist/src/wrong.js'), 'utf8')).toMatch(/["']still a string["']/);
  }, 120_000);
});
