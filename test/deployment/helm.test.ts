import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { parse as parseYaml } from 'yaml';
import { settings } from '../../src/config.js';
import { runCli } from '../../src/cli/oauth3.js';
import { projectRoot } from '../../src/paths.js';
import { validate, type Schema } from '../helpers/json-schema.js';
import { loadChart, podOf } from './helm-render.js';
import { checkedRenderer } from './helm-real.js';
import { createTestSchema, serviceUrl } from '../helpers/services.js';
import { runCommand, type CliRun } from '../helpers/cli.js';
import { productionValues } from './helm-values.js';
import { startNodeFlags } from '../../bench/node-flags.js';

/*
 * The Helm chart (helm/oauth3), checked from its sources: values against the schema, every `.Values` path a template
 * reads against values.yaml, a comment on every key, and every environment variable the chart sets against the
 * configuration schema (src/config.ts); the pods' hardening on the rendered chart (through checkedRenderer, so with
 * HELM set helm renders it too). Then the two commands the chart's Job and CronJob run, on a real database.
 */

const chart = path.join(projectRoot, 'helm', 'oauth3');
const read = (file: string) => readFileSync(path.join(chart, file), 'utf8');
const valuesText = read('values.yaml');
const values = parseYaml(valuesText) as Record<string, unknown>;
const schema = JSON.parse(read('values.schema.json')) as Schema;

function templateFiles(dir = path.join(chart, 'templates')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? templateFiles(path.join(dir, e.name)) : [path.join(dir, e.name)],
  );
}
const templates = Object.fromEntries(templateFiles().map((f) => [path.relative(chart, f), readFileSync(f, 'utf8')]));
const template = (name: string) => templates[`templates/${name}`] ?? '';

/** Deep copy of values.yaml with `patch` merged in (maps merge, everything else replaces), as `helm --set` would. */
function withValues(patch: Record<string, unknown>): Record<string, unknown> {
  const merge = (base: unknown, over: unknown): unknown => {
    if (over && typeof over === 'object' && !Array.isArray(over) && base && typeof base === 'object' && !Array.isArray(base)) {
      const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
      for (const [k, v] of Object.entries(over)) out[k] = merge(out[k], v);
      return out;
    }
    return over;
  };
  return merge(structuredClone(values), patch) as Record<string, unknown>;
}

/** Every `.Values.a.b` path in a template text (also `$.Values…` and `$root.Values…`). */
export function valuesPaths(text: string): string[] {
  return [...text.matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)].map((m) => m[1]!.slice(1));
}

function missingPaths(paths: string[], tree: unknown): string[] {
  return paths.filter((p) => {
    let node: unknown = tree;
    for (const part of p.split('.')) {
      if (!node || typeof node !== 'object' || !(part in node)) return true;
      node = (node as Record<string, unknown>)[part];
    }
    return false;
  });
}

/** Keys of a YAML text (line-based, for block style) with no comment line directly above at the same indentation. */
export function undocumentedKeys(text: string): { keys: number; undocumented: string[] } {
  const lines = text.split('\n');
  const undocumented: string[] = [];
  let keys = 0;
  lines.forEach((line, i) => {
    const m = /^(\s*)(?:- )?([A-Za-z0-9_./-]+):(?:\s|$)/.exec(line);
    if (!m) return;
    keys += 1;
    let j = i - 1;
    while (j >= 0 && lines[j]!.trim() === '') j -= 1;
    const above = j >= 0 ? lines[j]! : '';
    const commented = above.trim().startsWith('#') && above.indexOf('#') === m[1]!.length;
    if (!commented && !/\s#\s/.test(line)) undocumented.push(`${i + 1}: ${m[2]}`);
  });
  return { keys, undocumented };
}

/** How many keys a parsed YAML tree holds, maps in lists included. */
function countKeys(node: unknown): number {
  if (Array.isArray(node)) return node.reduce((n: number, item) => n + countKeys(item), 0);
  if (node && typeof node === 'object') return Object.values(node).reduce((n: number, v) => n + 1 + countKeys(v), 0);
  return 0;
}

/** Environment variable names the chart sets: keys of env maps (ConfigMap/Secret data) and `- name:` of env lists. */
export function envNames(text: string): string[] {
  const outsideActions = text.replace(/\{\{[\s\S]*?\}\}/g, '');
  const names = new Set<string>();
  for (const m of outsideActions.matchAll(/^\s*(?:- name:\s*)?([A-Z][A-Z0-9_]*)\s*:?\s*$|^\s*([A-Z][A-Z0-9_]*):\s/gm))
    names.add((m[1] ?? m[2])!);
  return [...names];
}

/** Go template blocks opened and closed in order: if/range/with/define/block each need one end. */
function unbalancedBlocks(text: string): string | undefined {
  let depth = 0;
  for (const m of text.matchAll(/\{\{-?\s*(if|range|with|define|block|end)\b/g)) {
    depth += m[1] === 'end' ? -1 : 1;
    if (depth < 0) return `an {{ end }} without a block at offset ${m.index}`;
  }
  return depth === 0 ? undefined : `${depth} block(s) never closed`;
}

const production = productionValues;

describe('helm/oauth3 values and schema', () => {
  it('values.yaml validates against values.schema.json', () => {
    expect(validate(schema, values)).toEqual([]);
  });

  it('accepts a production configuration with every optional part on', () => {
    const full = withValues({
      ...production,
      ingress: { enabled: true, className: 'nginx', tlsSecretName: 'auth-tls' },
      autoscaling: { enabled: true },
      resourceServer: { enabled: true },
      config: { ...production.config, extraEnv: { ACCESS_TOKEN_TTL: '1800' } },
    });
    expect(validate(schema, full)).toEqual([]);
  });

  it.each([
    ['an http issuer', { config: { issuer: 'http://auth.example.com' } }, '$.config.issuer'],
    ['an issuer with a path', { config: { issuer: 'https://example.com/auth' } }, '$.config.issuer'],
    ['a log level pino does not know', { config: { logLevel: 'verbose' } }, '$.config.logLevel'],
    ['a registration mode that does not exist', { config: { registration: 'anyone' } }, '$.config.registration'],
    ['a misspelt key', { config: { isuer: 'https://a.example.com' } }, '$.config.isuer'],
    ['an unknown top-level key', { replicas: 3 }, '$.replicas'],
    ['a master key of the wrong length', { secrets: { masterKey: 'c2hvcnQ' } }, '$.secrets.masterKey'],
    ['a short cookie key', { secrets: { cookieKeys: 'short' } }, '$.secrets.cookieKeys'],
    ['a MySQL database URL', { secrets: { databaseUrl: 'mysql://db/x' } }, '$.secrets.databaseUrl'],
    ['a replica count given as text', { replicaCount: '2' }, '$.replicaCount'],
    ['zero replicas', { replicaCount: 0 }, '$.replicaCount'],
    ['metrics on the app port', { metrics: { port: 3000 } }, '$.metrics.port'],
    ['an image pull policy Kubernetes does not know', { image: { pullPolicy: 'Sometimes' } }, '$.image.pullPolicy'],
    ['a lower-case extra environment name', { config: { extraEnv: { access_token_ttl: '1' } } }, '$.config.extraEnv.access_token_ttl'],
    ['a pool larger than the app allows', { config: { databasePoolSize: 500 } }, '$.config.databasePoolSize'],
  ])('rejects %s', (_name, patch, where) => {
    const problems = validate(schema, withValues(patch));
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.join('\n')).toContain(where);
  });

  it('the schema checker refuses keywords it does not implement rather than ignoring them', () => {
    expect(() => validate({ type: 'object', patternProperties: {} }, {})).toThrow(/patternProperties/);
  });

  it('every key in values.yaml has a comment', () => {
    const { keys, undocumented } = undocumentedKeys(valuesText);
    expect(undocumented).toEqual([]);
    // The line scan saw every key the YAML parser sees (no flow-style map hides an undocumented key).
    expect(keys).toBe(countKeys(values));
  });

  it('the comment check finds an undocumented key', () => {
    expect(undocumentedKeys('# documented\na: 1\nb:\n  # documented\n  c: 2\n  d: 3\n').undocumented).toEqual(['3: b', '6: d']);
  });
});

describe('helm/oauth3 templates', () => {
  it('has the workloads and objects the chart promises', () => {
    for (const name of [
      '_helpers.tpl',
      'configmap.yaml',
      'secret.yaml',
      'deployment.yaml',
      'service.yaml',
      'ingress.yaml',
      'hpa.yaml',
      'pdb.yaml',
      'migration-job.yaml',
      'cleanup-cronjob.yaml',
      'resource-deployment.yaml',
      'resource-service.yaml',
      'NOTES.txt',
      'tests/test-readyz.yaml',
      'serviceaccount.yaml',
      'networkpolicy.yaml',
      'servicemonitor.yaml',
    ]) {
      expect(template(name)).not.toBe('');
    }
    const chartYaml = parseYaml(read('Chart.yaml')) as Record<string, string>;
    expect(chartYaml).toMatchObject({ apiVersion: 'v2', name: 'oauth3', type: 'application' });
  });

  it('every .Values path a template reads exists in values.yaml', () => {
    const used = [...new Set(Object.values(templates).flatMap(valuesPaths))];
    expect(used.length).toBeGreaterThan(40);
    expect(missingPaths(used, values)).toEqual([]);
  });

  it('every value in values.yaml is read by a template (no documented value that does nothing)', () => {
    const used = new Set(Object.values(templates).flatMap(valuesPaths));
    const leaves = (node: Record<string, unknown>, at: string[] = []): string[] =>
      Object.entries(node).flatMap(([k, v]) =>
        v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length
          ? leaves(v as Record<string, unknown>, [...at, k])
          : [[...at, k].join('.')],
      );
    // A template reading a whole map (toYaml .Values.resources) reads every key under it.
    expect(leaves(values).filter((leaf) => ![...used].some((u) => leaf === u || leaf.startsWith(`${u}.`)))).toEqual([]);
  });

  it('the path check catches a misspelt value', () => {
    expect(missingPaths(valuesPaths('{{ .Values.config.isuer }} {{ $root.Values.image.tag }}'), values)).toEqual(['config.isuer']);
  });

  it('every template block is closed', () => {
    for (const [name, text] of Object.entries(templates)) expect([name, unbalancedBlocks(text)]).toEqual([name, undefined]);
    expect(unbalancedBlocks('{{- if .Values.a }}{{ range .Values.b }}{{ end }}')).toMatch(/never closed/);
  });

  it('every environment variable the chart sets is a setting of src/config.ts', () => {
    const known = new Set(Object.keys(settings));
    const set = new Set(Object.values(templates).flatMap(envNames));
    for (const map of [values.config, values.secrets] as Array<{ extraEnv: Record<string, unknown> }>) {
      Object.keys(map.extraEnv).forEach((k) => set.add(k));
    }
    expect([...set].filter((name) => !known.has(name))).toEqual([]);
    // What production requires, and what the chart promises to pass, is among them.
    for (const name of [
      'NODE_ENV',
      'ISSUER',
      'DATABASE_URL',
      'REDIS_URL',
      'MASTER_KEY',
      'MASTER_KEY_PREVIOUS',
      'COOKIE_KEYS',
      'TRUST_PROXY',
      'LOG_LEVEL',
      'ROLE',
      'PORT',
      'DATA_DIR',
    ]) {
      expect([name, set.has(name)]).toEqual([name, true]);
    }
    expect(
      envNames('data:\n  NODE_ENV: "production"\n  BOGUS_SETTING: {{ .Values.x | quote }}\nenv:\n  - name: ALSO_BOGUS\n').sort(),
    ).toEqual(['ALSO_BOGUS', 'BOGUS_SETTING', 'NODE_ENV']);
  });

  it('runs in production mode and refuses to render without an https issuer and the secrets', () => {
    const helpers = template('_helpers.tpl');
    expect(helpers).toMatch(/^NODE_ENV: "production"$/m);
    expect(helpers).toContain('required "config.issuer is required');
    expect(helpers).toMatch(/hasPrefix "https:\/\/" \$issuer[\s\S]*fail/);
    for (const value of ['databaseUrl', 'masterKey', 'cookieKeys']) expect(helpers).toContain(`required "secrets.${value} is required`);
    for (const name of ['configmap.yaml', 'deployment.yaml', 'resource-deployment.yaml', 'migration-job.yaml', 'ingress.yaml']) {
      expect([name, template(name).includes('include "oauth3.validate" .')]).toEqual([name, true]);
    }
  });

  it('runs one worker process per pod: Kubernetes scales pods, not WORKERS', () => {
    const rendered = loadChart(chart)(production);
    const configMap = rendered.manifests.find((m) => m.kind === 'ConfigMap') as unknown as { data: Record<string, string> };
    expect(configMap.data.WORKERS).toBe('1');
  });

  it('hardens every pod: non-root, read-only root filesystem, no capabilities, RuntimeDefault seccomp, writable /tmp and DATA_DIR', () => {
    const rendered = checkedRenderer(loadChart(chart), chart)({ ...production, resourceServer: { enabled: true } });
    const pods = rendered.manifests
      .filter((m) => ['Pod', 'Deployment', 'Job', 'CronJob'].includes(m.kind))
      .map((m) => [m.metadata.name, podOf(m).spec] as const);
    expect(pods.map(([name]) => name).sort()).toEqual([
      'auth-oauth3',
      'auth-oauth3-cleanup',
      'auth-oauth3-migrate',
      'auth-oauth3-resource',
      'auth-oauth3-test-readyz',
    ]);
    for (const [name, pod] of pods) {
      expect([name, pod.securityContext]).toEqual([
        name,
        { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } },
      ]);
      expect([name, pod.automountServiceAccountToken]).toEqual([name, false]);
      for (const c of pod.containers) {
        expect([name, c.securityContext]).toEqual([
          name,
          {
            runAsNonRoot: true,
            runAsUser: 10001,
            runAsGroup: 10001,
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            privileged: false,
            capabilities: { drop: ['ALL'] },
            seccompProfile: { type: 'RuntimeDefault' },
          },
        ]);
        if (c.name !== 'readyz') {
          expect([name, c.volumeMounts]).toEqual([
            name,
            [
              { name: 'tmp', mountPath: '/tmp' },
              { name: 'data', mountPath: '/data' },
            ],
          ]);
        }
      }
    }
    // The uid is the Dockerfile's, so runAsNonRoot holds for the image as built.
    expect(readFileSync(path.join(projectRoot, 'Dockerfile'), 'utf8')).toMatch(/^USER 10001:10001$/m);
  });

  it('probes /healthz for liveness and /readyz for readiness, and rolls pods when the config or secret changes', () => {
    const container = /define "oauth3.serverContainer"[\s\S]*?\n{{- end }}/.exec(template('_helpers.tpl'))?.[0] ?? '';
    expect(container).toMatch(/livenessProbe:\s+httpGet:\s+path: \/healthz/);
    expect(container).toMatch(/readinessProbe:\s+httpGet:\s+path: \/readyz/);
    // The image's command: node with npm start's V8 heap settings (the bench's memory target was measured with them).
    expect(container).toContain(`command: ${JSON.stringify(['node', ...startNodeFlags(), 'dist/src/main.js']).replaceAll(',', ', ')}`);
    expect(template('_helpers.tpl')).toMatch(
      /checksum\/config: {{ include \(print .Template.BasePath "\/configmap.yaml"\) . \| sha256sum }}/,
    );
    expect(template('_helpers.tpl')).toMatch(/checksum\/secret: {{ include \(print .Template.BasePath "\/secret.yaml"\) . \| sha256sum }}/);
    expect(template('deployment.yaml')).toContain('include "oauth3.podAnnotations"');
    expect(template('resource-deployment.yaml')).toMatch(/"role" "resource"/);
  });

  it('migrates in a pre-install/pre-upgrade hook and cleans up on a schedule, with the compiled CLI', () => {
    const job = template('migration-job.yaml');
    expect(job.match(/helm\.sh\/hook: pre-install,pre-upgrade/g)).toHaveLength(2);
    expect(job).toMatch(/helm\.sh\/hook-weight: "-10"[\s\S]*kind: Job[\s\S]*helm\.sh\/hook-weight: "0"/);
    expect(job).toContain('helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded');
    expect(job).toContain('command: ["node", "dist/src/cli/oauth3.js", "migrate"]');
    const cron = template('cleanup-cronjob.yaml');
    expect(cron).toMatch(/kind: CronJob[\s\S]*concurrencyPolicy: Forbid/);
    expect(cron).toContain('command: ["node", "dist/src/cli/oauth3.js", "cleanup"]');
    // The compiled path exists once built: dist/ mirrors the sources (tsconfig.build.json outDir).
    expect(readFileSync(path.join(projectRoot, 'src', 'cli', 'oauth3.ts'), 'utf8')).toMatch(/case 'migrate'[\s\S]*case 'cleanup'/);
    expect(template('tests/test-readyz.yaml')).toMatch(/helm\.sh\/hook: test[\s\S]*\/readyz/);
  });
});

describe('the commands the chart runs: migrate (hook Job) and cleanup (CronJob)', () => {
  const baseUrl = serviceUrl('TEST_DATABASE_URL');
  let dataDir: string;
  let env: Record<string, string>;
  let dropSchema: (() => Promise<void>) | undefined;
  let client: pg.Client | undefined;

  const cli = (...argv: string[]): Promise<CliRun> => runCommand(argv, env);

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-chart-'));
    if (!baseUrl) return;
    const schemaDb = await createTestSchema(baseUrl);
    dropSchema = schemaDb.drop;
    // The environment the chart gives its pods: the ConfigMap's settings and the Secret's.
    env = {
      NODE_ENV: 'production',
      PORT: '3000',
      DATA_DIR: dataDir,
      ISSUER: production.config.issuer,
      TRUST_PROXY: String(values.config && (values.config as Record<string, unknown>).trustProxy),
      LOG_LEVEL: 'silent',
      REGISTRATION: 'token',
      DATABASE_POOL_SIZE: '2',
      DATABASE_URL: schemaDb.url,
      MASTER_KEY: production.secrets.masterKey,
      COOKIE_KEYS: production.secrets.cookieKeys,
    };
    client = new pg.Client({ connectionString: schemaDb.url });
    await client.connect();
  });

  afterAll(async () => {
    await client?.end();
    await dropSchema?.();
    rmSync(dataDir, { recursive: true, force: true });
  });

  (baseUrl ? it : it.skip)('migrate applies every migration on an empty Postgres in production mode, then has nothing to do', async () => {
    const first = await cli('migrate');
    expect(first).toMatchObject({ code: 0, err: '' });
    expect(first.out).toMatch(/^Applied migrations: 1, 2/);
    const again = await cli('migrate');
    expect(again).toMatchObject({ code: 0, out: 'The database is up to date.' });
    // Production with Postgres writes nothing to DATA_DIR: the chart's emptyDir may stay empty.
    expect(readdirSync(dataDir)).toEqual([]);
  });

  (baseUrl ? it : it.skip)('cleanup deletes expired rows and keeps live ones', async () => {
    const db = client!;
    await db.query(`INSERT INTO oidc_models (model, id, payload, expires_at) VALUES
      ('AuthorizationCode', 'expired-code', '{}', now() - interval '1 minute'),
      ('AuthorizationCode', 'live-code', '{}', now() + interval '1 hour')`);
    await db.query(`INSERT INTO webauthn_challenges (id, challenge, purpose, binding, expires_at) VALUES
      ('old', 'c1', 'login', 'b', now() - interval '1 minute'), ('new', 'c2', 'login', 'b', now() + interval '5 minutes')`);
    await db.query(`INSERT INTO rate_limits (key, count, expires_at) VALUES
      ('ip:old', 3, now() - interval '1 second'), ('ip:new', 1, now() + interval '10 minutes')`);
    const run = await cli('cleanup');
    expect(run).toMatchObject({ code: 0, err: '' });
    expect(Number(/Deleted (\d+) expired rows/.exec(run.out)?.[1])).toBeGreaterThanOrEqual(3);
    expect((await db.query('SELECT id FROM oidc_models ORDER BY id')).rows).toEqual([{ id: 'live-code' }]);
    expect((await db.query('SELECT id FROM webauthn_challenges')).rows).toEqual([{ id: 'new' }]);
    expect((await db.query('SELECT key FROM rate_limits')).rows).toEqual([{ key: 'ip:new' }]);
  });

  (baseUrl ? it : it.skip)('refuses to run in production with an http issuer, as the chart refuses to render it', async () => {
    const err: string[] = [];
    expect(
      await runCli(
        ['migrate'],
        { ...env, ISSUER: 'http://auth.example.com' },
        () => {},
        (l) => err.push(l),
      ),
    ).toBe(78);
    expect(err.join('\n')).toMatch(/ISSUER: must be https in production/);
  });
});
