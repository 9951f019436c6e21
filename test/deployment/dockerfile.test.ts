import { describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { z } from 'zod';
import { settings } from '../../src/config.js';
import { projectRoot } from '../../src/paths.js';
import { startNodeFlags } from '../../bench/node-flags.js';

/*
 * The container image (Dockerfile), checked statically: docker is not always there to build it. The checks read the
 * instructions the way docker does (line continuations, comments, stages, build arguments), so a change that makes
 * the image run as root, ship dev dependencies or the TypeScript sources, or lose its health check fails here.
 */

interface Instruction {
  op: string;
  args: string;
}

interface Stage {
  base: string;
  name?: string;
  steps: Instruction[];
}

/** Instructions of a Dockerfile, continuation lines joined, comments and parser directives dropped. */
export function instructions(text: string): Instruction[] {
  const joined = text.replace(/\\\r?\n(?:\s*#[^\n]*\n)*/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [op, ...rest] = l.split(/\s+/);
      return { op: op!.toUpperCase(), args: rest.join(' ') };
    });
}

/** Stages with their base image resolved from ARG defaults given before the first FROM. */
export function stages(text: string): Stage[] {
  const args = new Map<string, string>();
  const out: Stage[] = [];
  for (const step of instructions(text)) {
    if (step.op === 'ARG' && !out.length) {
      const [name, value] = step.args.split('=');
      if (name && value !== undefined) args.set(name, value.replace(/^"|"$/g, ''));
    } else if (step.op === 'FROM') {
      const [image, as, name] = step.args.replace(/--platform=\S+\s+/, '').split(/\s+/);
      const base = image!.replace(/\$\{?(\w+)\}?/g, (_, a: string) => args.get(a) ?? '');
      out.push({ base, name: as?.toUpperCase() === 'AS' ? name : undefined, steps: [] });
    } else {
      out.at(-1)?.steps.push(step);
    }
  }
  return out;
}

const execForm = (args: string) => {
  const json = args.replace(/^--\S+\s+/g, '');
  try {
    return z.array(z.string()).parse(JSON.parse(json));
  } catch {
    return undefined;
  }
};

/** Every way a Dockerfile falls short of the image the README promises; empty when it has them all. */
export function imageProblems(text: string, dockerignore: string): string[] {
  const problems: string[] = [];
  const all = stages(text);
  if (all.length < 2) problems.push('not multi-stage: build in one stage, run from another');
  for (const s of all)
    if (!/^node:24(\.\d+)*-(bookworm-)?slim@sha256:[0-9a-f]{64}$/.test(s.base))
      problems.push(`stage ${s.name ?? '?'}: base ${s.base} is not node:24 slim pinned by digest`);
  const final = all.at(-1);
  if (!final) return ['no FROM'];
  const steps = (op: string, stage: Stage = final) => stage.steps.filter((s) => s.op === op);
  const env = new Map(
    steps('ENV').flatMap((s) => [...s.args.matchAll(/(\w+)=("[^"]*"|\S+)/g)].map((m) => [m[1]!, m[2]!.replace(/"/g, '')] as const)),
  );

  // Runs as a non-root user, named by number so Kubernetes can check runAsNonRoot.
  const user = steps('USER').at(-1)?.args;
  if (!user) problems.push('no USER: the image would run as root');
  else if (/^(root|0)(:|$)/.test(user)) problems.push(`USER ${user} is root`);
  else if (!/^\d+(:\d+)?$/.test(user)) problems.push(`USER ${user} is not numeric (runAsNonRoot cannot verify a name)`);

  // The build stage compiles; the final image has production dependencies only and no TypeScript sources.
  const builds = all.some((s) => steps('RUN', s).some((r) => /npm run build\b/.test(r.args)));
  if (!builds) problems.push('no stage runs npm run build');
  // npm run build strips types without checking them; a released image is built from code whose types were checked.
  const typeChecks = all.some((s) => steps('RUN', s).some((r) => /\btsc\b[^&]*--noEmit/.test(r.args)));
  if (builds && !typeChecks) problems.push('no stage checks the types (tsc --noEmit) before npm run build');
  const copies = steps('COPY');
  const modulesFrom = copies.find((c) => /(^|\s)\S*node_modules\s+\S+$/.test(c.args));
  const modulesStage = /--from=(\S+)/.exec(modulesFrom?.args ?? '')?.[1];
  const provider = modulesStage ? all.find((s) => s.name === modulesStage) : final;
  const installs = provider
    ? steps('RUN', provider)
        .map((r) => r.args)
        .filter((a) => /npm (ci|install)\b/.test(a))
    : [];
  if (!installs.length || installs.some((a) => !/--omit=dev\b/.test(a)))
    problems.push('node_modules in the final image is not from npm ci --omit=dev');
  if (copies.some((c) => /(^|\s)(\.|src|tsconfig[\w.]*\.json)(\s|$)/.test(c.args) && !/--from=/.test(c.args))) {
    problems.push('the final image copies TypeScript sources or the whole context');
  }
  if (!copies.some((c) => /--from=\S+\s+\S*\/dist\s/.test(c.args))) problems.push('the final image does not copy the compiled dist/');
  for (const asset of ['migrations', 'src/web/public', 'package.json']) {
    if (!copies.some((c) => c.args.split(/\s+/).includes(asset)))
      problems.push(`the final image lacks ${asset}, which the server reads at run time`);
  }
  const cmd = execForm(steps('CMD').at(-1)?.args ?? '');
  const flags = startNodeFlags();
  if (!cmd || cmd.join(' ') !== ['node', ...flags, 'dist/src/main.js'].join(' '))
    problems.push(
      `CMD is not the exec form ${JSON.stringify(['node', ...flags, 'dist/src/main.js'])} (SIGTERM must reach node; the V8 heap ` +
        "settings are npm start's, which the bench measured)",
    );

  // Production defaults, DATA_DIR a volume, the ports the configuration listens on.
  if (env.get('NODE_ENV') !== 'production') problems.push('NODE_ENV is not production');
  const dataDir = env.get('DATA_DIR');
  const volumes = steps('VOLUME').flatMap((v) => execForm(v.args) ?? v.args.split(/\s+/));
  if (!dataDir || !volumes.includes(dataDir)) problems.push(`DATA_DIR (${dataDir ?? 'unset'}) is not a VOLUME`);
  if (dataDir && !steps('RUN').some((r) => r.args.includes(`chown 10001:10001 ${dataDir}`)))
    problems.push('DATA_DIR is not owned by the app user');
  const exposed = steps('EXPOSE').flatMap((e) => e.args.split(/\s+/));
  const port = env.get('PORT') ?? String(settings.PORT.schema.parse(undefined));
  if (!exposed.includes(port)) problems.push(`PORT ${port} is not exposed`);
  if ('METRICS_PORT' in settings) {
    const metrics = String((settings as Record<string, { schema: z.ZodType }>).METRICS_PORT!.schema.parse(undefined));
    if (!exposed.includes(metrics)) problems.push(`METRICS_PORT ${metrics} is not exposed`);
  }

  // A health check with what a slim image has: node's fetch, no curl or wget.
  const health = steps('HEALTHCHECK').at(-1)?.args ?? '';
  if (!health) problems.push('no HEALTHCHECK');
  else if (!/CMD\s+\[\s*"node"/.test(health) || !health.includes('/healthz') || /curl|wget/.test(health))
    problems.push('HEALTHCHECK does not fetch /healthz with node');

  // Every file the build copies from the context exists and is not ignored; local state never enters the context.
  const ignored = dockerignore
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  for (const must of ['node_modules', 'dist', 'data', '.git', '.env', 'test', 'coverage']) {
    if (!ignored.includes(must)) problems.push(`.dockerignore does not exclude ${must}`);
  }
  for (const c of all.flatMap((s) => steps('COPY', s)).filter((c) => !c.args.includes('--from='))) {
    const sources = c.args
      .replace(/--\S+\s+/g, '')
      .split(/\s+/)
      .slice(0, -1);
    for (const source of sources) {
      if (!existsSync(path.join(projectRoot, source))) problems.push(`COPY ${source}: not in the repository`);
      if (ignored.includes(source) || ignored.includes(source.split('/')[0]!)) problems.push(`COPY ${source}: excluded by .dockerignore`);
    }
  }
  return problems;
}

const dockerfile = readFileSync(path.join(projectRoot, 'Dockerfile'), 'utf8');
const dockerignore = readFileSync(path.join(projectRoot, '.dockerignore'), 'utf8');

describe('Dockerfile', () => {
  it('builds a multi-stage, non-root, production-only Node 24 slim image with a health check and DATA_DIR volume', () => {
    expect(imageProblems(dockerfile, dockerignore)).toEqual([]);
  });

  it('reads stages, build arguments and continuation lines as docker does', () => {
    const s = stages(dockerfile);
    expect(s.map((x) => x.name)).toEqual(['build', 'deps', 'runtime']);
    expect(new Set(s.map((x) => x.base.split('@')[0]))).toEqual(new Set(['node:24-bookworm-slim']));
    expect(s[2]!.steps.find((x) => x.op === 'HEALTHCHECK')?.args).toMatch(/--retries=3 CMD \["node", "-e"/);
  });

  it('runs the compiled entry point that tsconfig.build.json produces', () => {
    const build = JSON.parse(readFileSync(path.join(projectRoot, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
    const base = JSON.parse(readFileSync(path.join(projectRoot, 'tsconfig.json'), 'utf8')) as {
      compilerOptions: { outDir: string; rootDir: string };
    };
    expect(base.compilerOptions).toMatchObject({ outDir: 'dist', rootDir: '.' });
    expect(build.include).toEqual(expect.arrayContaining(['src', 'adapters', 'interactions', 'scopes']));
    expect(existsSync(path.join(projectRoot, 'src', 'main.ts'))).toBe(true);
    const pkg = JSON.parse(readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
      type: string;
    };
    expect(pkg.type).toBe('module');
    expect(pkg.scripts.build).toBe('node scripts/build.mjs');
  });

  it('every package the compiled code imports is a production dependency (the image has no devDependencies)', () => {
    const pkg = JSON.parse(readFileSync(path.join(projectRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const sourceFiles = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? sourceFiles(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
      );
    const missing = new Set<string>();
    let imports = 0;
    for (const file of ['src', 'adapters', 'interactions', 'scopes'].flatMap((d) => sourceFiles(path.join(projectRoot, d)))) {
      const text = readFileSync(file, 'utf8');
      // Runtime imports only: `import type` and `export type` vanish in the compiled JavaScript.
      for (const m of text.matchAll(/^\s*(?:import|export)\s+(?!type\s)[^'"]*?from\s+'([^'.][^']*)'|import\('([^'.][^']*)'\)/gm)) {
        const spec = (m[1] ?? m[2])!;
        if (spec.startsWith('node:') || builtinModules.includes(spec)) continue;
        imports += 1;
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
        if (!(name in pkg.dependencies)) missing.add(`${name} (${path.relative(projectRoot, file)})`);
      }
    }
    expect(imports).toBeGreaterThan(20);
    expect([...missing]).toEqual([]);
  });

  const mutate = (from: string | RegExp, to: string) => {
    const changed = dockerfile.replace(from, to);
    expect(changed).not.toBe(dockerfile);
    return imageProblems(changed, dockerignore).join('\n');
  };

  it.each([
    ['runs as root', /^USER .*$/m, 'USER root', 'is root'],
    ['has no USER', /^USER .*$/m, '', 'no USER'],
    ['names the user instead of its uid', /^USER .*$/m, 'USER oauth3', 'not numeric'],
    ['ships dev dependencies', 'npm ci --omit=dev', 'npm ci', '--omit=dev'],
    ['loses its health check', /^HEALTHCHECK[\s\S]*?\n(?=#)/m, '', 'no HEALTHCHECK'],
    ['checks health with curl', /CMD \["node", "-e", "fetch[^\n]*/, 'CMD curl -f http://127.0.0.1:3000/healthz', 'HEALTHCHECK'],
    ['is built on Node 20', 'node:24-bookworm-slim@', 'node:20-bookworm-slim@', 'not node:24 slim'],
    ['is built on a full image', 'node:24-bookworm-slim@', 'node:24-bookworm@', 'not node:24 slim'],
    ['is built on a floating tag', /^ARG NODE_IMAGE=.*$/m, 'ARG NODE_IMAGE=node:24-bookworm-slim', 'pinned by digest'],
    ['runs through a shell', /^CMD \["node", "--.*$/m, 'CMD node dist/src/main.js', 'exec form'],
    ['runs the TypeScript with tsx', /^CMD \["node", "--.*$/m, 'CMD ["npx", "tsx", "src/main.ts"]', 'exec form'],
    ['drops the heap settings', /^CMD \["node", "--.*$/m, 'CMD ["node", "dist/src/main.js"]', 'heap settings'],
    ['drops the DATA_DIR volume', /^VOLUME .*$/m, '', 'is not a VOLUME'],
    ['forgets the migrations', /^COPY migrations .*$/m, '', 'lacks migrations'],
    ['skips the type check', 'npx tsc -p tsconfig.build.json --noEmit && npm run build', 'npm run build', 'checks the types'],
    ['copies the whole context', /^COPY package\.json \.\/$/m, 'COPY . .', 'whole context'],
  ])('fails when the image %s', (_name, from, to, problem) => {
    expect(mutate(from, to)).toContain(problem);
  });

  it('fails when a single-stage build replaces the stages', () => {
    const single = 'FROM node:24-slim\nWORKDIR /app\nCOPY . .\nRUN npm ci && npm run build\nCMD ["node", "dist/src/main.js"]\n';
    expect(imageProblems(single, dockerignore)).toEqual(
      expect.arrayContaining([
        'not multi-stage: build in one stage, run from another',
        'no USER: the image would run as root',
        'no HEALTHCHECK',
      ]),
    );
  });

  it('fails when .dockerignore lets local state or secrets into the build context', () => {
    expect(imageProblems(dockerfile, dockerignore.replace(/^\.env$/m, '').replace(/^data$/m, '')).join('\n')).toMatch(
      /exclude \.env[\s\S]*exclude data|exclude data[\s\S]*exclude \.env/,
    );
  });
});
