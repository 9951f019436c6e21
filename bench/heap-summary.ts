import { readFileSync } from 'node:fs';
import { allocationsOf, type AllocationProfile } from './allocations.js';
import { numberOption, profileFiles } from './profiles.js';

/**
 * Summarises the allocation profiles BENCH_HEAP_PROFILE writes (V8's sampling heap profiler over a row's measured
 * window, freed objects included): bytes allocated per response, by place (a package, a folder of ours, Node's
 * internals) as self and with that place anywhere on the stack, then the functions that allocated the most.
 *
 *   npx tsx bench/heap-summary.ts <profile or folder of profiles>… [--top=<n>]
 *
 * Several profiles (a row's rounds) are summed, their responses too.
 */
const args = process.argv.slice(2);
let files: string[], TOP: number;
try {
  const named = args.filter((arg) => !arg.startsWith('--'));
  files = profileFiles(named, '.heapprofile');
  TOP = numberOption(args, 'top', 25);
} catch (error) {
  console.error((error as Error).message);
  process.exit(1);
}
const sums = allocationsOf(files.map((file) => JSON.parse(readFileSync(file, 'utf8')) as AllocationProfile));
if (sums.responses === 0) {
  console.error('No responses in these profiles: give the files or folders BENCH_HEAP_PROFILE wrote.');
  process.exit(1);
}
const kb = (bytes: number) => `${(bytes / sums.responses / 1024).toFixed(1).padStart(6)} KB`;
const top = (map: Map<string, number>) => [...map].sort((a, b) => b[1] - a[1]).slice(0, TOP);
console.log(`${sums.responses} responses, ${kb(sums.total)} allocated per response\n`);
console.log('place: self, on the stack (per response)');
for (const [place, bytes] of top(sums.byPlace)) console.log(`${kb(bytes)}  ${kb(sums.underPlace.get(place) ?? 0)}  ${place}`);
console.log('\nfunctions: self (per response)');
for (const [name, bytes] of top(sums.byFunction)) console.log(`${kb(bytes)}  ${name}`);
