import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../../src/paths.js';
import { extraValues, productionValues } from './helm-values.js';
import { ChartError, coalesce, loadChart, type Manifest, type Rendered } from './helm-render.js';
import {
  checkedRenderer,
  compareRenders,
  helmBinary,
  helmFailMessage,
  helmLint,
  helmNotes,
  helmSchemaPaths,
  helmTemplate,
  RenderCheckFailed,
  shapeProblems,
} from './helm-real.js';

/*
 * helm/oauth3 under the real helm (HELM=<path>; CI installs the pinned release with .ci/install-helm): for each set
 * of values the chart tests use, `helm lint --strict` passes, `helm template` renders objects of the shape Kubernetes
 * expects of each kind, and those objects are the ones test/deployment/helm-render.ts renders, so what
 * helm-chart.test.ts checks on the local renderer holds for helm. Values the chart refuses come out of helm as the
 * chart's own plain messages, and NOTES.txt prints as the local renderer has it. Without HELM this file is skipped;
 * in CI it fails instead.
 */

const chartDir = path.join(projectRoot, 'helm', 'oauth3');
const helm = helmBinary();
const local = loadChart(chartDir);

const production = productionValues;
const withProduction = (patch: Record<string, unknown> = {}) => coalesce(production, patch) as Record<string, unknown>;

const extras = extraValues;

/** The value sets of the chart tests (helm.test.ts, helm-chart.test.ts), and the README's install. */
const valueSets: Array<[string, Record<string, unknown>]> = [
  ['production defaults', withProduction()],
  [
    "the README's install: existing Secret, Ingress",
    { config: { issuer: 'https://auth.example.com' }, secrets: { existingSecret: 'oauth3-keys' }, ingress: { enabled: true } },
  ],
  ['NetworkPolicy off', withProduction({ networkPolicy: { enabled: false } })],
  [
    'NetworkPolicy with its own peers, ports and CIDRs',
    withProduction({
      metrics: { enabled: false },
      networkPolicy: {
        ingressFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'traefik' } } }],
        egress: {
          postgres: { ports: [6432], to: [{ ipBlock: { cidr: '10.20.0.5/32' } }] },
          redis: { enabled: false },
          https: { cidrs: [{ cidr: '203.0.113.0/24' }] },
          extra: [{ ports: [{ port: 4317, protocol: 'TCP' }], to: [{ ipBlock: { cidr: '10.30.0.0/16' } }] }],
        },
      },
    }),
  ],
  ['NetworkPolicy without HTTPS egress', withProduction({ networkPolicy: { egress: { https: { cidrs: [] } } } })],
  [
    'ServiceMonitor, with the resource server',
    withProduction({
      resourceServer: { enabled: true },
      metrics: { port: 9100, serviceMonitor: { enabled: true, labels: { release: 'kube-prometheus-stack' }, interval: '15s' } },
    }),
  ],
  [
    'Ingress with TLS from cert-manager',
    withProduction({
      ingress: {
        enabled: true,
        className: 'nginx',
        annotations: { 'cert-manager.io/cluster-issuer': 'letsencrypt' },
        tls: { secretName: 'auth-tls', hosts: ['auth.example.com', 'login.example.com'] },
      },
    }),
  ],
  ['Ingress with the older tlsSecretName', withProduction({ ingress: { enabled: true, tlsSecretName: 'old-tls' } })],
  ['Ingress without TLS', withProduction({ ingress: { enabled: true, tls: { enabled: false } } })],
  [
    'Job resources',
    withProduction({ migrations: { resources: { limits: { memory: '1Gi' } } }, cleanup: { resources: { requests: { cpu: '10m' } } } }),
  ],
  [
    'topology spread from values',
    withProduction({
      topologySpreadConstraints: [
        { maxSkew: 2, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule' },
        {
          maxSkew: 1,
          topologyKey: 'topology.kubernetes.io/zone',
          whenUnsatisfiable: 'ScheduleAnyway',
          labelSelector: { matchLabels: { tier: 'auth' } },
        },
      ],
    }),
  ],
  [
    'OpenShift security contexts (no fixed uid, gid or fsGroup)',
    withProduction({
      resourceServer: { enabled: true },
      podSecurityContext: { runAsUser: null, runAsGroup: null, fsGroup: null },
      containerSecurityContext: { runAsUser: null, runAsGroup: null },
    }),
  ],
  ['another uid', withProduction({ podSecurityContext: { runAsUser: 1000650000, fsGroup: 1000650000 } })],
  ['extra env, envFrom, volumes, mounts and sidecars', withProduction({ ...extras, resourceServer: { enabled: true } })],
  [
    'every option on',
    withProduction({
      ...extras,
      config: {
        resourceUrl: 'https://api.example.com',
        telegramWebhookUrl: 'https://auth.example.com/telegram/webhook',
        trustProxy: 2,
        extraEnv: { ACCESS_TOKEN_TTL: '1800' },
      },
      secrets: {
        masterKeyPrevious: 'r3y8cWq0r0mXq9X2nq5Gx0m4Jw4tL5b3kqX7v3c8s2A',
        telegramBotToken: '123456:AAEexampleexampleexampleexampleexample',
        extraEnv: { X_API_KEY: 'k' },
      },
      imagePullSecrets: [{ name: 'registry' }],
      serviceAccount: { annotations: { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::1:role/oauth3' } },
      podAnnotations: { 'example.com/team': 'auth' },
      podLabels: { team: 'auth' },
      nodeSelector: { 'kubernetes.io/os': 'linux' },
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'auth', effect: 'NoSchedule' }],
      affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [] } },
      ingress: { enabled: true },
      autoscaling: { enabled: true },
      resourceServer: { enabled: true },
      metrics: { serviceMonitor: { enabled: true } },
      podDisruptionBudget: { minAvailable: '50%' },
    }),
  ],
  [
    'everything optional off',
    withProduction({
      serviceAccount: { create: false, name: 'shared' },
      metrics: { enabled: false },
      migrations: { enabled: false },
      cleanup: { enabled: false },
      podDisruptionBudget: { enabled: false },
      networkPolicy: { enabled: false },
      preStopSleepSeconds: 0,
    }),
  ],
  ['fullnameOverride', withProduction({ fullnameOverride: 'login' })],
  [
    'names YAML 1.1 reads as booleans',
    withProduction({
      secrets: { existingSecret: 'on' },
      serviceAccount: { name: 'yes' },
      ingress: { enabled: true, className: 'true', tls: { secretName: 'no' } },
    }),
  ],
  [
    // Helm reads numbers in values files as floats; printed as Go prints a float they would be 1e+06.
    'large numbers from a values file',
    withProduction({
      config: { extraEnv: { REFRESH_TOKEN_TTL: 2592000 } },
      secrets: { extraEnv: { X_LIMIT: 1234567 } },
      replicaCount: 1000000,
      terminationGracePeriodSeconds: 2000000,
      preStopSleepSeconds: 1000000,
      probes: { periodSeconds: 1000000 },
      migrations: { activeDeadlineSeconds: 1000000, backoffLimit: 1000000 },
      cleanup: { activeDeadlineSeconds: 1000000, successfulJobsHistoryLimit: 1000000 },
      podDisruptionBudget: { minAvailable: 1000000 },
      autoscaling: { enabled: true, minReplicas: 1000000, maxReplicas: 2000000 },
      resourceServer: { enabled: true, replicaCount: 1000000 },
    }),
  ],
];

const id = (m: Manifest) => `${m.source} ${m.kind}/${m.metadata.name}`;

if (!helm && process.env.CI) {
  describe('helm/oauth3 under the real helm', () => {
    it('has HELM set in CI', () => {
      throw new Error('HELM is not set: in CI the chart must be rendered by the real helm (HELM=$(.ci/install-helm))');
    });
  });
} else if (!helm) {
  describe('helm/oauth3 under the real helm', () => {
    it.skip('is skipped: HELM is not set (HELM=$(.ci/install-helm) npm test -- test/deployment/helm-real.test.ts)', () => {});
  });
  console.warn('test/deployment/helm-real.test.ts is skipped: HELM is not set. HELM=$(.ci/install-helm) runs it with the pinned helm.');
} else {
  describe('helm/oauth3 under the real helm', () => {
    it('runs a helm that renders charts of apiVersion v2 (helm 3 or 4)', () => {
      const r = spawnSync(helm, ['version', '--template', '{{.Version}}'], { encoding: 'utf8' });
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^v[34]\.\d+\.\d+/);
    });

    describe.each(valueSets)('with %s', (_name, values) => {
      const rendered = helmTemplate(helm, chartDir, values);
      const manifests = rendered.ok ? rendered.manifests : [];

      it('passes helm lint --strict', () => {
        const lint = helmLint(helm, chartDir, values);
        expect([lint.ok, lint.out.match(/^\[(WARNING|ERROR)\].*$/gm)]).toEqual([true, null]);
        expect(lint.out).toContain('1 chart(s) linted, 0 chart(s) failed');
      });

      it('renders with helm template, every object of a shape Kubernetes takes', () => {
        expect(rendered).toMatchObject({ ok: true });
        expect(manifests.length).toBeGreaterThan(3);
        expect(manifests.flatMap((m) => shapeProblems(m).map((p) => `${id(m)}: ${p}`))).toEqual([]);
        // One object of each kind and name: nothing overwrites another on install.
        expect(new Set(manifests.map((m) => `${m.kind}/${m.metadata.name}`)).size).toBe(manifests.length);
      });

      it('renders exactly what helm-render.ts renders', () => {
        expect(compareRenders(local(values).manifests, manifests)).toEqual([]);
      });
    });

    it('lints the chart with its defaults alone (as chart linters do), saying which values an install still needs', () => {
      const lint = helmLint(helm, chartDir, {});
      expect(lint.ok).toBe(true);
      expect(lint.out).toContain('config.issuer is required');
    });

    describe("refuses what the chart refuses, in the chart's own words", () => {
      const templates = readdirSync(path.join(chartDir, 'templates'))
        .filter((f) => /\.(yaml|tpl)$/.test(f))
        .map((f) => readFileSync(path.join(chartDir, 'templates', f), 'utf8'))
        .join('\n');
      /** The chart's `required` or `fail` message that starts so, read from its templates: the test holds helm to those words. */
      const chartMessage = (start: string) => new RegExp(`(?:required|fail) "(${start.replaceAll('.', '\\.')}[^"]*)"`).exec(templates)![1]!;

      it.each([
        ['no issuer', {}, chartMessage('config.issuer is required')],
        ['no database URL', { config: { issuer: 'https://auth.example.com' } }, chartMessage('secrets.databaseUrl is required')],
        ['no master key', withProduction({ secrets: { masterKey: null } }), chartMessage('secrets.masterKey is required')],
        ['no cookie keys', withProduction({ secrets: { cookieKeys: null } }), chartMessage('secrets.cookieKeys is required')],
        [
          'a shutdown timeout past the grace period',
          withProduction({ config: { shutdownTimeoutMs: 30000 } }),
          chartMessage('config.shutdownTimeoutMs must'),
        ],
        [
          'a ServiceMonitor without metrics',
          withProduction({ metrics: { enabled: false, serviceMonitor: { enabled: true } } }),
          chartMessage('metrics.serviceMonitor.enabled needs'),
        ],
      ])('%s', (_name, values, message) => {
        expect(message.length).toBeGreaterThan(20);
        const r = helmTemplate(helm, chartDir, values);
        expect(r.ok).toBe(false);
        const error = r.ok ? '' : r.error;
        // One line, the chart's message as written, and nothing of Go's internals.
        expect(helmFailMessage(error)).toBe(message);
        expect(error).toMatch(/^Error: execution error at \(oauth3\/templates\/[a-z-]+\.yaml:\d+:\d+\): /);
        expect(error).not.toMatch(/goroutine|panic|nil pointer|<no value>/);
        // helm-render.ts refuses with the same words.
        expect(() => local(values)).toThrow(message);
      });

      it.each([
        ['an http issuer', withProduction({ config: { issuer: 'http://auth.example.com' } }), '$.config.issuer'],
        ['root', withProduction({ podSecurityContext: { runAsUser: 0 } }), '$.podSecurityContext.runAsUser'],
        ['a misspelt key', withProduction({ replicas: 3 }), '$.replicas'],
      ])('refuses %s by the values schema', (_name, values, where) => {
        const r = helmTemplate(helm, chartDir, values);
        expect(r.ok).toBe(false);
        expect(helmSchemaPaths(r.ok ? '' : r.error)).toContain(where);
        expect(() => local(values)).toThrow(where);
      });
    });

    it.each([
      ['production defaults', withProduction()],
      ['NetworkPolicy off', withProduction({ networkPolicy: { enabled: false } })],
      ['ServiceMonitor', withProduction({ metrics: { serviceMonitor: { enabled: true } } })],
      ['Ingress and the resource server', withProduction({ ingress: { enabled: true }, resourceServer: { enabled: true } })],
      ['existing Secret', { config: { issuer: 'https://auth.example.com' }, secrets: { existingSecret: 'oauth3-keys' } }],
    ])('prints NOTES.txt as helm-render.ts has it, with %s', (_name, values) => {
      const notes = helmNotes(helm, chartDir, values);
      expect(notes).toContain('Issuer: https://auth.example.com');
      expect(notes.trim()).toBe(local(values).notes.trim());
    });

    describe('the cross-check the chart tests run through (checkedRenderer)', () => {
      const values = withProduction();
      const tampered = (change: (r: Rendered) => void) => (patch?: Record<string, unknown>) => {
        const r = local(patch);
        change(r);
        return r;
      };

      it('passes when both render the same', () => {
        expect(checkedRenderer(local, chartDir, { helm })(values).manifests.length).toBeGreaterThan(3);
      });

      it('fails on a field helm-render.ts renders differently, naming it', () => {
        const wrong = checkedRenderer(
          tampered((r) => {
            const d = r.manifests.find((m) => m.kind === 'Deployment')!;
            (d.spec as Record<string, unknown>).replicas = 3;
          }),
          chartDir,
          { helm },
        );
        expect(() => wrong(values)).toThrow(RenderCheckFailed);
        expect(() => wrong(values)).toThrow(/templates\/deployment\.yaml Deployment\/auth-oauth3 \.spec\.replicas: 3 ≠ 2/);
      });

      it('fails on an object one side lacks', () => {
        const wrong = checkedRenderer(
          tampered((r) =>
            r.manifests.splice(
              r.manifests.findIndex((m) => m.kind === 'CronJob'),
              1,
            ),
          ),
          chartDir,
          { helm },
        );
        expect(() => wrong(values)).toThrow(/CronJob\/auth-oauth3-cleanup: rendered by helm only/);
      });

      it('fails when one side refuses values the other renders, and passes both refusals with the same reason', () => {
        const refusesAll = checkedRenderer(
          () => {
            throw new ChartError('templates/x.yaml: no');
          },
          chartDir,
          { helm },
        );
        expect(() => refusesAll(values)).toThrow(RenderCheckFailed);
        const acceptsAll = checkedRenderer(() => local(values), chartDir, { helm });
        expect(() => acceptsAll({})).toThrow(/helm refuses the values \{\}, which helm-render\.ts renders/);
        expect(() => checkedRenderer(local, chartDir, { helm })({})).toThrow(ChartError);
      });
    });
  });
}
