import os from 'node:os';
import type { IdleMemory, LoadResult, Scenario, StorageKind, TargetName } from './protocol.js';
import { SCENARIOS, STORAGE_LABELS, scenario } from './scenarios.js';

/** One row of the report: a target measured in a scenario, or the reason it could not be. */
export interface Measured {
  scenario: Scenario;
  target: TargetName;
  /** Set for our targets, which run on each backend. */
  storage?: StorageKind;
  label: string;
  /** Missing when the target failed to start or its pre-load check failed (`failure` says how). */
  result?: LoadResult;
  failure?: string;
  /** The machine's 1-minute load average when the row's run began: other work on the host skews a run. */
  loadBefore: number;
  /** Rows our server wrote (warm-up included): at least one per measured response, or it skipped storage. */
  stored?: number;
  /** CPU time the target process used during the measured run (µs): per request, steadier than req/s on a shared host. */
  cpuMicros?: number;
  /** SQL statements the target sent its database during the measured run; absent for targets without a database. */
  statements?: number;
  /** Commands the target sent Redis during the measured run; absent for targets without Redis. */
  redisCommands?: number;
  /** The target process's resident-set high-water mark, setup included. */
  maxRssBytes?: number;
  /** CPU time the whole machine spent in the measured run (µs, every core): server, load generator, Postgres, Redis. */
  machineCpuMicros?: number;
  /**
   * CPU time Postgres's and Redis's processes spent in the measured run (µs): on this machine's cores beside the
   * server, work an in-memory baseline has no process for. Absent without /proc.
   */
  storageCpuMicros?: number;
  /** Which round of its scenario this row was measured in (BENCH_ROUNDS), counting from 1. */
  round?: number;
  /** A row combined from several rounds (combineRounds): the rounds themselves, in order. */
  rounds?: Measured[];
}

export interface Settings {
  connections: number;
  warmup: number;
  duration: number;
  logLevel: string;
  storages: StorageKind[];
  /** How many rounds each scenario with a target was measured in. */
  rounds?: number;
  /** machine() on the host that ran it. */
  machine: string;
  cores: number;
  date: string;
  /** The embedded server at rest, when the run included embedded storage and BENCH_IDLE was not 0. */
  idle?: IdleMemory;
  /** How long it rested after each start before its memory was read (seconds). */
  idleSettle?: number;
}

/** The small table of the embedded server's memory at rest: after the first start on a new DATA_DIR, and after a restart. */
export function idleTable(idle: IdleMemory, settleSeconds: number): string[] {
  return [
    `| Embedded PGlite, no load | RSS ${settleSeconds} s after start | Peak RSS |`,
    '| --- | ---: | ---: |',
    `| First start (new DATA_DIR) | ${formatMemory(idle.first.rssBytes)} | ${formatMemory(idle.first.peakBytes)} |`,
    `| Restart (same DATA_DIR) | ${formatMemory(idle.restart.rssBytes)} | ${formatMemory(idle.restart.peakBytes)} |`,
  ];
}

export interface Verdict {
  ok: boolean;
  markdown: string;
}

/**
 * The targets (bench/README.md, Targets): each scenario's throughput at least `min` of its baseline's and its p99 at
 * most `max` times the baseline's, decided by our Postgres + Redis rows; the embedded rows of refresh rotation and
 * introspection have a target of their own, reported without deciding the exit; the other embedded rows are compared
 * with the Postgres target for information.
 */
export interface Goal {
  id: Scenario;
  /** What the verdict line calls it. */
  what: string;
  /** The baseline, as the verdict line names it. */
  base: string;
  min: number;
  /** No p99 target when absent. */
  max?: number;
}

export const POSTGRES_GOALS: Goal[] = [
  { id: 'client-credentials', what: 'Token endpoint', base: 'in-memory oidc-provider', min: 0.95, max: 1.1 },
  { id: 'refresh', what: 'Refresh rotation', base: 'in-memory oidc-provider', min: 0.85, max: 1.25 },
  { id: 'introspection', what: 'Introspection', base: 'in-memory oidc-provider', min: 0.9, max: 1.25 },
  { id: 'resource', what: 'Resource API', base: 'the bare proxy', min: 0.85, max: 1.3 },
  { id: 'mcp', what: 'MCP server', base: 'the resource API on the same storage', min: 0.7, max: 1.5 },
  { id: 'workers', what: 'Token endpoint with 2 workers', base: 'the same with 1 worker', min: 1.6 },
];

/** The embedded default's own targets: reported with a verdict, never deciding the exit. */
export const EMBEDDED_GOALS: Goal[] = [
  { id: 'refresh', what: 'Refresh rotation', base: 'in-memory oidc-provider', min: 0.6 },
  { id: 'introspection', what: 'Introspection', base: 'in-memory oidc-provider', min: 0.6 },
];

/** Peak resident memory of our server under the bench load, every Postgres + Redis row (bytes: 200 MB). */
export const MAX_PEAK_RSS_BYTES = 200e6;

export function machine(): string {
  const cpus = os.cpus();
  return `${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${cpus.length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
}

const ms = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '—');

export function formatMemory(bytes: number | undefined): string {
  return bytes === undefined || !Number.isFinite(bytes) || bytes <= 0 ? '—' : `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

/** Why a row is invalid: no run, an unexpected status, socket errors or timeouts, responses that skipped storage. */
export function problems(m: Measured): string[] {
  if (!m.result) return [m.failure ?? 'not measured'];
  const r = m.result;
  const out: string[] = [];
  for (const [status, count] of Object.entries(r.statuses))
    if (!r.expected.includes(status)) out.push(`${count} × ${/^\d+$/.test(status) ? `HTTP ${status}` : status}`);
  if (r.errors) out.push(`${r.errors} socket errors`);
  if (r.timeouts) out.push(`${r.timeouts} timeouts`);
  if (!r.requests) out.push('no responses');
  if (m.stored !== undefined && m.stored < r.requests) out.push(`only ${m.stored} rows stored for ${r.requests} responses`);
  return out;
}

export function cpuPerRequest(m: Measured): number | undefined {
  return perRequest(m, m.cpuMicros);
}

/** A count over the measured window divided by the responses measured in it. */
export function perRequest(m: Measured, count: number | undefined): number | undefined {
  return count !== undefined && m.result?.requests ? count / m.result.requests : undefined;
}

/** Microseconds per request, whole; a dash when not measured. */
export function formatMicros(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? '—' : String(Math.round(value));
}

/** Statements or commands per request: one decimal (they are averages of whole numbers), a dash when not counted. */
export function formatCount(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? '—' : value.toFixed(1);
}

/**
 * The baseline row of a scenario (of `storage`, when its baseline runs on each), if it was measured validly: without
 * it no ratio is given.
 */
export function baselineOf(rows: Measured[], id: Scenario, storage?: StorageKind): Measured | undefined {
  const spec = scenario(id);
  const base = rows.find((r) => r.scenario === id && r.target === spec.baseline && (!spec.baselineOnEachStorage || r.storage === storage));
  return base && !problems(base).length ? base : undefined;
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * A row's ratios to its baseline. For rows measured in rounds, each round's row is compared with the baseline of the
 * same round, measured right after it on the same host, and the median of those paired ratios is taken: a host that
 * slows down for a while slows both sides of a pair, not one side of the comparison.
 */
export function ratios(m: Measured, base: Measured | undefined): { throughput?: number; tail?: number } {
  if (!m.result || !base?.result || problems(m).length) return {};
  if (m.rounds && base.rounds && m.rounds.length === base.rounds.length) {
    const pairs = m.rounds.map((r, i) => ratios(r, base.rounds![i]));
    return { throughput: median(pairs.map((p) => p.throughput!)), tail: median(pairs.map((p) => p.tail!)) };
  }
  return { throughput: m.result.reqPerSec / base.result.reqPerSec, tail: m.result.p99 / base.result.p99 };
}

const sum = (values: (number | undefined)[]) => (values.every((v) => v !== undefined) ? values.reduce((a, b) => a + b, 0) : undefined);

/**
 * One row per scenario, target and storage: rows measured in several rounds become one, whose rates and latencies
 * are the rounds' medians and whose counts (responses, statuses, errors, CPU, rows stored) are their sums. A round
 * that failed makes the combined row fail.
 */
export function combineRounds(rows: Measured[]): Measured[] {
  const groups = new Map<string, Measured[]>();
  for (const m of rows) {
    const key = `${m.scenario}|${m.target}|${m.storage ?? ''}`;
    groups.set(key, [...(groups.get(key) ?? []), m]);
  }
  return [...groups.values()].map((group) => {
    if (group.length === 1) return group[0]!;
    const [first] = group as [Measured, ...Measured[]];
    // The counts are the group's (summed below, or absent when a round has none), never the first round's alone.
    const {
      round: _round,
      result: _result,
      failure: _failure,
      stored: _stored,
      cpuMicros: _cpu,
      statements: _statements,
      redisCommands: _redis,
      maxRssBytes: _rss,
      machineCpuMicros: _machine,
      storageCpuMicros: _storageCpu,
      ...rest
    } = first;
    const combined: Measured = {
      ...rest,
      rounds: group,
      loadBefore: Math.max(...group.map((m) => m.loadBefore)),
      ...(sum(group.map((m) => m.stored)) !== undefined ? { stored: sum(group.map((m) => m.stored)) } : {}),
      ...(sum(group.map((m) => m.cpuMicros)) !== undefined ? { cpuMicros: sum(group.map((m) => m.cpuMicros)) } : {}),
      ...(sum(group.map((m) => m.statements)) !== undefined ? { statements: sum(group.map((m) => m.statements)) } : {}),
      ...(sum(group.map((m) => m.redisCommands)) !== undefined ? { redisCommands: sum(group.map((m) => m.redisCommands)) } : {}),
      ...(group.every((m) => m.maxRssBytes !== undefined) ? { maxRssBytes: Math.max(...group.map((m) => m.maxRssBytes!)) } : {}),
      ...(sum(group.map((m) => m.machineCpuMicros)) !== undefined ? { machineCpuMicros: sum(group.map((m) => m.machineCpuMicros)) } : {}),
      ...(sum(group.map((m) => m.storageCpuMicros)) !== undefined ? { storageCpuMicros: sum(group.map((m) => m.storageCpuMicros)) } : {}),
    };
    const failed = group.find((m) => !m.result);
    if (failed) return { ...combined, failure: `round ${failed.round ?? group.indexOf(failed) + 1}: ${failed.failure ?? 'not measured'}` };
    const results = group.map((m) => m.result!);
    const statuses: Record<string, number> = {};
    for (const r of results) for (const [status, n] of Object.entries(r.statuses)) statuses[status] = (statuses[status] ?? 0) + n;
    return {
      ...combined,
      result: {
        requests: sum(results.map((r) => r.requests))!,
        seconds: sum(results.map((r) => r.seconds))!,
        reqPerSec: median(results.map((r) => r.reqPerSec)),
        p50: median(results.map((r) => r.p50)),
        p99: median(results.map((r) => r.p99)),
        statuses,
        expected: results[0]!.expected,
        errors: sum(results.map((r) => r.errors))!,
        timeouts: sum(results.map((r) => r.timeouts))!,
        ...(sum(results.map((r) => r.cpuMicros)) !== undefined ? { cpuMicros: sum(results.map((r) => r.cpuMicros)) } : {}),
      },
    };
  });
}

/** Each round's ratios of a combined row, for the report: how much they moved from round to round. */
function roundLine(m: Measured, base: Measured | undefined): string | undefined {
  if (!m.rounds || !base?.rounds || m.rounds.length !== base.rounds.length) return undefined;
  const each = m.rounds.map((r, i) => {
    const { throughput, tail } = ratios(r, base.rounds![i]);
    return throughput === undefined || tail === undefined ? 'invalid' : `${(throughput * 100).toFixed(0)}% / ${tail.toFixed(2)}×`;
  });
  return `- ${scenario(m.scenario).title}, ${m.label}: ${each.join('; ')}`;
}

function row(m: Measured, rows: Measured[]): string {
  const spec = scenario(m.scenario);
  const name = spec.unit === 'round trip' ? `${spec.title} (round trips)` : spec.title;
  const bad = problems(m);
  const isBase = m.target === spec.baseline;
  const { throughput, tail } = ratios(m, baselineOf(rows, m.scenario, m.storage));
  const r = m.result;
  const cpu = cpuPerRequest(m);
  const cells = [
    name,
    m.label,
    r ? String(Math.round(r.reqPerSec)) : '—',
    r ? ms(r.p50) : '—',
    r ? ms(r.p99) : '—',
    formatMemory(m.maxRssBytes),
    cpu === undefined ? '—' : String(Math.round(cpu)),
    formatCount(perRequest(m, m.statements)),
    formatCount(perRequest(m, m.redisCommands)),
    formatMicros(perRequest(m, m.storageCpuMicros)),
    isBase ? 'baseline' : throughput === undefined ? '—' : `${(throughput * 100).toFixed(0)}%`,
    isBase ? 'baseline' : tail === undefined ? '—' : `${tail.toFixed(2)}×`,
    bad.length
      ? `**FAILED: ${bad.join(', ')}**`
      : Object.entries(r!.statuses)
          .map(([s, n]) => `${n} × ${s}`)
          .join(', '),
    m.loadBefore.toFixed(2),
  ];
  return `| ${cells.join(' | ')} |`;
}

export function table(rows: Measured[]): string[] {
  return [
    '| Scenario | Target | req/s | p50 ms | p99 ms | Peak RSS | CPU µs/req | SQL statements/req | Redis commands/req | Postgres + Redis CPU µs/req | req/s vs baseline | p99 vs baseline | Responses | Load before |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |',
    ...rows.map((m) => row(m, rows)),
  ];
}

/** The scenarios with a target, measured in paired rounds; only the Postgres + Redis rows decide the exit. */
export const GOAL_SCENARIOS: Scenario[] = POSTGRES_GOALS.map((goal) => goal.id);

/** `value` with `digits` decimals, or more when that would print it equal to a limit it misses (1.2512 is not 1.25). */
function shown(value: number, limit: number, digits: number): string {
  let text = value.toFixed(digits);
  while (value !== limit && Number(text) === limit && digits < 6) text = value.toFixed(++digits);
  return text;
}

const pct = (ratio: number) => Math.round(ratio * 1000) / 10;

/** The goal a row of ours is held to, and whether its verdict decides the exit. */
function goalOf(m: Measured): { goal: Goal; decides: boolean; own: boolean } | undefined {
  if (m.target !== scenario(m.scenario).ours) return undefined;
  const postgres = POSTGRES_GOALS.find((g) => g.id === m.scenario);
  if (m.storage === 'postgres') return postgres && { goal: postgres, decides: true, own: true };
  const embedded = m.storage === 'embedded' ? EMBEDDED_GOALS.find((g) => g.id === m.scenario) : undefined;
  if (embedded) return { goal: embedded, decides: false, own: true };
  return postgres && { goal: postgres, decides: false, own: false };
}

/**
 * Where the cores went in the workers scenario, and the ceiling they set: per request of the one-worker row, the CPU
 * of the server, of the load generator and of everything else (Postgres, Redis, the kernel's network work), all
 * sharing the machine's cores. However many workers there are, requests per second cannot pass the cores' time
 * divided by that sum; the ceiling is that rate over the one-worker row's.
 */
export function workersCeiling(rows: Measured[], cores: number): { ceiling: number; line: string } | undefined {
  const one = rows.find((m) => m.scenario === 'workers' && m.target === 'one-worker');
  const [server, load, machine] = one
    ? [cpuPerRequest(one), perRequest(one, one.result?.cpuMicros), perRequest(one, one.machineCpuMicros)]
    : [];
  if (!one?.result || server === undefined || load === undefined || machine === undefined) return undefined;
  const storage = perRequest(one, one.storageCpuMicros);
  const rest = Math.max(0, machine - server - load - (storage ?? 0));
  const ceiling = (cores * 1e6) / Math.max(machine, server + load) / one.result.reqPerSec;
  const others =
    storage === undefined
      ? `${Math.round(rest)} µs elsewhere (Postgres, Redis, the kernel)`
      : `${Math.round(storage)} µs in Postgres and Redis and ${Math.round(rest)} µs elsewhere (the kernel, other processes)`;
  return {
    ceiling,
    line:
      `  - The ceiling on this ${cores}-core machine: each request of the one-worker row took ${Math.round(server)} µs of CPU in oauth3, ` +
      `${Math.round(load)} µs in the load generator and ${others}, all on the same ` +
      `cores, so no number of workers passes ${(ceiling * 100).toFixed(0)}% of the one-worker row here.`,
  };
}

/** The peak-memory target: every Postgres + Redis row, our server's resident-set high-water mark under the load. */
function memoryVerdict(rows: Measured[]): { lines: string[]; ok: boolean } {
  const ours = rows.filter((m) => m.storage === 'postgres');
  if (!ours.length) return { lines: [], ok: true };
  const limit = `${MAX_PEAK_RSS_BYTES / 1e6} MB`;
  const unmeasured = ours.filter((m) => m.maxRssBytes === undefined);
  const measured = ours.filter((m) => m.maxRssBytes !== undefined);
  const mb = (m: Measured) => `${(m.maxRssBytes! / 1e6).toFixed(0)} MB`;
  const worst = measured.reduce<Measured | undefined>((a, m) => (!a || m.maxRssBytes! > a.maxRssBytes! ? m : a), undefined);
  const ok = !unmeasured.length && measured.every((m) => m.maxRssBytes! <= MAX_PEAK_RSS_BYTES);
  const name = (m: Measured) => `${scenario(m.scenario).title}, ${m.label}`;
  const lines = [
    worst
      ? `- Peak RSS of our server on Postgres + Redis under the bench load: highest ${mb(worst)} (${name(worst)}) of ${measured.length} ` +
        `rows (target ≤ ${limit} on every row): **${ok ? 'PASS' : 'FAIL'}**`
      : `- Peak RSS of our server on Postgres + Redis: **not measured**`,
    ...(measured.length > 1 ? [`  - Each row: ${measured.map((m) => `${name(m)} ${mb(m)}`).join('; ')}.`] : []),
    ...(unmeasured.length ? [`  - Not measured: ${unmeasured.map(name).join('; ')}.`] : []),
  ];
  return { lines, ok };
}

export function verdicts(rows: Measured[], cores = os.cpus().length): { lines: string[]; ok: boolean } {
  const lines: string[] = [];
  let ok = true;
  const order = (m: Measured) => POSTGRES_GOALS.findIndex((g) => g.id === m.scenario);
  const held = rows
    .map((m) => ({ m, of: goalOf(m) }))
    .filter((x): x is { m: Measured; of: NonNullable<ReturnType<typeof goalOf>> } => x.of !== undefined)
    .sort((a, b) => order(a.m) - order(b.m));
  for (const { m, of } of held) {
    const { goal, decides, own } = of;
    const base = baselineOf(rows, goal.id, m.storage);
    const storage = m.storage ? STORAGE_LABELS[m.storage] : 'its storage';
    const note = decides ? '' : own ? ' (its own target; does not decide the exit)' : ' (informational: the target is set for Postgres)';
    const where = `${goal.what} on ${storage}${note}`;
    const { throughput, tail } = ratios(m, base);
    if (throughput === undefined || tail === undefined) {
      lines.push(`- ${where}: **not measured** (${problems(m).length ? 'the row failed' : 'no valid baseline'})`);
      if (decides) ok = false;
      continue;
    }
    const throughputMet = throughput >= goal.min;
    const tailMet = goal.max === undefined || tail <= goal.max;
    if (decides && !(throughputMet && tailMet)) ok = false;
    lines.push(
      `- ${where}: throughput ${shown(throughput * 100, goal.min * 100, 1)}% of ${goal.base} (target ≥ ${pct(goal.min)}%): **${throughputMet ? 'PASS' : 'FAIL'}**; ` +
        (goal.max === undefined
          ? `p99 ${tail.toFixed(2)}× (no p99 target)`
          : `p99 ${shown(tail, goal.max, 2)}× (target ≤ ${goal.max}×): **${tailMet ? 'PASS' : 'FAIL'}**`),
    );
    const [cpu, baseCpu] = [cpuPerRequest(m), base && cpuPerRequest(base)];
    if (cpu !== undefined && baseCpu !== undefined) {
      const counts = [
        [perRequest(m, m.statements), base && perRequest(base, base.statements), 'SQL statements'],
        [perRequest(m, m.redisCommands), base && perRequest(base, base.redisCommands), 'Redis commands'],
      ] as const;
      const where = counts
        .filter(([ours]) => ours !== undefined)
        .map(
          ([ours, theirs, what]) =>
            `${formatCount(ours)} ${what} per request${theirs === undefined ? '' : ` against ${formatCount(theirs)}`}`,
        );
      const [storage, baseStorage] = [perRequest(m, m.storageCpuMicros), base && perRequest(base, base.storageCpuMicros)];
      const beside =
        storage === undefined
          ? ''
          : `; Postgres and Redis used ${Math.round(storage)} µs of CPU per request beside it` +
            `${baseStorage === undefined ? '' : ` against ${Math.round(baseStorage)} µs`}`;
      lines.push(
        `  - CPU per request in the server process: ${Math.round(cpu)} µs against ${Math.round(baseCpu)} µs (${((baseCpu / cpu) * 100).toFixed(0)}% of its efficiency)` +
          `${where.length ? `; ${where.join(', ')}` : ''}${beside}.`,
      );
    }
  }
  const memory = memoryVerdict(rows);
  const ceiling = workersCeiling(rows, cores);
  return { lines: [...lines, ...(ceiling ? [ceiling.line] : []), ...memory.lines], ok: ok && memory.ok };
}

/** The checklist line saying whether every response was the expected one, or which rows are invalid and why. */
export function validity(rows: Measured[]): string {
  const invalid = rows.filter((r) => problems(r).length);
  return invalid.length
    ? `- **Run invalid**: ${invalid.map((r) => `${scenario(r.scenario).title}, ${r.label}: ${problems(r).join(', ')}`).join('; ')}`
    : '- Every response had the expected status (200, holding a successful tool result at /mcp; 302 or 303 then 200 for the round trip).';
}

export function benchReport(measured: Measured[], settings: Settings): Verdict {
  const rows = combineRounds(measured);
  const rounds = rows.flatMap((m) => {
    const spec = scenario(m.scenario);
    return m.target === spec.baseline
      ? []
      : [roundLine(m, baselineOf(rows, m.scenario, m.storage))].filter((l): l is string => l !== undefined);
  });
  const run = SCENARIOS.filter((s) => rows.some((r) => r.scenario === s.id));
  const { lines: goals, ok: goalsMet } = verdicts(rows, settings.cores);
  const stored = rows.filter((r) => r.stored !== undefined).map((r) => `${scenario(r.scenario).title}, ${r.label}: ${r.stored}`);
  const busiest = Math.max(0, ...rows.map((r) => r.loadBefore));
  const valid = rows.every((r) => !problems(r).length);
  const markdown = [
    '# Benchmark report',
    '',
    `Machine: ${settings.machine}. Date: ${settings.date}.`,
    '',
    `${settings.connections} connections${run
      .filter((s) => s.connections !== undefined)
      .map((s) => ` (${s.title}: ${s.connections})`)
      .join('')}; ${settings.warmup} s warm-up, then ${settings.duration} s measured per row; storage: ` +
      `${settings.storages.map((s) => STORAGE_LABELS[s]).join(' and ')}. Each server runs alone in its own process, one after ` +
      `the other, the load generator in another; every oidc-provider target logs at \`${settings.logLevel}\` to /dev/null.`,
    '',
    ...(settings.rounds && settings.rounds > 1
      ? [
          `Scenarios with a target (client credentials, refresh rotation, introspection, the resource API, the MCP server, 2 workers against 1) run in ${settings.rounds} rounds, each round measuring ` +
            "every row of the scenario once, ours just before its baseline. Their rows show the rounds' medians (counts are " +
            "summed), and their ratios are the medians of each round's ratio to the baseline of the same round.",
          '',
        ]
      : []),
    ...table(rows),
    '',
    ...(settings.idle ? [...idleTable(settings.idle, settings.idleSettle ?? 0), ''] : []),
    ...(rounds.length ? ['Ratios of each round (throughput / p99), in the order they ran:', '', ...rounds, ''] : []),
    '## Targets',
    '',
    ...goals,
    validity(rows),
    ...(busiest > settings.cores + 1
      ? [
          `- **Caution**: the host was busy with other work (load average up to ${busiest.toFixed(1)} on ${settings.cores} cores); rerun on a quiet host.`,
        ]
      : []),
    '',
    '## What each row measures',
    '',
    ...run.map((s) => `- **${s.title}**: ${s.sends}.`),
    '- **oauth3** is startServer with all of our middleware on the named storage; **oidc-provider in memory** is ' +
      'createProvider with the same configuration, keys and client metadata on an in-memory adapter that ' +
      'keeps every token (bench/memory-adapter.ts), without our middleware (the owner account is still read from the database); **bare Koa** answers a fixed discovery document ' +
      'or a token-like JSON body (the floor of HTTP, Koa and JSON); **bare proxy** forwards the post to the same fake upstream; ' +
      "**oauth3 MCP server** is the resource API's server answering at /mcp, where its `post_tweet` tool runs the same " +
      'action as `POST /api/bench/posts`, and every body is checked to be a successful tool result.',
    "- Ratios are to the scenario's baseline row, measured in the same run. Peak RSS is the target process's " +
      'resident-set high-water mark (setup and warm-up included). CPU µs/req is the CPU the target process used in the ' +
      'measured window per response. SQL statements/req and Redis commands/req are what the target process sent its ' +
      "database and Redis in the same window per response (our server's oauth3_db_statements_total and " +
      "oauth3_redis_commands_total; a transaction's BEGIN and COMMIT count, a Redis script counts as one command); the " +
      "in-memory baseline's statements are its account reads; a dash: no such storage. Postgres + Redis CPU µs/req is " +
      'the CPU every Postgres and Redis process on the machine used in the same window per response (read from /proc; ' +
      "the baselines' owner reads included): work on the same cores as the server that an in-memory baseline does not have.",
    ...(run.some((s) => s.id === 'authorization-code' || s.id === 'refresh' || s.id === 'refresh-one-client')
      ? [
          '- A round trip (GET /auth, then POST /token) is one unit: its rate is round trips per second and its latency both ' +
            'requests together. Round trips and refresh rotation are driven by bench/chains.ts (one request in flight per ' +
            'connection, keep-alive), the other scenarios by autocannon; the session, grants and refresh tokens are seeded ' +
            "through oidc-provider's models before the load, one refresh-token chain per connection.",
        ]
      : []),
    ...(stored.length
      ? [
          `- Rows our server stored during each run, warm-up included (tokens, or access-log rows of successful calls): ${stored.join('; ')}.`,
        ]
      : []),
    '',
  ].join('\n');
  return { ok: valid && goalsMet, markdown };
}
