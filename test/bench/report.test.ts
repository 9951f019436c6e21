import { describe, expect, it } from '@jest/globals';
import type { LoadResult, Scenario, StorageKind, TargetName } from '../../bench/protocol.js';
import {
  benchReport,
  combineRounds,
  formatMemory,
  median,
  problems,
  ratios,
  table,
  verdicts,
  workersCeiling,
  type Measured,
  type Settings,
} from '../../bench/report.js';
import { parseOnly, parseStorage, rowsOf, scenario, targetLabel } from '../../bench/scenarios.js';
import { Tally, percentile } from '../../bench/stats.js';
import { NOT_A_TOOL_RESULT, isToolSuccess } from '../../bench/protocol.js';

/** The benchmark report's arithmetic and verdicts on made-up rows: no server and no load here. */

const settings: Settings = {
  connections: 50,
  warmup: 2,
  duration: 10,
  logLevel: 'info',
  storages: ['postgres', 'embedded'],
  machine: 'Test CPU, 2 cores',
  cores: 2,
  date: '2026-01-01T00:00:00.000Z',
};

function result(
  reqPerSec: number,
  p99: number,
  statuses: Record<string, number> = { 200: reqPerSec * 10 },
  extra: Partial<LoadResult> = {},
): LoadResult {
  const requests = Object.values(statuses).reduce((a, b) => a + b, 0);
  return { requests, seconds: 10, reqPerSec, p50: p99 / 2, p99, statuses, expected: ['200'], errors: 0, timeouts: 0, ...extra };
}

function row(
  id: Scenario,
  target: TargetName,
  storage: StorageKind | undefined,
  r: LoadResult | undefined,
  extra: Partial<Measured> = {},
): Measured {
  return {
    scenario: id,
    target,
    ...(storage ? { storage } : {}),
    label: targetLabel(target, storage),
    loadBefore: 0.5,
    ...(r ? { result: r } : { failure: 'did not start' }),
    // Under the memory target unless a test says otherwise.
    ...(r && storage === 'postgres' ? { maxRssBytes: 150 * 2 ** 20 } : {}),
    ...extra,
  };
}

/** The line of the table for a row whose label is `label` (and, when given, in `title`'s scenario), split into cells. */
function cells(markdown: string[], label: string, title?: string): string[] {
  const line = markdown.find((l) => l.includes(`| ${label} |`) && (!title || l.startsWith(`| ${title}`)));
  if (!line) throw new Error(`no row for ${label}`);
  return line
    .split('|')
    .slice(1, -1)
    .map((c) => c.trim());
}

describe('benchmark report', () => {
  it('gives every row its ratio to the baseline of its own scenario', () => {
    const rows = [
      row('client-credentials', 'ours', 'postgres', result(900, 12), {
        cpuMicros: 9000 * 1000,
        maxRssBytes: 150 * 2 ** 20,
        statements: 9000 * 2.5,
        redisCommands: 9000 * 0.25,
        storageCpuMicros: 9000 * 180.4,
      }),
      row('client-credentials', 'in-memory', undefined, result(1000, 10), { cpuMicros: 7000 * 1000, statements: 0 }),
      row('client-credentials', 'bare-koa', undefined, result(4000, 5)),
      row('discovery', 'ours', 'postgres', result(2000, 8)),
      row('discovery', 'bare-koa', undefined, result(5000, 4)),
    ];
    const md = table(rows);
    const ours = cells(md, 'oauth3, Postgres + Redis', 'Client credentials');
    // req/s, p50, p99, peak RSS, CPU µs, SQL statements and Redis commands per request, Postgres's and Redis's CPU µs
    // per request, ratios.
    expect(ours.slice(2, 12)).toEqual(['900', '6.00', '12.00', '150 MiB', '1000', '2.5', '0.3', '180', '90%', '1.20×']);
    // Counted as none (no account read here) is 0.0; not counted (no Redis) is a dash, as is a storage CPU not read.
    expect(cells(md, 'oidc-provider in memory').slice(7, 10)).toEqual(['0.0', '—', '—']);
    expect(md[0]).toContain('| CPU µs/req | SQL statements/req | Redis commands/req | Postgres + Redis CPU µs/req |');
    expect(cells(md, 'oidc-provider in memory').slice(10, 12)).toEqual(['baseline', 'baseline']);
    expect(cells(md, 'bare Koa', 'Client credentials').slice(10, 12)).toEqual(['400%', '0.50×']);
    // Discovery's baseline is bare Koa, not the client-credentials one.
    expect(cells(md, 'oauth3, Postgres + Redis', 'Discovery').slice(10, 12)).toEqual(['40%', '2.00×']);
    expect(cells(md, 'bare Koa', 'Discovery').slice(10, 12)).toEqual(['baseline', 'baseline']);
  });

  it('marks the run invalid for any response that was not the expected status', () => {
    const rows = [
      row('client-credentials', 'ours', 'postgres', result(950, 10, { 200: 9000, 500: 3 })),
      row('client-credentials', 'in-memory', undefined, result(1000, 10)),
    ];
    expect(problems(rows[0]!)).toEqual(['3 × HTTP 500']);
    const report = benchReport(rows, settings);
    expect(report.ok).toBe(false);
    expect(report.markdown).toContain('**FAILED: 3 × HTTP 500**');
    expect(report.markdown).toContain('- **Run invalid**: Client credentials, oauth3, Postgres + Redis: 3 × HTTP 500');
    // An invalid row gets no ratio, so no verdict passes on it.
    expect(cells(report.markdown.split('\n'), 'oauth3, Postgres + Redis').slice(10, 12)).toEqual(['—', '—']);
    expect(report.markdown).toContain('Token endpoint on Postgres + Redis: **not measured** (the row failed)');
  });

  it('accepts 302 or 303 then 200 for a round trip, and nothing else', () => {
    const expected = ['/auth 302 → /token 200', '/auth 303 → /token 200'];
    const good = row('authorization-code', 'ours', 'postgres', result(100, 50, { '/auth 303 → /token 200': 1000 }, { expected }));
    expect(problems(good)).toEqual([]);
    const bad = row(
      'authorization-code',
      'ours',
      'postgres',
      result(
        100,
        50,
        {
          '/auth 303 → /token 200': 990,
          '/auth 303 (login_required)': 4,
          '/auth 303 → /token 400': 6,
        },
        { expected },
      ),
    );
    expect(problems(bad)).toEqual(['4 × /auth 303 (login_required)', '6 × /auth 303 → /token 400']);
  });

  it('flags socket errors, timeouts, no responses, responses that skipped storage and rows that never ran', () => {
    expect(problems(row('refresh', 'ours', 'embedded', result(10, 5, { 200: 100 }, { errors: 2, timeouts: 1 })))).toEqual([
      '2 socket errors',
      '1 timeouts',
    ]);
    expect(problems(row('refresh', 'ours', 'embedded', result(0, Number.NaN, {})))).toEqual(['no responses']);
    expect(problems(row('refresh', 'ours', 'embedded', result(10, 5, { 200: 100 }), { stored: 99 }))).toEqual([
      'only 99 rows stored for 100 responses',
    ]);
    expect(problems(row('refresh', 'ours', 'embedded', result(10, 5, { 200: 100 }), { stored: 150 }))).toEqual([]);
    expect(problems(row('refresh', 'ours', 'embedded', undefined, { failure: 'GET /auth gave no code' }))).toEqual([
      'GET /auth gave no code',
    ]);
  });

  it('gives no ratio and no verdict without a valid baseline', () => {
    const rows = [
      row('client-credentials', 'ours', 'postgres', result(900, 12)),
      row('resource', 'resource', 'postgres', result(900, 12)),
      row('resource', 'bare-proxy', undefined, undefined, { failure: 'fake upstream did not start' }),
    ];
    const md = table(rows);
    expect(cells(md, 'oauth3, Postgres + Redis').slice(10, 12)).toEqual(['—', '—']);
    expect(cells(md, 'oauth3 resource API, Postgres + Redis').slice(10, 12)).toEqual(['—', '—']);
    expect(cells(md, 'bare proxy')).toEqual([
      'Resource API call',
      'bare proxy',
      '—',
      '—',
      '—',
      '—',
      '—',
      '—',
      '—',
      '—',
      'baseline',
      'baseline',
      '**FAILED: fake upstream did not start**',
      '0.50',
    ]);
    const v = verdicts(rows);
    expect(v.ok).toBe(false);
    expect(v.lines).toEqual([
      '- Token endpoint on Postgres + Redis: **not measured** (no valid baseline)',
      '- Resource API on Postgres + Redis: **not measured** (no valid baseline)',
      '- Peak RSS of our server on Postgres + Redis under the bench load: highest 157 MB (Client credentials, oauth3, Postgres + Redis) of 2 rows (target ≤ 200 MB on every row): **PASS**',
      '  - Each row: Client credentials, oauth3, Postgres + Redis 157 MB; Resource API call, oauth3 resource API, Postgres + Redis 157 MB.',
    ]);
  });

  it('holds the token endpoint and resource API to their targets, decided by the Postgres rows only', () => {
    const rows = (cc: number, api: number, embeddedCc: number, ccP99 = 10.9, apiP99 = 12.9) => [
      row('client-credentials', 'ours', 'postgres', result(cc, ccP99)),
      row('client-credentials', 'ours', 'embedded', result(embeddedCc, 12)),
      row('client-credentials', 'in-memory', undefined, result(1000, 10)),
      row('resource', 'resource', 'postgres', result(api, apiP99)),
      row('resource', 'bare-proxy', undefined, result(1000, 10)),
    ];
    const pass = benchReport(rows(960, 860, 100), settings);
    expect(pass.ok).toBe(true);
    expect(pass.markdown).toContain(
      '- Token endpoint on Postgres + Redis: throughput 96.0% of in-memory oidc-provider (target ≥ 95%): **PASS**; p99 1.09× (target ≤ 1.1×): **PASS**',
    );
    expect(pass.markdown).toContain(
      '- Resource API on Postgres + Redis: throughput 86.0% of the bare proxy (target ≥ 85%): **PASS**; p99 1.29× (target ≤ 1.3×): **PASS**',
    );
    expect(pass.markdown).toContain(
      '- Token endpoint on embedded PGlite (informational: the target is set for Postgres): throughput 10.0% of in-memory oidc-provider (target ≥ 95%): **FAIL**',
    );
    expect(pass.markdown).toContain('- Every response had the expected status');
    expect(benchReport(rows(940, 860, 900), settings).ok).toBe(false);
    expect(benchReport(rows(960, 840, 900), settings).ok).toBe(false);
    expect(benchReport(rows(960, 860, 900, 11.2), settings).ok).toBe(false);
    expect(benchReport(rows(960, 860, 900, 10.9, 13.1), settings).ok).toBe(false);
    // A miss by less than the printed precision is printed with enough digits to show it.
    const justOver = verdicts([
      row('client-credentials', 'ours', 'postgres', result(1000, 11.0012)),
      row('client-credentials', 'in-memory', undefined, result(1000, 10)),
    ]);
    expect(justOver.lines[0]).toContain('p99 1.1001× (target ≤ 1.1×): **FAIL**');
  });

  it('holds refresh rotation and introspection to their Postgres targets, and the embedded rows to their own without deciding', () => {
    const rows = (refresh: number, refreshP99: number, introspection: number, introspectionP99: number, embedded: number) => [
      row('refresh', 'ours', 'postgres', result(refresh, refreshP99)),
      row('refresh', 'ours', 'embedded', result(embedded, 40)),
      row('refresh', 'in-memory', undefined, result(1000, 10)),
      row('introspection', 'ours', 'postgres', result(introspection, introspectionP99)),
      row('introspection', 'ours', 'embedded', result(embedded, 40)),
      row('introspection', 'in-memory', undefined, result(1000, 10)),
    ];
    const pass = benchReport(rows(860, 12.5, 910, 12.5, 610), settings);
    expect(pass.ok).toBe(true);
    expect(pass.markdown).toContain(
      '- Refresh rotation on Postgres + Redis: throughput 86.0% of in-memory oidc-provider (target ≥ 85%): **PASS**; p99 1.25× (target ≤ 1.25×): **PASS**',
    );
    expect(pass.markdown).toContain(
      '- Introspection on Postgres + Redis: throughput 91.0% of in-memory oidc-provider (target ≥ 90%): **PASS**; p99 1.25× (target ≤ 1.25×): **PASS**',
    );
    expect(pass.markdown).toContain(
      '- Refresh rotation on embedded PGlite (its own target; does not decide the exit): throughput 61.0% of in-memory oidc-provider (target ≥ 60%): **PASS**; p99 4.00× (no p99 target)',
    );
    expect(pass.markdown).toContain(
      '- Introspection on embedded PGlite (its own target; does not decide the exit): throughput 61.0% of in-memory oidc-provider (target ≥ 60%): **PASS**',
    );
    // The embedded rows missing their own target do not fail the run; a Postgres row missing its own does.
    const embeddedMiss = benchReport(rows(860, 12.5, 910, 12.5, 590), settings);
    expect(embeddedMiss.ok).toBe(true);
    expect(embeddedMiss.markdown).toContain('throughput 59.0% of in-memory oidc-provider (target ≥ 60%): **FAIL**');
    expect(benchReport(rows(840, 12.5, 910, 12.5, 610), settings).ok).toBe(false);
    expect(benchReport(rows(860, 12.6, 910, 12.5, 610), settings).ok).toBe(false);
    expect(benchReport(rows(860, 12.5, 890, 12.5, 610), settings).ok).toBe(false);
    expect(benchReport(rows(860, 12.5, 910, 12.6, 610), settings).ok).toBe(false);
  });

  it('holds every Postgres + Redis row of our server to the peak memory target, and no other row', () => {
    const mib = 2 ** 20;
    const rows = (refreshPeak: number) => [
      row('refresh', 'ours', 'postgres', result(900, 10), { maxRssBytes: refreshPeak }),
      row('refresh', 'ours', 'embedded', result(700, 10), { maxRssBytes: 400 * mib }),
      row('refresh', 'in-memory', undefined, result(1000, 10), { maxRssBytes: 300 * mib }),
      row('mcp', 'mcp', 'postgres', result(900, 10), { maxRssBytes: 180 * mib }),
      row('mcp', 'resource', 'postgres', result(1000, 10), { maxRssBytes: 170 * mib }),
    ];
    const pass = verdicts(rows(190 * mib));
    expect(pass.ok).toBe(true);
    expect(pass.lines).toContain(
      '- Peak RSS of our server on Postgres + Redis under the bench load: highest 199 MB (Refresh rotation, oauth3, Postgres + Redis) of 3 rows (target ≤ 200 MB on every row): **PASS**',
    );
    expect(pass.lines).toContain(
      '  - Each row: Refresh rotation, oauth3, Postgres + Redis 199 MB; MCP tool call, oauth3 MCP server, Postgres + Redis 189 MB; MCP tool call, oauth3 resource API, Postgres + Redis 178 MB.',
    );
    // 200 MB is 200 × 10^6 bytes (about 191 MiB): exactly that passes, a byte more does not.
    expect(verdicts(rows(200e6)).ok).toBe(true);
    const fail = verdicts(rows(200e6 + 1));
    expect(fail.ok).toBe(false);
    expect(fail.lines.find((l) => l.startsWith('- Peak RSS'))).toContain('**FAIL**');
    // A row that reported no peak cannot pass the target.
    const unmeasured = verdicts([row('refresh', 'ours', 'postgres', result(900, 10), { maxRssBytes: undefined })]);
    expect(unmeasured.ok).toBe(false);
    expect(unmeasured.lines.slice(-2)).toEqual([
      '- Peak RSS of our server on Postgres + Redis: **not measured**',
      '  - Not measured: Refresh rotation, oauth3, Postgres + Redis.',
    ]);
  });

  it('gives SQL statements and Redis commands per request beside the CPU in the verdicts', () => {
    const v = verdicts([
      row('refresh', 'ours', 'postgres', result(900, 10), { cpuMicros: 9000 * 700, statements: 9000 * 3.8, redisCommands: 0 }),
      row('refresh', 'in-memory', undefined, result(1000, 10), { cpuMicros: 10_000 * 600, statements: 10_000 }),
    ]);
    expect(v.lines).toContain(
      '  - CPU per request in the server process: 700 µs against 600 µs (86% of its efficiency); 3.8 SQL statements per request against 1.0, 0.0 Redis commands per request.',
    );
  });

  it("gives the CPU Postgres and Redis used per request beside the server's, where it was read", () => {
    const v = verdicts([
      row('refresh', 'ours', 'postgres', result(900, 10), { cpuMicros: 9000 * 700, statements: 9000 * 0.3, storageCpuMicros: 9000 * 380 }),
      row('refresh', 'in-memory', undefined, result(1000, 10), {
        cpuMicros: 10_000 * 450,
        statements: 1000,
        storageCpuMicros: 10_000 * 23,
      }),
    ]);
    expect(v.lines).toContain(
      '  - CPU per request in the server process: 700 µs against 450 µs (64% of its efficiency); 0.3 SQL statements per request against 0.1; Postgres and Redis used 380 µs of CPU per request beside it against 23 µs.',
    );
  });

  it('compares the MCP server with the resource API on its own storage, against the MCP target', () => {
    const rows = (pgMcp: number, pgP99: number) => [
      row('mcp', 'mcp', 'postgres', result(pgMcp, pgP99)),
      row('mcp', 'resource', 'postgres', result(1000, 10)),
      row('mcp', 'mcp', 'embedded', result(300, 20)),
      row('mcp', 'resource', 'embedded', result(500, 10)),
    ];
    const pass = benchReport(rows(710, 15), settings);
    const md = pass.markdown.split('\n');
    expect(cells(md, 'oauth3 MCP server, Postgres + Redis').slice(10, 12)).toEqual(['71%', '1.50×']);
    // The embedded row's baseline is the embedded resource API, not the Postgres one.
    expect(cells(md, 'oauth3 MCP server, embedded PGlite').slice(10, 12)).toEqual(['60%', '2.00×']);
    expect(cells(md, 'oauth3 resource API, embedded PGlite', 'MCP tool call').slice(10, 12)).toEqual(['baseline', 'baseline']);
    expect(pass.markdown).toContain(
      '- MCP server on Postgres + Redis: throughput 71.0% of the resource API on the same storage (target ≥ 70%): **PASS**; p99 1.50× (target ≤ 1.5×): **PASS**',
    );
    expect(pass.markdown).toContain('- MCP server on embedded PGlite (informational: the target is set for Postgres): throughput 60.0%');
    expect(pass.ok).toBe(true);
    expect(benchReport(rows(690, 10), settings).ok).toBe(false);
    expect(benchReport(rows(900, 15.1), settings).ok).toBe(false);
    // Without its own storage's baseline, a row has no ratio and no verdict.
    const v = verdicts([row('mcp', 'mcp', 'postgres', result(900, 10)), row('mcp', 'resource', 'embedded', result(1000, 10))]);
    expect(v.ok).toBe(false);
    expect(v.lines[0]).toBe('- MCP server on Postgres + Redis: **not measured** (no valid baseline)');
  });

  it('marks an MCP row invalid for 200s that were not successful tool results', () => {
    const bad = row('mcp', 'mcp', 'postgres', result(900, 10, { 200: 8990, [NOT_A_TOOL_RESULT]: 10 }));
    expect(problems(bad)).toEqual([`10 × ${NOT_A_TOOL_RESULT}`]);
  });

  it('combines rounds into medians of rates and latencies and sums of counts', () => {
    const rounds = [result(900, 12), result(1000, 20), result(700, 11)].map((r, i) =>
      row('client-credentials', 'ours', 'postgres', r, {
        round: i + 1,
        cpuMicros: 1000 * (i + 1),
        stored: 10_000,
        maxRssBytes: (100 + i) * 2 ** 20,
        loadBefore: i,
      }),
    );
    const [combined] = combineRounds(rounds);
    expect(combined!.rounds).toHaveLength(3);
    expect(combined!.result).toMatchObject({ reqPerSec: 900, p99: 12, p50: 6, requests: 26_000, seconds: 30, statuses: { 200: 26_000 } });
    expect(combined).toMatchObject({ cpuMicros: 6000, stored: 30_000, maxRssBytes: 102 * 2 ** 20, loadBefore: 2 });
    // Statements and commands are summed like the CPU, so per request they are over every round's responses.
    const counted = combineRounds(rounds.map((r, i) => ({ ...r, statements: 100 * (i + 1), redisCommands: 10 })));
    expect(counted[0]).toMatchObject({ statements: 600, redisCommands: 30 });
    // A round without a count (a target with no database) leaves the combined row without one.
    expect(combineRounds([{ ...rounds[0]!, statements: 5 }, rounds[1]!])[0]!.statements).toBeUndefined();
    expect(median([3, 1, 2, 10])).toBe(2.5);
    // A single measurement stays as it was.
    expect(combineRounds([rounds[0]!])).toEqual([rounds[0]]);
  });

  it('pairs each round with the baseline of the same round and takes the median of the paired ratios', () => {
    // The host slowed down in round 2 for both sides: paired, every round says 90% and 1.2×.
    const ours = [result(900, 12), result(450, 24), result(900, 12)].map((r, i) =>
      row('client-credentials', 'ours', 'postgres', r, { round: i + 1 }),
    );
    const base = [result(1000, 10), result(500, 20), result(1000, 10)].map((r, i) =>
      row('client-credentials', 'in-memory', undefined, r, { round: i + 1 }),
    );
    const [o, b] = combineRounds([...ours, ...base]);
    const { throughput, tail } = ratios(o!, b);
    expect(throughput).toBeCloseTo(0.9);
    expect(tail).toBeCloseTo(1.2);
    const report = benchReport([ours[0]!, base[0]!, ours[1]!, base[1]!, ours[2]!, base[2]!], { ...settings, rounds: 3 });
    expect(report.markdown).toContain('run in 3 rounds');
    expect(report.markdown).toContain('- Client credentials, oauth3, Postgres + Redis: 90% / 1.20×; 90% / 1.20×; 90% / 1.20×');
    expect(report.markdown).toContain(
      'throughput 90.0% of in-memory oidc-provider (target ≥ 95%): **FAIL**; p99 1.20× (target ≤ 1.1×): **FAIL**',
    );
    expect(cells(report.markdown.split('\n'), 'oauth3, Postgres + Redis').slice(10, 12)).toEqual(['90%', '1.20×']);
  });

  it('fails a combined row when any of its rounds failed', () => {
    const rows = [
      row('resource', 'resource', 'postgres', result(900, 12), { round: 1 }),
      row('resource', 'resource', 'postgres', undefined, { round: 2, failure: 'did not start' }),
      row('resource', 'bare-proxy', undefined, result(1000, 10), { round: 1 }),
      row('resource', 'bare-proxy', undefined, result(1000, 10), { round: 2 }),
    ];
    const report = benchReport(rows, { ...settings, rounds: 2 });
    expect(report.ok).toBe(false);
    expect(report.markdown).toContain('**FAILED: round 2: did not start**');
    expect(report.markdown).toContain('- Resource API call, oauth3 resource API, Postgres + Redis: 90% / 1.20×; invalid');
  });

  it('shows peak memory in MiB, or a dash when the process never reported it', () => {
    expect(formatMemory(150 * 2 ** 20)).toBe('150 MiB');
    expect(formatMemory(1.6 * 2 ** 30)).toBe('1638 MiB');
    expect(formatMemory(undefined)).toBe('—');
    expect(formatMemory(0)).toBe('—');
    const md = table([
      row('discovery', 'bare-koa', undefined, result(10, 1), { maxRssBytes: 80 * 2 ** 20 }),
      row('discovery', 'ours', 'embedded', result(10, 1)),
    ]);
    expect(cells(md, 'bare Koa')[5]).toBe('80 MiB');
    expect(cells(md, 'oauth3, embedded PGlite')[5]).toBe('—');
  });

  it("shows the embedded server's memory at rest after a first start and a restart, when it was measured", () => {
    const rows = [row('discovery', 'ours', 'embedded', result(10, 1)), row('discovery', 'bare-koa', undefined, result(10, 1))];
    const idle = {
      first: { rssBytes: 190 * 2 ** 20, peakBytes: 230 * 2 ** 20 },
      restart: { rssBytes: 225 * 2 ** 20, peakBytes: 231 * 2 ** 20 },
    };
    const md = benchReport(rows, { ...settings, idle, idleSettle: 8 }).markdown.split('\n');
    expect(md).toContain('| Embedded PGlite, no load | RSS 8 s after start | Peak RSS |');
    expect(cells(md, 'First start (new DATA_DIR)')).toEqual(['First start (new DATA_DIR)', '190 MiB', '230 MiB']);
    expect(cells(md, 'Restart (same DATA_DIR)')).toEqual(['Restart (same DATA_DIR)', '225 MiB', '231 MiB']);
    expect(benchReport(rows, settings).markdown).not.toContain('Embedded PGlite, no load');
  });

  it('names the machine, the settings, the scenarios run and a busy host', () => {
    const rows = [
      row('refresh', 'ours', 'postgres', result(100, 10), { loadBefore: 9.5 }),
      row('refresh', 'in-memory', undefined, result(200, 10)),
    ];
    const { markdown } = benchReport(rows, settings);
    expect(markdown).toContain('Machine: Test CPU, 2 cores. Date: 2026-01-01T00:00:00.000Z.');
    expect(markdown).toContain('50 connections; 2 s warm-up, then 10 s measured per row; storage: Postgres + Redis and embedded PGlite.');
    const alone = benchReport(
      [row('refresh-one-client', 'ours', 'postgres', result(20, 40)), row('refresh-one-client', 'in-memory', undefined, result(100, 5))],
      settings,
    ).markdown;
    expect(alone).toContain('50 connections (Refresh rotation, one client: 1); 2 s warm-up');
    // A lone client has no target: no verdict but the memory one.
    expect(alone).not.toContain('- Refresh rotation on Postgres + Redis');
    expect(markdown).toContain('- **Refresh rotation**: POST /token, grant_type=refresh_token');
    expect(markdown).not.toContain('- **Discovery**');
    expect(markdown).toContain('load average up to 9.5 on 2 cores');
    expect(markdown).toContain('driven by bench/chains.ts');
    const discoveryOnly = benchReport(
      [row('discovery', 'ours', 'postgres', result(100, 10)), row('discovery', 'bare-koa', undefined, result(200, 10))],
      settings,
    );
    expect(discoveryOnly.markdown).not.toContain('bench/chains.ts');
    expect(discoveryOnly.markdown).not.toContain('**Caution**');
  });
});

describe('the workers row', () => {
  // One worker: 2500 req/s over 10 s, 300 µs of its CPU, 50 µs of the load generator's and 650 µs of the machine's
  // per request: 100 µs went to Postgres, Redis and the kernel.
  const one = row('workers', 'one-worker', 'postgres', result(2500, 20, { 200: 25_000 }, { cpuMicros: 25_000 * 50 }), {
    cpuMicros: 25_000 * 300,
    machineCpuMicros: 25_000 * 450,
  });

  it('is judged against one worker and says what the machine allows', () => {
    const two = row('workers', 'two-workers', 'postgres', result(3900, 18, { 200: 39_000 }), { cpuMicros: 39_000 * 310 });
    const v = verdicts([two, one], 2);
    expect(v.ok).toBe(false);
    expect(v.lines.join('\n')).toContain(
      'Token endpoint with 2 workers on Postgres + Redis: throughput 156.0% of the same with 1 worker (target ≥ 160%): **FAIL**',
    );
    // 2 cores of 450 µs requests: 4444 req/s at most, 178% of one worker.
    const ceiling = workersCeiling([two, one], 2)!;
    expect(ceiling.ceiling).toBeCloseTo(2e6 / 450 / 2500, 5);
    expect(ceiling.line).toContain('300 µs of CPU in oauth3, 50 µs in the load generator and 100 µs elsewhere');
    expect(ceiling.line).toContain('passes 178% of the one-worker row');
    // Where Postgres's and Redis's own CPU was read, it is named apart from the rest.
    const split = workersCeiling([two, { ...one, storageCpuMicros: 25_000 * 70 }], 2)!;
    expect(split.line).toContain('50 µs in the load generator and 70 µs in Postgres and Redis and 30 µs elsewhere (the kernel');
    expect(split.ceiling).toBe(ceiling.ceiling);
    expect(verdicts([row('workers', 'two-workers', 'postgres', result(4100, 18)), one], 2).lines.join('\n')).toContain(
      'throughput 164.0% of the same with 1 worker (target ≥ 160%): **PASS**',
    );
  });

  it('gives no ceiling without the one-worker row or its CPU counts', () => {
    expect(workersCeiling([], 2)).toBeUndefined();
    expect(workersCeiling([row('workers', 'one-worker', 'postgres', result(2500, 20))], 2)).toBeUndefined();
  });
});

describe('benchmark statistics and options', () => {
  it('takes nearest-rank percentiles', () => {
    const sorted = Float64Array.from({ length: 100 }, (_, i) => i + 1);
    expect([percentile(sorted, 50), percentile(sorted, 99), percentile(sorted, 100)]).toEqual([50, 99, 100]);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it('counts a warm-up failure without a latency', () => {
    const tally = new Tally(['200']);
    tally.record('200', 4);
    tally.record('200', 2);
    tally.record('401');
    const r = tally.result(2);
    expect(r).toMatchObject({ requests: 2, reqPerSec: 1, p50: 2, p99: 4, statuses: { 200: 2, 401: 1 }, expected: ['200'] });
    expect(problems(row('refresh', 'ours', 'postgres', r))).toEqual(['1 × HTTP 401']);
  });

  it('moves 200s whose body failed the check to their own outcome, never more than were counted', () => {
    const tally = new Tally(['200']);
    for (let i = 0; i < 5; i++) tally.record('200', 1);
    tally.record('401', 1);
    expect(tally.countOtherThan('200')).toBe(1);
    tally.reclassify('200', NOT_A_TOOL_RESULT, 2);
    tally.reclassify('200', NOT_A_TOOL_RESULT, 0);
    expect(tally.result(1).statuses).toEqual({ 200: 3, 401: 1, [NOT_A_TOOL_RESULT]: 2 });
    tally.reclassify('200', NOT_A_TOOL_RESULT, 10);
    expect(tally.result(1).statuses).toEqual({ 200: 0, 401: 1, [NOT_A_TOOL_RESULT]: 5 });
  });

  it('takes only a successful post for a successful tool result', () => {
    const answer = (result: Record<string, unknown>) => JSON.stringify({ result, jsonrpc: '2.0', id: 1 });
    const done = { status: 'done', result: { id: '7', text: 'hello' } };
    const held = { status: 'pending_approval', approval: { id: 'h1', action: 'bench.post', created_at: '2026-01-01T00:00:00Z' } };
    expect(isToolSuccess(answer({ content: [{ type: 'text', text: JSON.stringify(done) }], structuredContent: done }))).toBe(true);
    expect(isToolSuccess(answer({ content: [{ type: 'text', text: 'held' }], structuredContent: held }))).toBe(false);
    const refused = { 'oauth3/error': { error: 'policy_blocked_word', error_description: 'no' } };
    expect(isToolSuccess(answer({ isError: true, content: [{ type: 'text', text: 'policy_blocked_word: no' }], _meta: refused }))).toBe(
      false,
    );
    // The text copy of a result is escaped JSON: it never passes for the structured result.
    expect(isToolSuccess(answer({ content: [{ type: 'text', text: JSON.stringify(done) }] }))).toBe(false);
    expect(isToolSuccess('{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"bad"}}')).toBe(false);
  });

  it('reads BENCH_ONLY and BENCH_STORAGE', () => {
    expect(parseOnly(undefined)).toEqual([
      'discovery',
      'client-credentials',
      'authorization-code',
      'refresh',
      'refresh-one-client',
      'introspection',
      'resource',
      'mcp',
      'workers',
    ]);
    expect(parseOnly('resource, tokens')).toEqual(['client-credentials', 'resource']);
    expect(parseOnly('mcp,resource')).toEqual(['resource', 'mcp']);
    expect(() => parseOnly('discovery,nope')).toThrow('unknown scenario nope');
    expect(parseStorage(undefined)).toEqual(['postgres', 'embedded']);
    expect(parseStorage('embedded')).toEqual(['embedded']);
    expect(() => parseStorage('mysql')).toThrow('BENCH_STORAGE');
  });

  it('runs ours on every backend, then the baseline, then the floor', () => {
    expect(rowsOf(scenario('client-credentials'), ['postgres', 'embedded'])).toEqual([
      { target: 'ours', storage: 'postgres' },
      { target: 'ours', storage: 'embedded' },
      { target: 'in-memory' },
      { target: 'bare-koa' },
    ]);
    expect(rowsOf(scenario('resource'), ['embedded'])).toEqual([{ target: 'resource', storage: 'embedded' }, { target: 'bare-proxy' }]);
  });

  it('runs the workers rows on Postgres alone: several workers are refused on embedded storage', () => {
    const rows = [
      { target: 'two-workers', storage: 'postgres' },
      { target: 'one-worker', storage: 'postgres' },
    ];
    expect(rowsOf(scenario('workers'), ['postgres', 'embedded'])).toEqual(rows);
    expect(rowsOf(scenario('workers'), ['embedded'])).toEqual([]);
  });

  it('runs the MCP server just before the resource API on each backend', () => {
    expect(rowsOf(scenario('mcp'), ['postgres', 'embedded'])).toEqual([
      { target: 'mcp', storage: 'postgres' },
      { target: 'resource', storage: 'postgres' },
      { target: 'mcp', storage: 'embedded' },
      { target: 'resource', storage: 'embedded' },
    ]);
  });
});
