import { describe, expect, it } from '@jest/globals';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getComposeHash } from '@phala/dstack-sdk/get-compose-hash';
import { parse as parseYaml } from 'yaml';
import { projectRoot } from '../../src/paths.js';
import { imageRefProblem, PLACEHOLDER, renderAppCompose, type AppCompose } from '../../deploy/dstack/render.mjs';

/*
 * What a TEE deployment's verifier relies on, checked without docker or a registry: the image builds from pinned
 * inputs only (every base image by digest, the lockfile, the commit time for every timestamp), the dstack compose
 * names the image by digest and nothing the operator can swap, deploy/dstack/render.mjs writes the app-compose whose
 * SHA-256 is what dstack reports as compose_hash, and the reproducibility check builds twice and compares (run here
 * against a fake docker that records what it is asked to do).
 */

const read = (file: string) => readFileSync(path.join(projectRoot, file), 'utf8');
const dockerfile = read('Dockerfile');
const composeTemplate = read('deploy/dstack/docker-compose.yaml');
const render = path.join(projectRoot, 'deploy', 'dstack', 'render.mjs');
const checkScript = path.join(projectRoot, 'deploy', 'check-reproducible.sh');
const buildScript = path.join(projectRoot, 'deploy', 'build-image.sh');
const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;
const IMAGE = `ghcr.io/example/oauth3@${DIGEST}`;

interface Stage {
  from: string;
  name?: string;
  lines: string[];
}

/** The Dockerfile's instructions (continuations joined, comments dropped), its global ARG defaults and its stages. */
export function parseDockerfile(text: string): { globals: Map<string, string>; stages: Stage[] } {
  const lines = text
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n')
    .replace(/\\\r?\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const globals = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of lines) {
    const [op, ...rest] = line.split(/\s+/);
    if (op!.toUpperCase() === 'FROM') {
      const [from, as, name] = rest.filter((w) => !w.startsWith('--'));
      stages.push({ from: from!, name: as?.toUpperCase() === 'AS' ? name : undefined, lines: [] });
    } else if (!stages.length && op!.toUpperCase() === 'ARG') {
      const [name, ...value] = rest.join(' ').split('=');
      if (value.length) globals.set(name!, value.join('=').replace(/^"|"$/g, ''));
    } else {
      stages.at(-1)?.lines.push(line);
    }
  }
  return { globals, stages };
}

const BY_DIGEST = /^[a-z0-9][a-z0-9._/:-]*@sha256:[0-9a-f]{64}$/;

/** Everything in a Dockerfile that would let two builds of one commit differ; empty when there is nothing. */
export function reproducibilityProblems(text: string): string[] {
  const problems: string[] = [];
  const { globals, stages } = parseDockerfile(text);
  if (!stages.length) return ['no FROM'];
  const names = new Set(stages.map((s) => s.name).filter(Boolean));
  for (const s of stages) {
    if (names.has(s.from)) continue;
    const unresolved = s.from.replace(/\$\{?(\w+)\}?/g, (_, a: string) => globals.get(a) ?? `<${a} has no default>`);
    if (!BY_DIGEST.test(unresolved)) problems.push(`stage ${s.name ?? '?'}: ${s.from} = ${unresolved} is not pinned by digest`);
  }

  const epoch = globals.get('SOURCE_DATE_EPOCH');
  if (epoch === undefined || !/^\d+$/.test(epoch)) problems.push('no global ARG SOURCE_DATE_EPOCH with a fixed numeric default');
  for (const s of stages) {
    if (!s.lines.some((l) => /^ARG\s+SOURCE_DATE_EPOCH\s*$/.test(l)))
      problems.push(`stage ${s.name ?? '?'} does not take ARG SOURCE_DATE_EPOCH`);
    const runsNpm = s.lines.some((l) => /^RUN\b.*\bnpm\b/.test(l));
    if (runsNpm && !s.lines.some((l) => /^ENV\s+SOURCE_DATE_EPOCH=\$\{?SOURCE_DATE_EPOCH\}?/.test(l)))
      problems.push(`stage ${s.name ?? '?'} runs npm without ENV SOURCE_DATE_EPOCH`);
  }

  const runs = stages.flatMap((s) => s.lines.filter((l) => /^RUN\b/.test(l)));
  const npmInstalls = runs.filter((l) => /\bnpm\s+(ci|install|i)\b/.test(l));
  if (!npmInstalls.length) problems.push('no npm ci');
  if (runs.some((l) => /\bnpm\s+(install|i)\b/.test(l))) problems.push('npm install resolves versions anew: use npm ci (the lockfile)');
  if (runs.some((l) => /\bnpm\s+cache\s+clean\b/.test(l))) problems.push('npm cache clean: keep the cache in a cache mount instead');
  if (runs.some((l) => /\b(apt-get|apk)\s+(update|upgrade|install)\b|\bcurl\b|\bwget\b/.test(l)))
    problems.push('a RUN fetches from the network what the lockfile and base digest do not pin');
  const prod = stages.find((s) => s.lines.some((l) => /npm ci\b.*--omit=dev/.test(l)));
  if (!prod?.lines.some((l) => /npm ci\b.*--ignore-scripts/.test(l)))
    problems.push('the production npm ci runs install scripts (their output is not pinned by the lockfile)');
  return problems;
}

describe('the image builds from pinned inputs only', () => {
  it('pins every base image by digest, stamps SOURCE_DATE_EPOCH and installs from the lockfile', () => {
    expect(reproducibilityProblems(dockerfile)).toEqual([]);
    const { globals, stages } = parseDockerfile(dockerfile);
    expect(globals.get('NODE_IMAGE')).toMatch(/^node:24-bookworm-slim@sha256:[0-9a-f]{64}$/);
    expect(stages.map((s) => s.name)).toEqual(['build', 'deps', 'runtime']);
  });

  const mutate = (from: string | RegExp, to: string) => {
    const changed = dockerfile.replace(from, to);
    expect(changed).not.toBe(dockerfile);
    return reproducibilityProblems(changed).join('\n');
  };

  it.each([
    ['the NODE_IMAGE default is a floating tag', /^ARG NODE_IMAGE=.*$/m, 'ARG NODE_IMAGE=node:24-bookworm-slim', 'not pinned by digest'],
    ['NODE_IMAGE has no default', /^ARG NODE_IMAGE=.*$/m, 'ARG NODE_IMAGE', 'has no default'],
    ['a stage names a tag directly', 'FROM ${NODE_IMAGE} AS deps', 'FROM node:24-slim AS deps', 'stage deps: node:24-slim'],
    ['a stage uses latest', 'FROM ${NODE_IMAGE} AS deps', 'FROM node:latest AS deps', 'not pinned by digest'],
    ['SOURCE_DATE_EPOCH has no default', /^ARG SOURCE_DATE_EPOCH=0$/m, 'ARG SOURCE_DATE_EPOCH', 'fixed numeric default'],
    ['a build stage does not export SOURCE_DATE_EPOCH', 'ENV SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH}\nWORKDIR', 'WORKDIR', 'without ENV'],
    ['the runtime stage does not take SOURCE_DATE_EPOCH', /(AS runtime\n(?:#.*\n)*)ARG SOURCE_DATE_EPOCH\n/, '$1', 'stage runtime'],
    ['dependencies are resolved with npm install', 'npm ci --no-audit', 'npm install --no-audit', 'use npm ci'],
    [
      'the npm cache is cleaned in a layer',
      '--no-audit --no-fund\nCOPY tsconfig',
      '--no-audit --no-fund && npm cache clean --force\nCOPY tsconfig',
      'cache clean',
    ],
    ['install scripts run in production dependencies', ' --ignore-scripts', '', 'install scripts'],
    ['a RUN fetches with apt', 'RUN groupadd', 'RUN apt-get update && groupadd', 'network'],
  ])('fails when %s', (_name, from, to, problem) => {
    expect(mutate(from, to)).toContain(problem);
  });

  it('has no production dependency with an install script (the production npm ci runs none)', () => {
    const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, { dev?: boolean; hasInstallScript?: boolean }> };
    const scripted = (packages: typeof lock.packages) =>
      Object.entries(packages)
        .filter(([name, p]) => name && !p.dev && p.hasInstallScript)
        .map(([name]) => name);
    expect(scripted(lock.packages)).toEqual([]);
    expect(scripted({ ...lock.packages, 'node_modules/native-thing': { hasInstallScript: true } })).toEqual(['node_modules/native-thing']);
    expect(Object.values(lock.packages).some((p) => p.dev && p.hasInstallScript)).toBe(true);
  });
});

/** Images named in a compose file, and whether each is by digest only. */
function composeImageProblems(text: string): string[] {
  const doc = parseYaml(text) as { services: Record<string, { image?: string }> };
  const problems: string[] = [];
  for (const [name, service] of Object.entries(doc.services)) {
    const image = service.image ?? '';
    if (image === PLACEHOLDER) continue;
    if (/\$/.test(image)) problems.push(`${name}: ${image} is interpolated from the environment`);
    else if (/:[^/@]*($|@)/.test(image.split('/').pop() ?? '')) problems.push(`${name}: ${image} carries a tag`);
    else if (!BY_DIGEST.test(image)) problems.push(`${name}: ${image} is not by digest`);
  }
  if (!text.includes(PLACEHOLDER)) problems.push(`no ${PLACEHOLDER} placeholder`);
  return problems;
}

describe('deploy/dstack/docker-compose.yaml', () => {
  it('names oauth3 by the digest placeholder only, and no image by tag', () => {
    const doc = parseYaml(composeTemplate) as { services: Record<string, { image: string }> };
    expect(doc.services.oauth3!.image).toBe(PLACEHOLDER);
    expect(composeImageProblems(composeTemplate)).toEqual([]);
    expect(composeTemplate).not.toMatch(/:latest\b/);
  });

  it.each([
    ['a tag', 'ghcr.io/example/oauth3:latest', 'carries a tag'],
    ['a version tag', 'ghcr.io/example/oauth3:1.2.3', 'carries a tag'],
    ['an environment variable', '${OAUTH3_IMAGE}', 'interpolated'],
  ])('fails when the image is %s', (_name, image, problem) => {
    expect(composeImageProblems(composeTemplate.replace(`"${PLACEHOLDER}"`, `"${image}"`)).join('\n')).toContain(problem);
  });

  it('runs read-only with the guest agent socket, the KMS master key and production settings', () => {
    const doc = parseYaml(composeTemplate) as {
      services: { oauth3: { read_only: boolean; tmpfs: string[]; volumes: string[]; environment: Record<string, string> } };
    };
    const svc = doc.services.oauth3;
    expect(svc.read_only).toBe(true);
    expect(svc.tmpfs).toContain('/tmp');
    expect(svc.volumes).toEqual(expect.arrayContaining(['/var/run/dstack.sock:/var/run/dstack.sock', 'oauth3-data:/data']));
    expect(svc.environment).toMatchObject({ MASTER_KEY_SOURCE: 'dstack', NODE_ENV: 'production', DATA_DIR: '/data' });
    expect(Object.keys(svc.environment)).not.toContain('MASTER_KEY');
    for (const secret of ['ISSUER', 'DATABASE_URL']) expect(svc.environment[secret]).toMatch(new RegExp(`^\\$\\{${secret}:\\?`));
    // Cookie keys are made and sealed inside the CVM: the operator has no variable to choose them with.
    expect(Object.keys(svc.environment)).not.toContain('COOKIE_KEYS');
  });
});

describe('deploy/dstack/render.mjs', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [render, ...args], { encoding: 'utf8' });

  it.each([
    ['a tag only', 'ghcr.io/example/oauth3:latest', 'names no digest'],
    ['a tag beside the digest', `ghcr.io/example/oauth3:1.0@${DIGEST}`, 'carries a tag'],
    ['a short digest', 'ghcr.io/example/oauth3@sha256:0123abcd', 'not sha256'],
    ['an upper-case digest', `ghcr.io/example/oauth3@${DIGEST.toUpperCase().replace('SHA256', 'sha256')}`, 'not sha256'],
    ['another algorithm', `ghcr.io/example/oauth3@sha512:${'ab'.repeat(64)}`, 'not sha256'],
    ['no registry', `oauth3@${DIGEST}`, 'not <registry>/<repository>'],
  ])('refuses %s, writing nothing', (_name, ref, message) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-render-'));
    try {
      const out = path.join(dir, 'app-compose.json');
      const result = run(ref, '--out', out);
      expect(result.status).toBe(1);
      expect(result.stderr).toContain(message);
      expect(result.stdout).toBe('');
      expect(() => accessSync(out)).toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes the app-compose whose SHA-256 is dstack’s compose hash, with that digest, the socket and the KMS key source', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-render-'));
    try {
      const out = path.join(dir, 'app-compose.json');
      const result = run(IMAGE, '--out', out);
      expect(result.stderr).toContain('wrote');
      expect(result.status).toBe(0);
      const bytes = readFileSync(out);
      const printed = result.stdout.trim();
      const appCompose = JSON.parse(bytes.toString('utf8')) as AppCompose;
      expect(printed).toMatch(/^[0-9a-f]{64}$/);
      expect(printed).toBe(getComposeHash(appCompose));
      expect(printed).toBe(createHash('sha256').update(bytes).digest('hex'));

      expect(appCompose).toMatchObject({
        manifest_version: 2,
        runner: 'docker-compose',
        kms_enabled: true,
        local_key_provider_enabled: false,
      });
      const compose = parseYaml(appCompose.docker_compose_file) as {
        services: { oauth3: { image: string; volumes: string[]; environment: Record<string, string> } };
      };
      expect(compose.services.oauth3.image).toBe(IMAGE);
      expect(appCompose.docker_compose_file.split(DIGEST.slice(7)).length).toBe(2);
      expect(compose.services.oauth3.volumes).toContain('/var/run/dstack.sock:/var/run/dstack.sock');
      expect(compose.services.oauth3.environment.MASTER_KEY_SOURCE).toBe('dstack');
      expect(appCompose.allowed_envs).toEqual(expect.arrayContaining(['ISSUER', 'DATABASE_URL']));
      expect(appCompose.allowed_envs).not.toContain('COOKIE_KEYS');
      expect(appCompose.allowed_envs.filter((e) => /^(MASTER_KEY|NODE_ENV|DATA_DIR)/.test(e))).toEqual([]);
      expect(appCompose.allowed_envs).toEqual([...appCompose.allowed_envs].sort());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives another compose hash for another image digest, the same for the same one', () => {
    const other = IMAGE.replace(/.$/, 'e');
    expect(renderAppCompose(IMAGE).hash).toBe(renderAppCompose(IMAGE).hash);
    expect(renderAppCompose(other).hash).not.toBe(renderAppCompose(IMAGE).hash);
    expect(imageRefProblem(IMAGE)).toBeUndefined();
    expect(imageRefProblem(`localhost:5000/oauth3@${DIGEST}`)).toBeUndefined();
  });

  it.each([
    [
      'lets the operator choose the image',
      `"${PLACEHOLDER}"`,
      `"${PLACEHOLDER}"\n  sidecar:\n    image: "\${SIDECAR}"`,
      'pinned by digest',
    ],
    ['runs a sidecar by tag', `"${PLACEHOLDER}"`, `"${PLACEHOLDER}"\n  sidecar:\n    image: "redis:7"`, 'names no digest'],
    [
      'leaves the master key to an env var',
      'MASTER_KEY_SOURCE: dstack',
      'MASTER_KEY_SOURCE: dstack\n      MASTER_KEY: ${MASTER_KEY}',
      'MASTER_KEY',
    ],
    ['takes NODE_ENV from the operator', 'NODE_ENV: production', 'NODE_ENV: ${NODE_ENV:-production}', 'NODE_ENV'],
    ['does not mount the guest agent', '- /var/run/dstack.sock:/var/run/dstack.sock', '- /tmp/x:/tmp/x', 'guest agent'],
    ['takes the master key from elsewhere', 'MASTER_KEY_SOURCE: dstack', 'MASTER_KEY_SOURCE: env', 'MASTER_KEY_SOURCE'],
    ['has no placeholder', `"${PLACEHOLDER}"`, '"ghcr.io/example/oauth3@sha256:' + 'a'.repeat(64) + '"', 'exactly once'],
  ])('refuses a template that %s', (_name, from, to, message) => {
    const template = composeTemplate.replace(from, to);
    expect(template).not.toBe(composeTemplate);
    expect(() => renderAppCompose(IMAGE, { template })).toThrow(message);
  });

  it('allows as encrypted env vars exactly the variables the compose reads', () => {
    const template = composeTemplate.replace('LOG_LEVEL: ${LOG_LEVEL:-info}', 'LOG_LEVEL: ${LOG_LEVEL:-info}\n      RP_NAME: $RP_NAME');
    expect(renderAppCompose(IMAGE, { template }).appCompose.allowed_envs).toContain('RP_NAME');
    expect(renderAppCompose(IMAGE).appCompose.allowed_envs).not.toContain('RP_NAME');
  });
});

describe('deploy/check-reproducible.sh', () => {
  it('exists, is executable and parses', () => {
    for (const script of [checkScript, buildScript]) {
      accessSync(script, constants.X_OK);
      expect(() => execFileSync('bash', ['-n', script])).not.toThrow();
    }
    const dir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-sh-'));
    try {
      const broken = path.join(dir, 'broken.sh');
      writeFileSync(broken, readFileSync(checkScript, 'utf8').replace(/\nfi\n/, '\n'));
      expect(() => execFileSync('bash', ['-n', broken], { stdio: 'pipe' })).toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  /**
   * A docker that records its arguments and "builds" an image whose digest hashes the build context and the
   * SOURCE_DATE_EPOCH it was given (or, with FAKE_DOCKER_RANDOM set, a digest that changes every time).
   */
  function fakeDocker(dir: string): { env: NodeJS.ProcessEnv; log: string } {
    const log = path.join(dir, 'docker.log');
    const docker = path.join(dir, 'docker');
    writeFileSync(
      docker,
      `#!/usr/bin/env bash
echo "$*" >> "${log}"
if [ "$1 $2" = "buildx inspect" ]; then echo "Name: oauth3-repro"; echo "BuildKit version: v0.0.0-fake"; exit 0; fi
if [ "$1 $2" = "buildx create" ] || [ "$1 $2" = "buildx prune" ]; then exit 0; fi
if [ "$1 $2" != "buildx build" ]; then exit 1; fi
context="\${@: -1}"; meta=""; epoch=""; output=""
while [ $# -gt 0 ]; do
  case "$1" in --metadata-file) meta=$2; shift ;; --build-arg) epoch=$2; shift ;; --output) output=$2; shift ;; esac
  shift
done
case "$output" in *dest=*) dest=\${output#*dest=}; : > "\${dest%%,*}" ;; esac
echo "context-package-json-mtime $(stat -c %Y "$context/package.json")" >> "${log}"
[ -e "$context/node_modules" ] && echo "context-has-node_modules" >> "${log}"
if [ -n "\${FAKE_DOCKER_RANDOM:-}" ]; then d=$(head -c 32 /dev/urandom | sha256sum | cut -d' ' -f1)
else d=$( (cd "$context" && find . -type f -print0 | sort -z | xargs -0 sha256sum; echo "$epoch") | sha256sum | cut -d' ' -f1); fi
printf '{"containerimage.digest":"sha256:%s"}' "$d" > "$meta"
`,
    );
    chmodSync(docker, 0o755);
    return { env: { ...process.env, PATH: `${dir}:${process.env.PATH ?? ''}`, OAUTH3_BUILDER: 'oauth3-test' }, log };
  }

  const check = (env: NodeJS.ProcessEnv, ...args: string[]) => spawnSync('bash', [checkScript, ...args], { encoding: 'utf8', env });

  it('builds HEAD twice from its git archive with the commit time, no cache and rewritten timestamps, and says reproducible', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-docker-'));
    try {
      const { env, log } = fakeDocker(dir);
      const result = check(env);
      expect(result.stdout).toMatch(/^REPRODUCIBLE: HEAD builds to sha256:[0-9a-f]{64}$/m);
      expect(result.status).toBe(0);
      const epoch = execFileSync('git', ['log', '-1', '--format=%ct', 'HEAD'], { cwd: projectRoot, encoding: 'utf8' }).trim();
      const calls = readFileSync(log, 'utf8');
      const builds = calls.split('\n').filter((l) => l.startsWith('buildx build'));
      expect(builds).toHaveLength(2);
      for (const b of builds) {
        expect(b).toContain(`--build-arg SOURCE_DATE_EPOCH=${epoch}`);
        expect(b).toMatch(/--no-cache/);
        expect(b).toMatch(/--provenance=false/);
        expect(b).toMatch(/rewrite-timestamp=true/);
        expect(b).toMatch(/--platform linux\/amd64/);
      }
      expect(calls).toMatch(/buildx prune --builder oauth3-test --all --force/);
      expect(calls).toContain(`context-package-json-mtime ${epoch}`);
      expect(calls).not.toContain('context-has-node_modules');

      const digest = /builds to (sha256:[0-9a-f]{64})/.exec(result.stdout)![1]!;
      expect(check(env, 'HEAD', digest).status).toBe(0);
      const other = check(env, 'HEAD', DIGEST);
      expect(other.stdout).toContain('REPRODUCIBLE, BUT DIFFERENT');
      expect(other.status).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says not reproducible when the two builds differ', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-docker-'));
    try {
      const { env } = fakeDocker(dir);
      const result = check({ ...env, FAKE_DOCKER_RANDOM: '1' });
      expect(result.stdout).toContain('NOT REPRODUCIBLE');
      expect(result.status).toBe(1);
      const kept = /diffoscope (\S+)\/first\.tar/.exec(result.stdout)?.[1];
      if (kept) rmSync(kept, { recursive: true, force: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a malformed expected digest', () => {
    const result = check(process.env, 'HEAD', 'sha256:abc');
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('usage');
  });
});
