import autocannon from 'autocannon';
import type { LoadOptions, LoadResult } from './protocol.js';

/**
 * The load generator, in its own process: a warm-up run whose numbers are thrown away, then the measured run.
 * Latency percentiles come from every response's own time (autocannon's histogram rounds to whole milliseconds).
 */
function run(options: LoadOptions, seconds: number, onResponse?: (status: number, ms: number) => void): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.url,
        method: 'POST',
        headers: { authorization: options.authorization, 'content-type': options.contentType ?? 'application/x-www-form-urlencoded' },
        body: options.body,
        connections: options.connections,
        duration: seconds,
        timeout: 10,
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
    if (onResponse) instance.on('response', (_client, status, _bytes, ms) => onResponse(status, ms));
  });
}

function percentile(sorted: Float64Array, p: number): number {
  if (!sorted.length) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function measure(options: LoadOptions): Promise<LoadResult> {
  if (options.warmupSeconds > 0) await run(options, options.warmupSeconds);
  // The orchestrator tells the target, which then counts its CPU from here.
  await new Promise<void>((resolve) => process.send!({ type: 'measuring' }, () => resolve()));
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const result = await run(options, options.durationSeconds, (status, ms) => {
    latencies.push(ms);
    statuses[status] = (statuses[status] ?? 0) + 1;
  });
  const sorted = Float64Array.from(latencies).sort();
  const seconds = (new Date(result.finish).getTime() - new Date(result.start).getTime()) / 1000;
  return {
    requests: latencies.length,
    seconds,
    reqPerSec: latencies.length / seconds,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    statuses,
    errors: result.errors,
    timeouts: result.timeouts,
  };
}

const options = JSON.parse(process.argv[2]!) as LoadOptions;
const result = await measure(options);
process.send!(result, () => process.exit(0));
