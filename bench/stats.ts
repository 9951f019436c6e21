import type { LoadResult } from './protocol.js';

/** The nearest-rank percentile of sorted latencies; NaN when there are none. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (!sorted.length) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Tallies one measured run: every unit's latency (ms) and outcome, over `seconds`. */
export class Tally {
  private readonly latencies: number[] = [];
  readonly statuses: Record<string, number> = {};
  errors = 0;
  timeouts = 0;

  constructor(private readonly expected: string[]) {}

  /** One unit's outcome; its latency when it was measured (a warm-up failure is counted without one). */
  record(outcome: string, ms?: number): void {
    if (ms !== undefined) this.latencies.push(ms);
    this.statuses[outcome] = (this.statuses[outcome] ?? 0) + 1;
  }

  /** Units recorded with any outcome but `outcome`. */
  countOtherThan(outcome: string): number {
    return Object.entries(this.statuses).reduce((n, [o, count]) => (o === outcome ? n : n + count), 0);
  }

  /** `count` units already recorded as `from` turned out to be `to` (200s whose body was not the expected one). */
  reclassify(from: string, to: string, count: number): void {
    const moved = Math.min(count, this.statuses[from] ?? 0);
    if (moved <= 0) return;
    this.statuses[from]! -= moved;
    this.statuses[to] = (this.statuses[to] ?? 0) + moved;
  }

  result(seconds: number): LoadResult {
    const sorted = Float64Array.from(this.latencies).sort();
    return {
      requests: sorted.length,
      seconds,
      reqPerSec: seconds > 0 ? sorted.length / seconds : 0,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      statuses: this.statuses,
      expected: this.expected,
      errors: this.errors,
      timeouts: this.timeouts,
    };
  }
}
