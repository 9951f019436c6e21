import { describe, expect, it } from '@jest/globals';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../../src/paths.js';
import { ChartError, loadChart, podOf, selects, type Manifest, type NetworkPolicySpec, type PolicyRule } from './helm-render.js';
import { checkedRenderer, parseHelmOutput, shapeProblems } from './helm-real.js';
import { extraValues } from './helm-values.js';

/*
 * helm/oauth3 rendered as `helm template` would (test/deployment/helm-render.ts) and the manifests checked: network
 * policies, the ServiceMonitor, Job resources, topology spread, overridable security contexts, Ingress TLS and the
 * extra env/volumes/sidecars hooks. Each feature also has a case where the values are refused or the object is absent.
 * Every render goes through checkedRenderer (test/deployment/helm-real.ts): each object must have the shape Kubernetes
 * expects of its kind, and with HELM set (always in CI) the real helm must render the same objects, or refuse the same
 * values for the same reason, so every assertion here holds for helm's output too.
 */

const chartDir = path.join(projectRoot, 'helm', 'oauth3');
const render = checkedRenderer(loadChart(chartDir), chartDir);

const production = {
  config: { issuer: 'https://auth.example.com' },
  secrets: {
    databaseUrl: 'postgres://oauth3:pw@db:5432/oauth3',
    masterKey: 'q3y8cWq0r0mXq9X2nq5Gx0m4Jw4tL5b3kqX7v3c8s2A',
    cookieKeys: 'a-cookie-key-that-is-long-enough-0001',
  },
};
const withProduction = (patch: Record<string, unknown> = {}) => render({ ...production, ...patch });
const workloads = (r: ReturnType<typeof render>): Manifest[] =>
  r.manifests.filter((m) => ['Deployment', 'Job', 'CronJob', 'Pod'].includes(m.kind));
const policy = (m: Manifest) => m.spec as NetworkPolicySpec;
const ports = (rule: PolicyRule) => (rule.ports ?? []).map((p) => `${p.protocol ?? 'TCP'}/${p.port}`);

describe('the renderer', () => {
  it('renders every object of a production install, and refuses what Helm refuses', () => {
    const r = withProduction({ ingress: { enabled: true } });
    expect(r.manifests.map((m) => `${m.kind}/${m.metadata.name}`).sort()).toEqual([
      'ConfigMap/auth-oauth3',
      'CronJob/auth-oauth3-cleanup',
      'Deployment/auth-oauth3',
      'Ingress/auth-oauth3',
      'Job/auth-oauth3-migrate',
      'NetworkPolicy/auth-oauth3',
      'NetworkPolicy/auth-oauth3-jobs',
      'Pod/auth-oauth3-test-readyz',
      'PodDisruptionBudget/auth-oauth3',
      'Secret/auth-oauth3',
      'Secret/auth-oauth3-migrate',
      'Service/auth-oauth3',
      'ServiceAccount/auth-oauth3',
    ]);
    expect(r.notes).toContain('Issuer: https://auth.example.com');
    expect(() => render({})).toThrow(/config.issuer is required/);
    expect(() => withProduction({ config: { issuer: 'https://auth.example.com', logLevel: 'verbose' } })).toThrow(ChartError);
  });

  it('renders Go template whitespace, scoping and pipelines as Helm does, and fails on a function it does not implement', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-chart-'));
    try {
      mkdirSync(path.join(dir, 'templates'));
      writeFileSync(path.join(dir, 'Chart.yaml'), 'apiVersion: v2\nname: t\nversion: 0.0.1\nappVersion: "1"\n');
      // YAML 1.1, as Helm reads it: y is the boolean true, and the key n is the key "false".
      writeFileSync(path.join(dir, 'values.yaml'), 'a: {b: [x, y]}\nbig: 1000000\nfn: ""\nn: 1\n');
      writeFileSync(path.join(dir, 'values.schema.json'), '{}');
      const template = (text: string) => {
        writeFileSync(path.join(dir, 'templates', 't.yaml'), text);
        return checkedRenderer(loadChart(dir), dir, { shapes: false });
      };
      const doc = template(
        [
          '{{- define "t.l" -}}k: {{ . }}{{- end }}',
          'kind: T',
          'metadata:',
          '  name: {{ printf "%s-%d" "x" (add 1 2) }}',
          'list:',
          '  {{- range $i, $v := .Values.a.b }}',
          '  - {{ include "t.l" $v }}-{{ $i }}',
          '  {{- end }}',
          '{{- $s := "outer" }}{{ if true }}{{ $s = "inner" }}{{ end }}',
          'scope: {{ $s }}',
          'float: "{{ .Values.big }}"',
          'int: "{{ .Values.big | int }}"',
          'fromN: "{{ .Values.n }}"',
          'and: {{ and 1 "" 2 | quote }}',
          'or: {{ or 0 "" "z" }}',
          'host: {{ (urlParse "https://h.example.com/p").hostname }}',
          'dflt: {{ .Values.fn | default "d" }}',
        ].join('\n'),
      )();
      expect(doc.get('T', 'x-3')).toMatchObject({
        list: [{ k: 'x-0' }, { k: 'true-1' }],
        scope: 'inner',
        float: '1e+06',
        int: '1000000',
        fromN: '',
        and: '',
        or: 'z',
        host: 'h.example.com',
        dflt: 'd',
      });
      expect(() => template('kind: {{ .Values.a | toToml }}')()).toThrow(/function "toToml" not defined/);
      expect(() => template('kind: {{ .Values.missing.b }}')()).toThrow(/nil pointer evaluating/);
      expect(() => template('kind: {{ required "need it" .Values.fn }}')()).toThrow(ChartError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('every object', () => {
  it('carries the release labels and a valid name, with every option on', () => {
    const r = withProduction({
      ingress: { enabled: true },
      autoscaling: { enabled: true },
      resourceServer: { enabled: true },
      metrics: { serviceMonitor: { enabled: true } },
      sidecars: [{ name: 'proxy', image: 'proxy:1' }],
    });
    expect(r.manifests.length).toBeGreaterThan(15);
    for (const m of r.manifests) {
      const id = `${m.source} ${m.kind}/${m.metadata.name}`;
      expect([id, typeof m.apiVersion, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(m.metadata.name) && m.metadata.name.length <= 63]).toEqual([
        id,
        'string',
        true,
      ]);
      expect([id, m.metadata.labels]).toEqual([
        id,
        expect.objectContaining({ 'app.kubernetes.io/name': 'oauth3', 'app.kubernetes.io/instance': 'auth' }),
      ]);
    }
  });

  it('finds what Kubernetes would not take: names, YAML 1.1 booleans, floats where integers belong, dangling mounts', () => {
    const [configMap, deployment] = parseHelmOutput(
      [
        '---',
        '# Source: oauth3/templates/x.yaml',
        'apiVersion: v1',
        'kind: ConfigMap',
        'metadata: {name: Bad_Name, labels: {a: on}}',
        'data: {X: 1000000.5}',
        '---',
        '# Source: oauth3/templates/y.yaml',
        'apiVersion: apps/v1',
        'kind: Deployment',
        'metadata: {name: d}',
        'spec:',
        '  replicas: 1e+06',
        '  selector: {matchLabels: {app: d}}',
        '  template:',
        '    metadata: {labels: {app: e}}',
        '    spec:',
        '      serviceAccountName: yes',
        '      containers: [{name: c, image: i, imagePullPolice: Always, volumeMounts: [{name: v, mountPath: /v}]}]',
      ].join('\n'),
    );
    expect(configMap!.source).toBe('templates/x.yaml');
    expect(shapeProblems(configMap!)).toEqual([
      'metadata.name "Bad_Name" is not a DNS subdomain',
      'metadata.labels.a: true is not a string',
      'data.X: 1000000.5 is not a string',
    ]);
    expect(shapeProblems(deployment!)).toEqual([
      'spec.replicas: "1e+06" is not an integer',
      'spec.template.spec.serviceAccountName: true is not a string',
      'spec.selector does not select the pod template',
      'spec.template.spec.containers[0].imagePullPolice: unknown container field',
      'spec.template.spec: container c mounts "v", which is no volume of the pod',
    ]);
  });

  it('has each object checked on every render, with helm or without', () => {
    const wrong = checkedRenderer(
      (patch) => {
        const r = loadChart(chartDir)(patch);
        const d = r.manifests.find((m) => m.kind === 'Deployment')!;
        (d.metadata.labels as Record<string, unknown>).version = 2;
        return r;
      },
      chartDir,
      { helm: null },
    );
    expect(() => wrong(production)).toThrow(/Deployment\/auth-oauth3: metadata.labels.version: 2 is not a string/);
  });
});

describe('NetworkPolicy', () => {
  const r = withProduction({ resourceServer: { enabled: true } });
  const server = policy(r.get('NetworkPolicy', 'auth-oauth3'));
  const jobs = policy(r.get('NetworkPolicy', 'auth-oauth3-jobs'));

  it('is on by default and covers each pod the chart runs: the servers with one policy, the Jobs with another', () => {
    const labelsOf = (kind: string, name: string) => podOf(r.get(kind, name)).labels;
    for (const [kind, name] of [
      ['Deployment', 'auth-oauth3'],
      ['Deployment', 'auth-oauth3-resource'],
    ] as const) {
      expect([name, selects(server.podSelector, labelsOf(kind, name)), selects(jobs.podSelector, labelsOf(kind, name))]).toEqual([
        name,
        true,
        false,
      ]);
    }
    for (const [kind, name] of [
      ['Job', 'auth-oauth3-migrate'],
      ['CronJob', 'auth-oauth3-cleanup'],
    ] as const) {
      expect([name, selects(jobs.podSelector, labelsOf(kind, name)), selects(server.podSelector, labelsOf(kind, name))]).toEqual([
        name,
        true,
        false,
      ]);
    }
    expect(server.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(jobs.policyTypes).toEqual(['Ingress', 'Egress']);
  });

  it('lets the ingress controller reach the app port and the scraper the metrics port, nothing else', () => {
    expect(server.ingress?.map(ports)).toEqual([['TCP/3000'], ['TCP/9464']]);
    const [app, metrics] = server.ingress!;
    expect(app!.from).toEqual([
      {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } },
        podSelector: { matchLabels: { 'app.kubernetes.io/name': 'ingress-nginx' } },
      },
      { podSelector: { matchLabels: expect.objectContaining({ 'app.kubernetes.io/component': 'test' }) } },
    ]);
    // The `helm test` pod is one of the allowed peers; no other pod of the release is.
    const testPod = podOf(r.get('Pod', 'auth-oauth3-test-readyz')).labels;
    expect(selects(app!.from![1]!.podSelector!, testPod)).toBe(true);
    expect(selects(app!.from![1]!.podSelector!, podOf(r.get('Deployment', 'auth-oauth3')).labels)).toBe(false);
    expect(metrics!.from).toEqual([
      {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
        podSelector: { matchLabels: { 'app.kubernetes.io/name': 'prometheus' } },
      },
    ]);
    // The Jobs accept nothing.
    expect(jobs.ingress ?? []).toEqual([]);
  });

  it('lets the servers reach Postgres, Redis, the cluster DNS and public HTTPS only; the Jobs Postgres and DNS only', () => {
    expect(server.egress?.map(ports)).toEqual([['TCP/5432'], ['UDP/53', 'TCP/53'], ['TCP/6379'], ['TCP/443']]);
    const dns = server.egress![1]!;
    expect(dns.to).toEqual([
      {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
        podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
      },
    ]);
    const https = server.egress![3]!;
    expect(https.to).toEqual([
      {
        ipBlock: {
          cidr: '0.0.0.0/0',
          except: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '169.254.0.0/16'],
        },
      },
    ]);
    expect(jobs.egress?.map(ports)).toEqual([['TCP/5432'], ['UDP/53', 'TCP/53']]);
  });

  it('takes the peers, ports and CIDRs from values', () => {
    const traefik = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'traefik' } } };
    const db = { ipBlock: { cidr: '10.20.0.5/32' } };
    const custom = withProduction({
      metrics: { enabled: false },
      networkPolicy: {
        ingressFrom: [traefik],
        egress: {
          postgres: { ports: [6432], to: [db] },
          redis: { enabled: false },
          https: { cidrs: [{ cidr: '203.0.113.0/24' }] },
          extra: [{ ports: [{ port: 4317, protocol: 'TCP' }], to: [{ ipBlock: { cidr: '10.30.0.0/16' } }] }],
        },
      },
    });
    const np = policy(custom.get('NetworkPolicy', 'auth-oauth3'));
    expect(np.ingress?.map(ports)).toEqual([['TCP/3000']]);
    expect(np.ingress![0]!.from![0]).toEqual(traefik);
    expect(np.egress?.map(ports)).toEqual([['TCP/6432'], ['UDP/53', 'TCP/53'], ['TCP/443'], ['TCP/4317']]);
    expect(np.egress![0]!.to).toEqual([db]);
    expect(np.egress![2]!.to).toEqual([{ ipBlock: { cidr: '203.0.113.0/24' } }]);
    expect(policy(custom.get('NetworkPolicy', 'auth-oauth3-jobs')).egress![0]!.to).toEqual([db]);
    // No HTTPS CIDRs: no HTTPS egress at all.
    const closed = withProduction({ networkPolicy: { egress: { https: { cidrs: [] } } } });
    expect(policy(closed.get('NetworkPolicy', 'auth-oauth3')).egress?.map(ports)).toEqual([
      ['TCP/5432'],
      ['UDP/53', 'TCP/53'],
      ['TCP/6379'],
    ]);
  });

  it('can be turned off, and refuses a peer Kubernetes would not understand', () => {
    expect(withProduction({ networkPolicy: { enabled: false } }).ofKind('NetworkPolicy')).toEqual([]);
    expect(() => withProduction({ networkPolicy: { ingressFrom: [{ podSelecter: {} }] } })).toThrow(/ingressFrom\[0\]\.podSelecter/);
    expect(() => withProduction({ networkPolicy: { egress: { https: { cidrs: [{ except: ['10.0.0.0/8'] }] } } } })).toThrow(
      /cidrs\[0\]\.cidr: required/,
    );
    expect(() => withProduction({ networkPolicy: { egress: { postgres: { ports: [70000] } } } })).toThrow(/postgres\.ports\[0\]/);
  });
});

describe('ServiceMonitor', () => {
  it('is off by default, and the metrics port stays off every Service', () => {
    const r = withProduction();
    expect(r.ofKind('ServiceMonitor')).toEqual([]);
    for (const s of r.ofKind('Service')) expect(JSON.stringify(s.spec)).not.toContain('9464');
  });

  it('when on, scrapes /metrics on the metrics port of both server Deployments through headless metrics Services', () => {
    const r = withProduction({
      resourceServer: { enabled: true },
      metrics: { port: 9100, serviceMonitor: { enabled: true, labels: { release: 'kube-prometheus-stack' }, interval: '15s' } },
    });
    const monitor = r.get('ServiceMonitor', 'auth-oauth3');
    expect(monitor.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(monitor.metadata.labels).toMatchObject({ release: 'kube-prometheus-stack' });
    const spec = monitor.spec as {
      selector: { matchLabels: Record<string, string> };
      namespaceSelector: unknown;
      endpoints: Array<Record<string, unknown>>;
    };
    expect(spec.namespaceSelector).toEqual({ matchNames: ['oauth3'] });
    expect(spec.endpoints).toEqual([{ port: 'metrics', path: '/metrics', scheme: 'http', interval: '15s', scrapeTimeout: '10s' }]);
    const selected = r.ofKind('Service').filter((s) => selects(spec.selector, s.metadata.labels ?? {}));
    expect(selected.map((s) => s.metadata.name).sort()).toEqual(['auth-oauth3-metrics', 'auth-oauth3-resource-metrics']);
    for (const [service, deployment] of [
      ['auth-oauth3-metrics', 'auth-oauth3'],
      ['auth-oauth3-resource-metrics', 'auth-oauth3-resource'],
    ] as const) {
      const s = r.get('Service', service).spec as { clusterIP: string; ports: unknown[]; selector: Record<string, string> };
      expect(s.clusterIP).toBe('None');
      expect(s.ports).toEqual([{ name: 'metrics', port: 9100, targetPort: 'metrics', protocol: 'TCP' }]);
      const pod = podOf(r.get('Deployment', deployment));
      expect(selects({ matchLabels: s.selector }, pod.labels)).toBe(true);
      expect(pod.spec.containers[0]!.ports).toContainEqual({ name: 'metrics', containerPort: 9100, protocol: 'TCP' });
    }
    // The app Services still carry the app port only.
    expect((r.get('Service', 'auth-oauth3').spec as { ports: unknown[] }).ports).toHaveLength(1);
  });

  it('refuses to render without metrics to scrape', () => {
    expect(() => withProduction({ metrics: { enabled: false, serviceMonitor: { enabled: true } } })).toThrow(/needs metrics.enabled/);
    expect(() => withProduction({ metrics: { serviceMonitor: { enabled: true, interval: 'often' } } })).toThrow(/interval/);
  });
});

describe('Job resources', () => {
  it('gives the migration Job and the cleanup CronJob their own resources, with defaults', () => {
    const r = withProduction({ resources: { limits: { memory: '2Gi' } } });
    const defaults = { requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '256Mi' } };
    expect(podOf(r.get('Job', 'auth-oauth3-migrate')).spec.containers[0]!.resources).toEqual(defaults);
    expect(podOf(r.get('CronJob', 'auth-oauth3-cleanup')).spec.containers[0]!.resources).toEqual(defaults);
    const custom = withProduction({
      migrations: { resources: { limits: { memory: '1Gi' } } },
      cleanup: { resources: { requests: { cpu: '10m' } } },
    });
    expect(podOf(custom.get('Job', 'auth-oauth3-migrate')).spec.containers[0]!.resources).toEqual({
      ...defaults,
      limits: { memory: '1Gi' },
    });
    expect(podOf(custom.get('CronJob', 'auth-oauth3-cleanup')).spec.containers[0]!.resources).toEqual({
      ...defaults,
      requests: { cpu: '10m', memory: '128Mi' },
    });
    expect(() => withProduction({ migrations: { resources: { limits: { memory: 'lots' } } } })).toThrow(/migrations\.resources/);
  });
});

describe('topology spread', () => {
  it('spreads each server Deployment over zones and nodes by default, as a preference, matching its own pods', () => {
    const r = withProduction({ resourceServer: { enabled: true } });
    for (const name of ['auth-oauth3', 'auth-oauth3-resource']) {
      const pod = podOf(r.get('Deployment', name));
      const constraints = pod.spec.topologySpreadConstraints ?? [];
      expect(constraints.map((c) => [c.topologyKey, c.maxSkew, c.whenUnsatisfiable])).toEqual([
        ['topology.kubernetes.io/zone', 1, 'ScheduleAnyway'],
        ['kubernetes.io/hostname', 1, 'ScheduleAnyway'],
      ]);
      for (const c of constraints) expect(selects(c.labelSelector!, pod.labels)).toBe(true);
    }
    // Each Deployment counts its own pods only.
    const server = podOf(r.get('Deployment', 'auth-oauth3')).spec.topologySpreadConstraints![0]!;
    expect(selects(server.labelSelector!, podOf(r.get('Deployment', 'auth-oauth3-resource')).labels)).toBe(false);
  });

  it('takes constraints from values instead, adding the labelSelector where one is missing', () => {
    const own = { matchLabels: { tier: 'auth' } };
    const r = withProduction({
      topologySpreadConstraints: [
        { maxSkew: 2, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule' },
        { maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: own },
      ],
    });
    const pod = podOf(r.get('Deployment', 'auth-oauth3'));
    const [first, second] = pod.spec.topologySpreadConstraints!;
    expect(first).toMatchObject({ maxSkew: 2, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule' });
    expect(selects(first!.labelSelector!, pod.labels)).toBe(true);
    expect(second!.labelSelector).toEqual(own);
    expect(pod.spec.topologySpreadConstraints).toHaveLength(2);
    expect(() =>
      withProduction({ topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'Sometimes' }] }),
    ).toThrow(/whenUnsatisfiable/);
  });
});

describe('security contexts', () => {
  const openshift = {
    podSecurityContext: { runAsUser: null, runAsGroup: null, fsGroup: null },
    containerSecurityContext: { runAsUser: null, runAsGroup: null },
  };

  it('drops the fixed uid, gid and fsGroup everywhere with the documented OpenShift values, keeping the rest', () => {
    const r = withProduction({ ...openshift, resourceServer: { enabled: true } });
    const pods = workloads(r);
    expect(pods).toHaveLength(5);
    for (const m of pods) {
      const { spec } = podOf(m);
      expect([m.metadata.name, spec.securityContext]).toEqual([
        m.metadata.name,
        { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
      ]);
      for (const c of spec.containers) {
        expect([m.metadata.name, c.securityContext]).toEqual([
          m.metadata.name,
          {
            runAsNonRoot: true,
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            privileged: false,
            capabilities: { drop: ['ALL'] },
            seccompProfile: { type: 'RuntimeDefault' },
          },
        ]);
      }
    }
    // values.yaml documents exactly these values.
    expect(readFileSync(path.join(projectRoot, 'helm', 'oauth3', 'values.yaml'), 'utf8')).toContain(
      'podSecurityContext: {runAsUser: null, runAsGroup: null, fsGroup: null}',
    );
  });

  it('takes another uid from values', () => {
    const r = withProduction({ podSecurityContext: { runAsUser: 1000650000, fsGroup: 1000650000 } });
    expect(podOf(r.get('Deployment', 'auth-oauth3')).spec.securityContext).toMatchObject({ runAsUser: 1000650000, fsGroup: 1000650000 });
  });

  it.each([
    ['root', { podSecurityContext: { runAsUser: 0 } }, '$.podSecurityContext.runAsUser'],
    ['root in the container', { containerSecurityContext: { runAsUser: 0 } }, '$.containerSecurityContext.runAsUser'],
    ['runAsNonRoot off', { podSecurityContext: { runAsNonRoot: false } }, '$.podSecurityContext.runAsNonRoot'],
    ['a privileged container', { containerSecurityContext: { privileged: true } }, '$.containerSecurityContext.privileged'],
    [
      'privilege escalation',
      { containerSecurityContext: { allowPrivilegeEscalation: true } },
      '$.containerSecurityContext.allowPrivilegeEscalation',
    ],
    [
      'a writable root filesystem',
      { containerSecurityContext: { readOnlyRootFilesystem: false } },
      '$.containerSecurityContext.readOnlyRootFilesystem',
    ],
    [
      'an added capability',
      { containerSecurityContext: { capabilities: { add: ['NET_ADMIN'] } } },
      '$.containerSecurityContext.capabilities',
    ],
    ['no seccomp profile', { podSecurityContext: { seccompProfile: null } }, '$.podSecurityContext.seccompProfile'],
    [
      'an unconfined seccomp profile',
      { containerSecurityContext: { seccompProfile: { type: 'Unconfined' } } },
      '$.containerSecurityContext.seccompProfile.type',
    ],
    [
      'dropping fewer capabilities',
      { containerSecurityContext: { capabilities: { drop: ['NET_RAW'] } } },
      '$.containerSecurityContext.capabilities.drop',
    ],
    ['a misspelt key', { podSecurityContext: { runAsUsr: 1000 } }, '$.podSecurityContext.runAsUsr'],
  ])('refuses %s', (_name, patch, where) => {
    expect(() => withProduction(patch)).toThrow(where);
  });
});

describe('Ingress TLS', () => {
  type IngressSpec = { tls?: Array<{ hosts: string[]; secretName?: string }>; rules: Array<{ host: string }> };
  const ingress = (patch: Record<string, unknown>) =>
    withProduction({ ingress: { enabled: true, ...patch } }).get('Ingress', 'auth-oauth3') as Manifest & { spec: IngressSpec };

  it('covers the issuer host by default, with the controller default certificate', () => {
    expect(ingress({}).spec.tls).toEqual([{ hosts: ['auth.example.com'] }]);
  });

  it('names the certificate Secret and hosts from values, with a cert-manager annotation passed through', () => {
    const m = ingress({
      annotations: { 'cert-manager.io/cluster-issuer': 'letsencrypt' },
      tls: { secretName: 'auth-tls', hosts: ['auth.example.com', 'login.example.com'] },
    });
    expect(m.spec.tls).toEqual([{ hosts: ['auth.example.com', 'login.example.com'], secretName: 'auth-tls' }]);
    expect(m.metadata.annotations).toEqual({ 'cert-manager.io/cluster-issuer': 'letsencrypt' });
    expect(m.spec.rules.map((rule) => rule.host)).toEqual(['auth.example.com']);
    // The older tlsSecretName still works, and tls.secretName wins over it.
    expect(ingress({ tlsSecretName: 'old-tls' }).spec.tls).toEqual([{ hosts: ['auth.example.com'], secretName: 'old-tls' }]);
    expect(ingress({ tlsSecretName: 'old-tls', tls: { secretName: 'new-tls' } }).spec.tls![0]!.secretName).toBe('new-tls');
  });

  it('leaves the tls section out when TLS ends before the controller, and refuses a Secret name Kubernetes would not take', () => {
    expect(ingress({ tls: { enabled: false } }).spec.tls).toBeUndefined();
    expect(() => ingress({ tls: { secretName: 'Auth_TLS' } })).toThrow(/ingress\.tls\.secretName/);
  });
});

describe('extra env, envFrom, volumes, mounts and sidecars', () => {
  const extras = extraValues;
  const r = withProduction({ ...extras, resourceServer: { enabled: true } });

  it('adds them to both server Deployments, after what the chart sets', () => {
    for (const [name, role] of [
      ['auth-oauth3', 'all'],
      ['auth-oauth3-resource', 'resource'],
    ]) {
      const { spec } = podOf(r.get('Deployment', name!));
      const [app, sidecar, ...more] = spec.containers;
      expect(more).toEqual([]);
      expect(app!.name).toBe('oauth3');
      expect(app!.env).toEqual([{ name: 'ROLE', value: role }, ...extras.extraEnv]);
      expect(app!.envFrom).toEqual([
        { configMapRef: { name: 'auth-oauth3' } },
        { secretRef: { name: 'auth-oauth3' } },
        { secretRef: { name: 'provider-credentials' } },
      ]);
      expect(app!.volumeMounts?.map((v) => v.mountPath)).toEqual(['/tmp', '/data', '/certs']);
      expect(spec.volumes?.map((v) => v.name)).toEqual(['tmp', 'data', 'certs']);
      expect(sidecar).toEqual(extras.sidecars[0]);
    }
  });

  it('gives the Jobs the env, envFrom and volumes (they reach the same database) but no sidecar, which would keep them running', () => {
    for (const [kind, name] of [
      ['Job', 'auth-oauth3-migrate'],
      ['CronJob', 'auth-oauth3-cleanup'],
    ] as const) {
      const { spec } = podOf(r.get(kind, name));
      expect(spec.containers.map((c) => c.name)).toHaveLength(1);
      expect(spec.containers[0]!.env).toEqual(extras.extraEnv);
      expect(spec.containers[0]!.envFrom).toContainEqual({ secretRef: { name: 'provider-credentials' } });
      expect(spec.containers[0]!.volumeMounts?.map((v) => v.mountPath)).toEqual(['/tmp', '/data', '/certs']);
      expect(spec.volumes?.map((v) => v.name)).toEqual(['tmp', 'data', 'certs']);
    }
  });

  it('adds nothing by default', () => {
    const plain = withProduction();
    const app = podOf(plain.get('Deployment', 'auth-oauth3')).spec.containers;
    expect(app.map((c) => c.name)).toEqual(['oauth3']);
    expect(app[0]!.env).toEqual([{ name: 'ROLE', value: 'all' }]);
    expect(podOf(plain.get('Job', 'auth-oauth3-migrate')).spec.containers[0]!.env).toBeUndefined();
  });

  it.each([
    ['an extra ROLE, which would override the chart', { extraEnv: [{ name: 'ROLE', value: 'resource' }] }, '$.extraEnv[0].name'],
    ['an env entry without a name', { extraEnv: [{ value: 'x' }] }, '$.extraEnv[0].name: required'],
    ['a volume named like the chart own', { extraVolumes: [{ name: 'tmp', emptyDir: {} }] }, '$.extraVolumes[0].name'],
    ['a mount over /data', { extraVolumeMounts: [{ name: 'x', mountPath: '/data' }] }, '$.extraVolumeMounts[0].mountPath'],
    ['a sidecar named oauth3', { sidecars: [{ name: 'oauth3', image: 'x' }] }, '$.sidecars[0].name'],
    ['a sidecar without an image', { sidecars: [{ name: 'proxy' }] }, '$.sidecars[0].image: required'],
  ])('refuses %s', (_name, patch, where) => {
    expect(() => withProduction(patch)).toThrow(where);
  });
});

describe('numbers from a values file', () => {
  it('come out as integers, never as Go prints a float (1e+06), and environment values as written', () => {
    // Helm reads every number in a values file as a float.
    const r = withProduction({
      config: { ...production.config, extraEnv: { REFRESH_TOKEN_TTL: 2592000 } },
      secrets: { ...production.secrets, extraEnv: { X_LIMIT: 1234567 } },
      replicaCount: 1000000,
      terminationGracePeriodSeconds: 2000000,
      preStopSleepSeconds: 1000000,
      probes: { periodSeconds: 1000000 },
      migrations: { activeDeadlineSeconds: 1000000 },
      podDisruptionBudget: { minAvailable: 1000000 },
      autoscaling: { enabled: true, maxReplicas: 2000000 },
    });
    expect((r.get('ConfigMap', 'auth-oauth3').data as Record<string, string>).REFRESH_TOKEN_TTL).toBe('2592000');
    expect(Buffer.from((r.get('Secret', 'auth-oauth3').data as Record<string, string>).X_LIMIT!, 'base64').toString()).toBe('1234567');
    const pod = podOf(r.get('Deployment', 'auth-oauth3')).spec as unknown as {
      terminationGracePeriodSeconds: number;
      containers: Array<{ lifecycle: { preStop: { exec: { command: string[] } } }; livenessProbe: { periodSeconds: number } }>;
    };
    expect(pod.terminationGracePeriodSeconds).toBe(2000000);
    expect(pod.containers[0]!.lifecycle.preStop.exec.command).toEqual(['sleep', '1000000']);
    expect(pod.containers[0]!.livenessProbe.periodSeconds).toBe(1000000);
    expect((r.get('Job', 'auth-oauth3-migrate').spec as Record<string, number>).activeDeadlineSeconds).toBe(1000000);
    expect((r.get('PodDisruptionBudget', 'auth-oauth3').spec as Record<string, number>).minAvailable).toBe(1000000);
    expect((r.get('HorizontalPodAutoscaler', 'auth-oauth3').spec as Record<string, number>).maxReplicas).toBe(2000000);
    expect(JSON.stringify(r.manifests)).not.toMatch(/\de\+\d/);
    // A percentage stays a string.
    expect(
      (
        withProduction({ podDisruptionBudget: { minAvailable: '50%' } }).get('PodDisruptionBudget', 'auth-oauth3').spec as Record<
          string,
          unknown
        >
      ).minAvailable,
    ).toBe('50%');
  });
});

describe('names from values', () => {
  it('stay strings when YAML 1.1 would read them as booleans (a Secret named "on", a service account named "yes")', () => {
    const r = withProduction({
      secrets: { existingSecret: 'on' },
      serviceAccount: { create: true, name: 'yes', annotations: {} },
      ingress: { enabled: true, className: 'true', tls: { enabled: true, secretName: 'no', hosts: [] } },
    });
    expect(r.get('ServiceAccount', 'yes').metadata.name).toBe('yes');
    const pod = podOf(r.get('Deployment', 'auth-oauth3')).spec as unknown as { serviceAccountName: unknown };
    expect(pod.serviceAccountName).toBe('yes');
    expect(podOf(r.get('Deployment', 'auth-oauth3')).spec.containers[0]!.envFrom).toContainEqual({ secretRef: { name: 'on' } });
    expect(podOf(r.get('Job', 'auth-oauth3-migrate')).spec.containers[0]!.envFrom).toContainEqual({ secretRef: { name: 'on' } });
    expect(r.get('Ingress', 'auth-oauth3').spec).toMatchObject({ ingressClassName: 'true', tls: [{ secretName: 'no' }] });
  });
});

describe('NOTES', () => {
  it('says which network policies apply and where metrics are scraped', () => {
    expect(withProduction().notes).toMatch(/NetworkPolicy/);
    expect(withProduction({ networkPolicy: { enabled: false } }).notes).not.toMatch(/NetworkPolicy/);
    expect(withProduction({ metrics: { serviceMonitor: { enabled: true } } }).notes).toMatch(/ServiceMonitor "auth-oauth3"/);
  });
});
