import autocannon from 'autocannon';
import { NOT_A_TOOL_RESULT, isToolSuccess, type LoadOptions, type LoadResult, type SimpleLoad } from './protocol.js';
import { refreshes, roundTrips } from './chains.js';
import { Tally } from './stats.js';

/**
 * The load generator, in its own process. A single repeated request goes through autocannon: a warm-up run whose
 * numbers are thrown away, then the measured run; latency percentiles come from every response's own time
 * (autocannon's histogram rounds to whole milliseconds). Chained requests (round trips, refresh rotation) go through
 * chains.ts. Either way the orchestrator hears "measuring" when the measured window opens.
 */
function run(options: SimpleLoad, seconds: number, onResponse?: (status: number, ms: number) => void): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.url,
        method: options.method,
        headers: options.headers,
        ...(options.body !== undefined ? { body: options.body } : {}),
        ...(options.verify === 'tool-result' ? { verifyBody: (body: unknown) => isToolSuccess(String(body)) } : {}),
        connections: options.connections,
        duration: seconds,
        timeout: 10,
      },
      (error: unknown, result) =>
        error ? reject(error instanceof Error ? error : new Error('autocannon failed', { cause: error })) : resolve(result),
    );
    if (onResponse) instance.on('response', (_client, status, _bytes, ms) => onResponse(status, ms));
  });
}

/** This process's CPU from the measured window's start: what generating the load cost beside the server. */
let measuredFrom: NodeJS.CpuUsage | undefined;
const measuring = () =>
  new Promise<void>((resolve) => {
    measuredFrom = process.cpuUsage();
    process.send!({ type: 'measuring' }, () => resolve());
  });

async function simple(options: SimpleLoad): Promise<LoadResult> {
  if (options.warmupSeconds > 0) await run(options, options.warmupSeconds);
  // The orchestrator tells the target, which then counts its CPU from here.
  await measuring();
  const tally = new Tally(['200']);
  const result = await run(options, options.durationSeconds, (status, ms) => tally.record(String(status), ms));
  // verifyBody refuses every body that is not a successful tool result, whatever its status; the 200s among them were
  // counted as 200 and are not.
  if (options.verify) tally.reclassify('200', NOT_A_TOOL_RESULT, result.mismatches - tally.countOtherThan('200'));
  // autocannon's errors include its timeouts.
  tally.errors = result.errors - result.timeouts;
  tally.timeouts = result.timeouts;
  return tally.result((new Date(result.finish).getTime() - new Date(result.start).getTime()) / 1000);
}

function measure(options: LoadOptions): Promise<LoadResult> {
  switch (options.kind) {
    case 'simple':
      return simple(options);
    case 'round-trip':
      return roundTrips(options, measuring);
    case 'refresh':
      return refreshes(options, measuring);
  }
}

const options = JSON.parse(process.argv[2]!) as LoadOptions;
const result = await measure(options);
const used = process.cpuUsage(measuredFrom);
process.send!({ ...result, cpuMicros: used.user + used.system } satisfies LoadResult, () => process.exit(0));
