/**
 * The real helm binary, where HELM names one (.ci/install-helm fetches the pinned release and .ci/run exports HELM):
 * `helm template`, `helm lint` and a client-only `helm install --dry-run` over a chart, their output parsed into the
 * Manifest shape helm-render.ts returns, a check that each object has the shape Kubernetes expects of its kind, and
 * `checkedRenderer`, which applies that check to what helm-render.ts renders and, when helm is there, renders with
 * helm too and fails when the two disagree.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { ChartError, readManifests, type Manifest, type Rendered } from './helm-render.js';

/** The path of helm when HELM is set, else undefined (callers decide whether that is a skip or, in CI, a failure). */
export const helmBinary = (): string | undefined => process.env.HELM || undefined;

/** The Kubernetes version helm renders for, as helm-render.ts does (the chart needs 1.25 or later). */
const KUBE_VERSION = '1.30.0';

export interface Release {
  name: string;
  namespace: string;
}
const defaultRelease: Release = { name: 'auth', namespace: 'oauth3' };

/** Runs helm with the values written to a file (JSON is YAML; null removes a default, as in a -f file). */
function runHelm(helm: string, args: string[], values: Record<string, unknown>): { ok: boolean; out: string; err: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-helm-'));
  try {
    const file = path.join(dir, 'values.json');
    writeFileSync(file, JSON.stringify(values));
    const r = spawnSync(helm, [...args, '-f', file], { encoding: 'utf8', timeout: 30_000 });
    if (r.error) throw new Error(`could not run ${helm}: ${r.error.message}`);
    return { ok: r.status === 0, out: r.stdout, err: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Splits helm's YAML stream into objects (read as helm-render.ts reads its own), each with the template it came from. */
export function parseHelmOutput(text: string): Manifest[] {
  return text.split(/^---\s*$/m).flatMap((chunk) => {
    const objects = readManifests(chunk, "helm's output");
    // "# Source: oauth3/templates/x.yaml", the chart's directory dropped.
    const source = /^# Source: [^/\n]+\/(.+)$/m.exec(chunk)?.[1];
    if (objects.length && !source) throw new Error(`an object in helm's output has no "# Source:" line:\n${chunk}`);
    return objects.map((m) => ({ ...m, source: source! }));
  });
}

/** `helm template` of the chart with these values: its objects, or helm's error. */
export function helmTemplate(
  helm: string,
  chartDir: string,
  values: Record<string, unknown>,
  release: Release = defaultRelease,
): { ok: true; manifests: Manifest[] } | { ok: false; error: string } {
  const r = runHelm(helm, ['template', release.name, chartDir, '--namespace', release.namespace, '--kube-version', KUBE_VERSION], values);
  return r.ok ? { ok: true, manifests: parseHelmOutput(r.out) } : { ok: false, error: `${r.err}${r.out}`.trim() };
}

/** `helm lint --strict` (warnings fail too): whether it passed, and everything helm said. */
export function helmLint(helm: string, chartDir: string, values: Record<string, unknown>): { ok: boolean; out: string } {
  const r = runHelm(helm, ['lint', '--strict', chartDir, '--kube-version', KUBE_VERSION], values);
  return { ok: r.ok, out: `${r.err}${r.out}` };
}

/** NOTES.txt as `helm install` prints it, from a client-only dry run (no cluster is contacted). */
export function helmNotes(helm: string, chartDir: string, values: Record<string, unknown>, release: Release = defaultRelease): string {
  const r = runHelm(
    helm,
    ['install', release.name, chartDir, '--namespace', release.namespace, '--dry-run=client', '--output', 'json'],
    values,
  );
  if (!r.ok) throw new Error(`helm install --dry-run=client failed: ${r.err}`);
  return (JSON.parse(r.out) as { info: { notes?: string } }).info.notes ?? '';
}

/** The message of a `required` or `fail` in a template, from helm's "execution error at (file:line:col): message". */
export function helmFailMessage(error: string): string | undefined {
  return /execution error at \([^)]*\): (.*)$/m.exec(error)?.[1];
}

/**
 * The value paths helm's schema check names ("- at '/a/b/0': …"), written as helm-render.ts writes them ($.a.b[0]);
 * an unknown or missing property is named by its own path, as helm-render.ts names it.
 */
export function helmSchemaPaths(error: string): string[] {
  const toPath = (pointer: string) =>
    '$' +
    pointer
      .split('/')
      .filter(Boolean)
      .map((part) => (/^\d+$/.test(part) ? `[${part}]` : `.${part.replaceAll('~1', '/').replaceAll('~0', '~')}`))
      .join('');
  return [...error.matchAll(/^- at '([^']*)': (.*)$/gm)].flatMap((m) => {
    const at = toPath(m[1]!);
    const named = /^(?:additional properties|missing properties?) (.+?)(?: not allowed)?$/.exec(m[2]!);
    return named ? [...named[1]!.matchAll(/'([^']+)'/g)].map((p) => `${at}.${p[1]}`) : [at];
  });
}

/* ------------------------------------------------------------ object shapes ------------------------------------------------------------ */

const API_VERSIONS: Record<string, string> = {
  ConfigMap: 'v1',
  Secret: 'v1',
  Service: 'v1',
  ServiceAccount: 'v1',
  Pod: 'v1',
  Deployment: 'apps/v1',
  Job: 'batch/v1',
  CronJob: 'batch/v1',
  Ingress: 'networking.k8s.io/v1',
  NetworkPolicy: 'networking.k8s.io/v1',
  PodDisruptionBudget: 'policy/v1',
  HorizontalPodAutoscaler: 'autoscaling/v2',
  ServiceMonitor: 'monitoring.coreos.com/v1',
};

/** The top-level fields each kind has besides apiVersion, kind and metadata. */
const TOP_FIELDS: Record<string, string[]> = {
  ConfigMap: ['data', 'binaryData', 'immutable'],
  Secret: ['data', 'stringData', 'type', 'immutable'],
  ServiceAccount: ['automountServiceAccountToken', 'imagePullSecrets', 'secrets'],
};

const POD_SPEC_FIELDS = new Set([
  'affinity',
  'automountServiceAccountToken',
  'containers',
  'imagePullSecrets',
  'initContainers',
  'nodeSelector',
  'restartPolicy',
  'securityContext',
  'serviceAccountName',
  'terminationGracePeriodSeconds',
  'tolerations',
  'topologySpreadConstraints',
  'volumes',
  'priorityClassName',
  'hostAliases',
  'dnsConfig',
  'dnsPolicy',
  'enableServiceLinks',
  'runtimeClassName',
  'schedulerName',
]);
const CONTAINER_FIELDS = new Set([
  'name',
  'image',
  'imagePullPolicy',
  'command',
  'args',
  'workingDir',
  'env',
  'envFrom',
  'ports',
  'resources',
  'securityContext',
  'volumeMounts',
  'startupProbe',
  'livenessProbe',
  'readinessProbe',
  'lifecycle',
  'restartPolicy',
  'stdin',
  'tty',
  'terminationMessagePath',
  'terminationMessagePolicy',
]);

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QUANTITY = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$/;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v);
const isPort = (v: unknown) =>
  (Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535) || (typeof v === 'string' && DNS_LABEL.test(v));

/** A Kubernetes qualified key (labels, annotations): an optional DNS subdomain prefix and a name of 63 characters at most. */
function keyProblem(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const [prefix, name] = slash < 0 ? [undefined, key] : [key.slice(0, slash), key.slice(slash + 1)];
  if (prefix !== undefined && !(prefix.length <= 253 && DNS_SUBDOMAIN.test(prefix))) return `prefix of "${key}"`;
  if (!(name.length <= 63 && LABEL_NAME.test(name))) return `name of "${key}"`;
  return undefined;
}

function stringMap(problems: string[], at: string, v: unknown, labelValues: boolean) {
  if (v === undefined) return;
  if (!isObj(v)) return void problems.push(`${at}: not a map`);
  for (const [k, x] of Object.entries(v)) {
    const bad = keyProblem(k);
    if (bad) problems.push(`${at}: bad key, ${bad}`);
    if (typeof x !== 'string') problems.push(`${at}.${k}: ${JSON.stringify(x)} is not a string`);
    else if (labelValues && !(x.length <= 63 && LABEL_VALUE.test(x))) problems.push(`${at}.${k}: "${x}" is not a label value`);
  }
}

function selectorProblems(problems: string[], at: string, s: unknown) {
  if (!isObj(s)) return void problems.push(`${at}: missing`);
  stringMap(problems, `${at}.matchLabels`, s.matchLabels, true);
  for (const [i, e] of ((s.matchExpressions as unknown[] | undefined) ?? []).entries()) {
    if (!isObj(e) || typeof e.key !== 'string' || !['In', 'NotIn', 'Exists', 'DoesNotExist'].includes(String(e.operator)))
      problems.push(`${at}.matchExpressions[${i}]: needs key and operator`);
  }
}

function resourcesProblems(problems: string[], at: string, r: unknown) {
  if (r === undefined) return;
  if (!isObj(r)) return void problems.push(`${at}: not a map`);
  for (const part of Object.keys(r)) {
    if (!['requests', 'limits', 'claims'].includes(part)) problems.push(`${at}.${part}: unknown field`);
    const q = r[part];
    if (part !== 'claims' && isObj(q))
      for (const [name, v] of Object.entries(q))
        if (!((typeof v === 'string' && QUANTITY.test(v)) || typeof v === 'number'))
          problems.push(`${at}.${part}.${name}: "${String(v)}" is not a quantity`);
  }
}

function containerProblems(problems: string[], at: string, c: unknown) {
  if (!isObj(c)) return void problems.push(`${at}: not a map`);
  for (const k of Object.keys(c)) if (!CONTAINER_FIELDS.has(k)) problems.push(`${at}.${k}: unknown container field`);
  if (!(typeof c.name === 'string' && DNS_LABEL.test(c.name))) problems.push(`${at}.name: missing or not a DNS label`);
  if (!(typeof c.image === 'string' && c.image)) problems.push(`${at}.image: missing`);
  for (const k of ['command', 'args'])
    if (c[k] !== undefined && !(Array.isArray(c[k]) && (c[k] as unknown[]).every((x) => typeof x === 'string')))
      problems.push(`${at}.${k}: not a list of strings`);
  for (const [i, e] of ((c.env as unknown[] | undefined) ?? []).entries()) {
    if (!isObj(e) || typeof e.name !== 'string') problems.push(`${at}.env[${i}]: needs a name`);
    else if (e.value !== undefined && typeof e.value !== 'string') problems.push(`${at}.env[${i}].value: not a string`);
  }
  for (const [i, p] of ((c.ports as unknown[] | undefined) ?? []).entries())
    if (!isObj(p) || !isPort(p.containerPort) || typeof p.containerPort !== 'number')
      problems.push(`${at}.ports[${i}]: containerPort not a port number`);
  for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
    const p = c[probe];
    if (p !== undefined && !(isObj(p) && isObj(p.httpGet) && isPort(p.httpGet.port)))
      problems.push(`${at}.${probe}: needs httpGet with a port`);
  }
  resourcesProblems(problems, `${at}.resources`, c.resources);
  for (const [i, m] of ((c.volumeMounts as unknown[] | undefined) ?? []).entries())
    if (!isObj(m) || typeof m.name !== 'string' || typeof m.mountPath !== 'string')
      problems.push(`${at}.volumeMounts[${i}]: needs name and mountPath`);
}

function podSpecProblems(problems: string[], at: string, spec: unknown, labels: Obj | undefined, owner: string) {
  if (!isObj(spec)) return void problems.push(`${at}: missing`);
  for (const k of Object.keys(spec)) if (!POD_SPEC_FIELDS.has(k)) problems.push(`${at}.${k}: unknown pod field`);
  const containers = spec.containers;
  if (!Array.isArray(containers) || !containers.length) problems.push(`${at}.containers: none`);
  else containers.forEach((c, i) => containerProblems(problems, `${at}.containers[${i}]`, c));
  if ((owner === 'Job' || owner === 'CronJob') && !['Never', 'OnFailure'].includes(spec.restartPolicy as string))
    problems.push(`${at}.restartPolicy: a Job's pods need Never or OnFailure`);
  const volumes = new Set(((spec.volumes as Obj[] | undefined) ?? []).map((v) => v.name));
  if (volumes.size !== ((spec.volumes as unknown[] | undefined) ?? []).length) problems.push(`${at}.volumes: duplicate names`);
  for (const c of (containers as Obj[] | undefined) ?? [])
    for (const m of (c.volumeMounts as Obj[] | undefined) ?? [])
      if (!volumes.has(m.name))
        problems.push(`${at}: container ${String(c.name)} mounts "${String(m.name)}", which is no volume of the pod`);
  const names = ((containers as Obj[] | undefined) ?? []).map((c) => c.name);
  if (new Set(names).size !== names.length) problems.push(`${at}.containers: duplicate names`);
  for (const [i, t] of ((spec.topologySpreadConstraints as unknown[] | undefined) ?? []).entries()) {
    if (
      !isObj(t) ||
      !Number.isInteger(t.maxSkew) ||
      typeof t.topologyKey !== 'string' ||
      !['DoNotSchedule', 'ScheduleAnyway'].includes(String(t.whenUnsatisfiable))
    )
      problems.push(`${at}.topologySpreadConstraints[${i}]: needs maxSkew, topologyKey and whenUnsatisfiable`);
  }
  if (labels) stringMap(problems, `${at} labels`, labels, true);
}

/** Fields that are integers wherever they appear in the objects the chart renders (ports may also be a port's name). */
const INTEGER_FIELDS = new Set([
  'replicas',
  'revisionHistoryLimit',
  'terminationGracePeriodSeconds',
  'activeDeadlineSeconds',
  'backoffLimit',
  'successfulJobsHistoryLimit',
  'failedJobsHistoryLimit',
  'minReplicas',
  'maxReplicas',
  'averageUtilization',
  'periodSeconds',
  'timeoutSeconds',
  'failureThreshold',
  'maxSkew',
  'weight',
  'runAsUser',
  'runAsGroup',
  'fsGroup',
  'containerPort',
  'port',
  'targetPort',
  'maxSurge',
  'maxUnavailable',
  'minAvailable',
]);
const NAMED_OR_PERCENT = new Set(['port', 'targetPort', 'maxSurge', 'maxUnavailable', 'minAvailable']);

/** Fields that are strings wherever they appear (an unquoted yes, no, on or true is a boolean to Kubernetes). */
const STRING_FIELDS = new Set([
  'name',
  'secretName',
  'serviceAccountName',
  'ingressClassName',
  'image',
  'mountPath',
  'topologyKey',
  'schedule',
  'key',
  'host',
  'path',
]);

/** String fields holding anything but a string. */
function stringProblems(problems: string[], at: string, v: unknown) {
  if (Array.isArray(v)) v.forEach((x, i) => stringProblems(problems, `${at}[${i}]`, x));
  else if (isObj(v))
    for (const [k, x] of Object.entries(v)) {
      if (STRING_FIELDS.has(k) && typeof x !== 'string' && !isObj(x)) problems.push(`${at}.${k}: ${JSON.stringify(x)} is not a string`);
      else stringProblems(problems, `${at}.${k}`, x);
    }
}

/** Integer fields holding anything but an integer (a float printed as 1e+06 reads back as a float or a string). */
function integerProblems(problems: string[], at: string, v: unknown) {
  if (Array.isArray(v)) v.forEach((x, i) => integerProblems(problems, `${at}[${i}]`, x));
  else if (isObj(v))
    for (const [k, x] of Object.entries(v)) {
      if (
        INTEGER_FIELDS.has(k) &&
        !Number.isInteger(x) &&
        !isObj(x) && // an Ingress backend's port is a map, {name} or {number}
        !(NAMED_OR_PERCENT.has(k) && typeof x === 'string' && /^([a-z][-a-z0-9]*|\d+%)$/.test(x))
      )
        problems.push(`${at}.${k}: ${JSON.stringify(x)} is not an integer`);
      else integerProblems(problems, `${at}.${k}`, x);
    }
}

/** What keeps this object from being one Kubernetes would accept, as far as the fields the chart sets go. */
export function shapeProblems(m: Manifest): string[] {
  const problems: string[] = [];
  integerProblems(problems, 'spec', m.spec);
  stringProblems(problems, 'spec', m.spec);
  const name = m.metadata?.name;
  const expected = API_VERSIONS[m.kind];
  if (!expected) return [`unknown kind ${String(m.kind)}`];
  if (m.apiVersion !== expected) problems.push(`apiVersion ${String(m.apiVersion)}, expected ${expected}`);
  if (typeof name !== 'string' || !(name.length <= 253 && DNS_SUBDOMAIN.test(name)))
    problems.push(`metadata.name "${String(name)}" is not a DNS subdomain`);
  // Services and the objects whose name becomes a label value or a hostname are held to a DNS label.
  if (['Service', 'Pod', 'CronJob', 'Job', 'Deployment'].includes(m.kind) && !(String(name).length <= 63 && DNS_LABEL.test(String(name))))
    problems.push(`metadata.name "${String(name)}" is not a DNS label`);
  for (const k of Object.keys(m.metadata ?? {}))
    if (!['name', 'labels', 'annotations', 'namespace'].includes(k)) problems.push(`metadata.${k}: unexpected`);
  stringMap(problems, 'metadata.labels', m.metadata?.labels, true);
  stringMap(problems, 'metadata.annotations', m.metadata?.annotations, false);
  const allowed = TOP_FIELDS[m.kind] ?? ['spec'];
  for (const k of Object.keys(m))
    if (!['apiVersion', 'kind', 'metadata', 'source', ...allowed].includes(k)) problems.push(`${k}: unexpected top-level field`);
  const spec = m.spec as Obj | undefined;
  if (!TOP_FIELDS[m.kind] && !isObj(spec)) return [...problems, 'spec: missing'];
  switch (m.kind) {
    case 'ConfigMap':
      for (const [k, v] of Object.entries((m.data as Obj | undefined) ?? {})) {
        if (!/^[-._A-Za-z0-9]+$/.test(k)) problems.push(`data: bad key ${k}`);
        if (typeof v !== 'string') problems.push(`data.${k}: ${JSON.stringify(v)} is not a string`);
      }
      break;
    case 'Secret':
      for (const [k, v] of Object.entries((m.data as Obj | undefined) ?? {}))
        if (typeof v !== 'string' || Buffer.from(v, 'base64').toString('base64') !== v) problems.push(`data.${k}: not base64`);
      for (const [k, v] of Object.entries((m.stringData as Obj | undefined) ?? {}))
        if (typeof v !== 'string') problems.push(`stringData.${k}: not a string`);
      break;
    case 'Deployment': {
      const template = spec!.template as Obj | undefined;
      const labels = (template?.metadata as Obj | undefined)?.labels as Obj | undefined;
      selectorProblems(problems, 'spec.selector', spec!.selector);
      const matchLabels = ((spec!.selector as Obj | undefined)?.matchLabels ?? {}) as Obj;
      if (!Object.entries(matchLabels).every(([k, v]) => labels?.[k] === v))
        problems.push('spec.selector does not select the pod template');
      stringMap(problems, 'spec.template.metadata.annotations', (template?.metadata as Obj | undefined)?.annotations, false);
      podSpecProblems(problems, 'spec.template.spec', template?.spec, labels, m.kind);
      break;
    }
    case 'Job': {
      const template = spec!.template as Obj | undefined;
      podSpecProblems(problems, 'spec.template.spec', template?.spec, (template?.metadata as Obj | undefined)?.labels as Obj, m.kind);
      break;
    }
    case 'CronJob': {
      if (typeof spec!.schedule !== 'string' || spec!.schedule.trim().split(/\s+/).length !== 5)
        problems.push('spec.schedule: not a cron schedule');
      const template = ((spec!.jobTemplate as Obj | undefined)?.spec as Obj | undefined)?.template as Obj | undefined;
      podSpecProblems(
        problems,
        'spec.jobTemplate.spec.template.spec',
        template?.spec,
        (template?.metadata as Obj | undefined)?.labels as Obj,
        m.kind,
      );
      break;
    }
    case 'Pod':
      podSpecProblems(problems, 'spec', spec, undefined, m.kind);
      break;
    case 'Service':
      if (!['ClusterIP', 'NodePort', 'LoadBalancer'].includes((spec!.type as string | undefined) ?? 'ClusterIP'))
        problems.push(`spec.type ${JSON.stringify(spec!.type)}`);
      for (const [i, p] of ((spec!.ports as unknown[] | undefined) ?? []).entries())
        if (!isObj(p) || typeof p.port !== 'number' || !isPort(p.port) || !isPort(p.targetPort ?? p.port))
          problems.push(`spec.ports[${i}]: needs a port number`);
      stringMap(problems, 'spec.selector', spec!.selector, true);
      break;
    case 'Ingress':
      for (const [i, rule] of ((spec!.rules as unknown[] | undefined) ?? []).entries())
        for (const [j, p] of ((((rule as Obj).http as Obj | undefined)?.paths as unknown[] | undefined) ?? []).entries()) {
          const backend = ((p as Obj).backend as Obj | undefined)?.service as Obj | undefined;
          if (
            !['Prefix', 'Exact', 'ImplementationSpecific'].includes(String((p as Obj).pathType)) ||
            !backend?.name ||
            !isObj(backend.port)
          )
            problems.push(`spec.rules[${i}].http.paths[${j}]: needs pathType and a service backend`);
        }
      for (const [i, t] of ((spec!.tls as unknown[] | undefined) ?? []).entries())
        if (!isObj(t) || !Array.isArray(t.hosts) || !t.hosts.every((h) => typeof h === 'string'))
          problems.push(`spec.tls[${i}]: hosts not a list of strings`);
      break;
    case 'NetworkPolicy':
      selectorProblems(problems, 'spec.podSelector', spec!.podSelector);
      for (const dir of ['ingress', 'egress'])
        for (const [i, rule] of ((spec![dir] as unknown[] | undefined) ?? []).entries())
          for (const [j, p] of (((rule as Obj).ports as unknown[] | undefined) ?? []).entries())
            if (!isObj(p) || !isPort(p.port) || !['TCP', 'UDP', 'SCTP'].includes((p.protocol as string | undefined) ?? 'TCP'))
              problems.push(`spec.${dir}[${i}].ports[${j}]: bad port`);
      break;
    case 'PodDisruptionBudget':
      selectorProblems(problems, 'spec.selector', spec!.selector);
      if (spec!.minAvailable === undefined && spec!.maxUnavailable === undefined)
        problems.push('spec: needs minAvailable or maxUnavailable');
      break;
    case 'HorizontalPodAutoscaler':
      if (!isObj(spec!.scaleTargetRef) || !Number.isInteger(spec!.maxReplicas)) problems.push('spec: needs scaleTargetRef and maxReplicas');
      break;
    case 'ServiceMonitor':
      selectorProblems(problems, 'spec.selector', spec!.selector);
      if (!Array.isArray(spec!.endpoints) || !spec!.endpoints.length) problems.push('spec.endpoints: none');
      break;
  }
  return problems;
}

/* ------------------------------------------------------------ helm-render.ts against helm ------------------------------------------------------------ */

/** Where two rendered objects differ, as paths with both values (empty when equal). */
export function differences(a: unknown, b: unknown, at = '', out: string[] = []): string[] {
  if (isDeepStrictEqual(a, b)) return out;
  if (isObj(a) && isObj(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) differences(a[k], b[k], `${at}.${k}`, out);
  } else if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    a.forEach((x, i) => differences(x, b[i], `${at}[${i}]`, out));
  } else out.push(`${at || '.'}: ${JSON.stringify(a)} ≠ ${JSON.stringify(b)}`);
  return out;
}

/** Where helm-render.ts's objects and helm's differ: objects one side lacks, and fields that differ. */
export function compareRenders(local: Manifest[], real: Manifest[]): string[] {
  const id = (m: Manifest) => `${m.source} ${m.kind}/${m.metadata?.name}`;
  const byId = (list: Manifest[]) => new Map(list.map((m) => [id(m), m]));
  const [mine, theirs] = [byId(local), byId(real)];
  const problems: string[] = [];
  for (const key of mine.keys()) if (!theirs.has(key)) problems.push(`${key}: rendered by helm-render.ts only`);
  for (const [key, m] of theirs) {
    const other = mine.get(key);
    if (!other) problems.push(`${key}: rendered by helm only`);
    else problems.push(...differences(other, m).map((d) => `${key} ${d} (helm-render.ts ≠ helm)`));
  }
  return problems;
}

/**
 * Thrown when a rendered object has the wrong shape or helm-render.ts and helm disagree. Its message never quotes a
 * refusal's words, so no test expecting the chart to refuse values mistakes it for that refusal.
 */
export class RenderCheckFailed extends Error {}

type Render = (patch?: Record<string, unknown>, release?: Release) => Rendered;

/**
 * helm-render.ts's `render`, checked: every object it renders passes shapeProblems (unless `shapes` is false), and
 * when HELM is set, helm renders the same objects or refuses the same values (a `required`/`fail` message must then be
 * the same; each value path helm's schema check names must be one helm-render.ts names, or the parent of one).
 */
export function checkedRenderer(
  render: Render,
  chartDir: string,
  { shapes = true, helm = helmBinary() }: { shapes?: boolean; helm?: string | null } = {},
): Render {
  return (patch = {}, release = defaultRelease) => {
    let local: Rendered | undefined;
    let refusal: ChartError | undefined;
    try {
      local = render(patch, release);
    } catch (e) {
      if (!(e instanceof ChartError) || !helm) throw e;
      refusal = e;
    }
    const values = JSON.stringify(patch);
    const problems: string[] = [];
    if (helm) {
      const real = helmTemplate(helm, chartDir, patch, release);
      if (refusal) {
        if (real.ok) throw new RenderCheckFailed(`helm-render.ts refuses the values ${values}, but helm renders them`);
        const schemaPaths = helmSchemaPaths(real.error);
        const failMessage = helmFailMessage(real.error);
        const agrees = schemaPaths.length
          ? refusal.message.startsWith("values don't meet the schema") &&
            schemaPaths.every((p) => [':', '.', '['].some((next) => refusal.message.includes(`${p}${next}`)))
          : failMessage !== undefined && refusal.message.endsWith(`: ${failMessage}`);
        if (!agrees)
          throw new RenderCheckFailed(
            `helm-render.ts and helm refuse the values ${values} for different reasons; helm says:\n${real.error}`,
          );
        throw refusal;
      }
      if (!real.ok) throw new RenderCheckFailed(`helm refuses the values ${values}, which helm-render.ts renders:\n${real.error}`);
      problems.push(...compareRenders(local!.manifests, real.manifests));
    }
    if (shapes)
      problems.push(...local!.manifests.flatMap((m) => shapeProblems(m).map((p) => `${m.source} ${m.kind}/${m.metadata?.name}: ${p}`)));
    if (problems.length) throw new RenderCheckFailed(`with the values ${values}:\n${problems.join('\n')}`);
    return local!;
  };
}
