import os from 'node:os';
import type { LoadResult, TargetName } from './protocol.js';

export interface Measured {
  target: TargetName;
  label: string;
  result: LoadResult;
  /** The machine's 1-minute load average when the target's run began: other work on the host skews a run. */
  loadBefore: number;
  /** Tokens our server left in Postgres (warm-up included): at least one per measured 200, or it skipped storage. */
  storedTokens?: number;
  /** CPU time the target process used during the measured run (µs): per request, steadier than req/s on a shared host. */
  cpuMicros?: number;
}

/** The issue's targets: our token endpoint against the same oidc-provider on its in-memory adapter. */
export const MIN_THROUGHPUT_RATIO = 0.85;
export const MAX_P99_RATIO = 1.25;

const ms = (n: number) => n.toFixed(2);

/** Why a run is invalid: a response that was not a 200, a socket error or timeout, tokens that were not stored. */
export function problems(m: Measured): string[] {
  const out: string[] = [];
  for (const [status, count] of Object.entries(m.result.statuses)) if (status !== '200') out.push(`${count} × HTTP ${status}`);
  if (m.result.errors) out.push(`${m.result.errors} socket errors`);
  if (m.result.timeouts) out.push(`${m.result.timeouts} timeouts`);
  if (!m.result.requests) out.push('no responses');
  if (m.storedTokens !== undefined && m.storedTokens < m.result.requests) out.push(`only ${m.storedTokens} tokens stored`);
  return out;
}

export function machine(): string {
  const cpus = os.cpus();
  return `${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${cpus.length} cores, Node ${process.version}, ${os.platform()} ${os.release()}`;
}

/** One row per target, each compared with `base` (the reference target, named `baseName` in the headings). */
function resultsTable(rows: Measured[], base: LoadResult, baseName: string): string[] {
  return [
    `| Target | req/s | p50 ms | p99 ms | req/s vs ${baseName} | p99 vs ${baseName} | CPU µs/request | Responses | Load before |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |',
    ...rows.map((m) => {
      const { label, result: r } = m;
      const bad = problems(m);
      return `| ${label} | ${Math.round(r.reqPerSec)} | ${ms(r.p50)} | ${ms(r.p99)} | ${(r.reqPerSec / base.reqPerSec * 100).toFixed(0)}% | ` +
        `${(r.p99 / base.p99).toFixed(2)}× | ${m.cpuMicros === undefined || !r.requests ? '—' : Math.round(m.cpuMicros / r.requests)} | ${bad.length ? `**FAILED: ${bad.join(', ')}**` : `all ${r.requests} were 200`} | ${m.loadBefore.toFixed(2)} |`;
    }),
  ];
}

/**
 * CPU per request of one target against the reference, for reading a run on a shared host: req/s moves with whatever
 * else the machine does, the CPU a request costs much less. Informational; the verdict stays on req/s and p99.
 */
function cpuLine(rows: Measured[], ours: TargetName, reference: TargetName, referenceName: string): string[] {
  const per = (t: TargetName) => {
    const m = rows.find((r) => r.target === t);
    return m?.cpuMicros !== undefined && m.result.requests ? m.cpuMicros / m.result.requests : undefined;
  };
  const [a, b] = [per(ours), per(reference)];
  if (a === undefined || b === undefined) return [];
  return [`- CPU per request in the server process: ${Math.round(a)} µs against ${Math.round(b)} µs for ${referenceName} (${(b / a * 100).toFixed(0)}% of its efficiency).`];
}

/** The checklist line saying whether every response was a 200, or which targets' runs are invalid and why. */
const validity = (invalid: Measured[]) =>
  invalid.length ? `- **Run invalid**: ${invalid.map((r) => `${r.label}: ${problems(r).join(', ')}`).join('; ')}` : '- Every response was HTTP 200.';

export interface Verdict {
  ok: boolean;
  markdown: string;
}

export function report(rows: Measured[], settings: { connections: number; warmup: number; duration: number; logLevel: string }): Verdict {
  const base = rows.find((r) => r.target === 'in-memory')!.result;
  const ours = rows.find((r) => r.target === 'ours')!.result;
  const lines = resultsTable(rows, base, 'in-memory');
  const throughput = ours.reqPerSec / base.reqPerSec;
  const tail = ours.p99 / base.p99;
  const invalid = rows.filter((r) => problems(r).length);
  const checks = [
    `- Throughput: ours is ${(throughput * 100).toFixed(1)}% of in-memory (target ≥ ${MIN_THROUGHPUT_RATIO * 100}%): **${throughput >= MIN_THROUGHPUT_RATIO ? 'PASS' : 'FAIL'}**`,
    `- p99 latency: ours is ${tail.toFixed(2)}× in-memory (target ≤ ${MAX_P99_RATIO}×): **${tail <= MAX_P99_RATIO ? 'PASS' : 'FAIL'}**`,
    validity(invalid),
  ];
  const notes = rows
    .filter((r) => r.storedTokens !== undefined)
    .map((r) => `- ${r.label}: ${r.storedTokens} tokens stored in Postgres during the run, warm-up included.`);
  const busiest = Math.max(...rows.map((r) => r.loadBefore));
  // The bench's own processes keep about two cores' worth of load; more means other work shared the CPUs.
  if (busiest > os.cpus().length + 1) {
    notes.push(`- **Caution**: the host was busy with other work (load average up to ${busiest.toFixed(1)} on ${os.cpus().length} cores). ` +
      'Target (a) suffers most: every token waits on Postgres processes that compete for the same CPUs. Rerun on a quiet host.');
  }
  const markdown = [
    '# Token endpoint benchmark (client credentials)',
    '',
    `POST /token, grant_type=client_credentials, scope=tweet.read, HTTP Basic; ${settings.connections} connections; ` +
      `${settings.warmup} s warm-up, then ${settings.duration} s measured per target. Each server runs alone in its own ` +
      `process, the load generator (autocannon) in another; both oidc-provider targets log at \`${settings.logLevel}\` to /dev/null.`,
    '',
    '(a) is startServer on Postgres (a fresh schema), with all of our middleware; (b) is createProvider with the same ' +
      'configuration, keys and client metadata on oidc-provider\'s in-memory adapter, without our middleware; ' +
      '(c) is a bare Koa handler returning a token-like JSON body.',
    '',
    `Machine: ${machine()}. Date: ${new Date().toISOString()}.`,
    '',
    ...lines,
    '',
    ...checks,
    ...cpuLine(rows, 'ours', 'in-memory', 'in-memory oidc-provider'),
    ...notes,
    '',
  ].join('\n');
  return { ok: throughput >= MIN_THROUGHPUT_RATIO && tail <= MAX_P99_RATIO && !invalid.length, markdown };
}

/** The resource API's targets (issue 4): against a bare proxy to the same fake upstream, in the same run. */
export const MIN_RESOURCE_THROUGHPUT_RATIO = 0.75;
export const MAX_RESOURCE_P99_RATIO = 1.5;

export function resourceReport(rows: Measured[], settings: { connections: number; warmup: number; duration: number }): Verdict {
  const base = rows.find((r) => r.target === 'bare-proxy')!.result;
  const api = rows.find((r) => r.target === 'resource')!.result;
  const throughput = api.reqPerSec / base.reqPerSec;
  const tail = api.p99 / base.p99;
  const invalid = rows.filter((r) => problems(r).length);
  const markdown = [
    '# Resource API benchmark',
    '',
    `POST /api/bench/posts with an agent token (bearer check, scope, the grant's content rules, the owner's key opened ` +
      `from the vault, an access-log row) forwarded to a fake upstream in its own process, against a bare Koa proxy to ` +
      `the same upstream; ${settings.connections} connections, ${settings.warmup} s warm-up, then ${settings.duration} s measured.`,
    '',
    ...resultsTable(rows, base, 'bare proxy'),
    '',
    `- Throughput: the resource API is ${(throughput * 100).toFixed(1)}% of the bare proxy (target ≥ ${MIN_RESOURCE_THROUGHPUT_RATIO * 100}%): **${throughput >= MIN_RESOURCE_THROUGHPUT_RATIO ? 'PASS' : 'FAIL'}**`,
    `- p99 latency: ${tail.toFixed(2)}× the bare proxy (target ≤ ${MAX_RESOURCE_P99_RATIO}×): **${tail <= MAX_RESOURCE_P99_RATIO ? 'PASS' : 'FAIL'}**`,
    validity(invalid),
    ...cpuLine(rows, 'resource', 'bare-proxy', 'the bare proxy'),
    ...rows.filter((r) => r.storedTokens !== undefined).map((r) => `- ${r.label}: ${r.storedTokens} access-log rows written, warm-up included.`),
    '',
  ].join('\n');
  return { ok: throughput >= MIN_RESOURCE_THROUGHPUT_RATIO && tail <= MAX_RESOURCE_P99_RATIO && !invalid.length, markdown };
}
