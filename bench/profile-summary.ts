import { readFileSync } from 'node:fs';
import { frameName, numberOption, placeOf, profileFiles, type CallFrame } from './profiles.js';

/**
 * Summarises V8 CPU profiles (`--cpu-prof`, as BENCH_CPU_PROFILE writes them): where the time went, by place (a
 * package of node_modules, a folder of ours, Node's internals, the garbage collector) both as self time and as time
 * with that place anywhere on the stack, then the functions with the most self time.
 *
 *   npx tsx bench/profile-summary.ts <profile or folder of profiles>… [--skip=<seconds>] [--top=<n>]
 *
 * --skip leaves out each profile's first seconds (the start-up and warm-up before the measured window).
 */
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
let files: string[], SKIP_US: number, TOP: number;
try {
  const named = args.filter((arg) => !arg.startsWith('--'));
  files = profileFiles(named, '.cpuprofile');
  SKIP_US = numberOption(args, 'skip', 0) * 1e6;
  TOP = numberOption(args, 'top', 25);
} catch (error) {
  console.error((error as Error).message);
  process.exit(1);
}

const selfTime = new Map<string, number>();
const placeSelf = new Map<string, number>();
const placeTotal = new Map<string, number>();
let total = 0;
const add = (map: Map<string, number>, key: string, us: number) => map.set(key, (map.get(key) ?? 0) + us);

for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  let at = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    at += us;
    if (at < SKIP_US) return;
    const node = byId.get(id)!;
    if (node.callFrame.functionName === '(idle)') return;
    total += us;
    add(selfTime, frameName(node.callFrame), us);
    add(placeSelf, placeOf(node.callFrame), us);
    const seen = new Set<string>();
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) seen.add(placeOf(byId.get(n)!.callFrame));
    for (const place of seen) add(placeTotal, place, us);
  });
}

const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)} %`;
const top = (map: Map<string, number>, n: number) => [...map].sort((a, b) => b[1] - a[1]).slice(0, n);
console.log(`busy time: ${(total / 1e6).toFixed(2)} s (idle left out)\n`);
console.log('place: self, on the stack');
for (const [place, us] of top(placeSelf, TOP)) console.log(`${pct(us)}  ${pct(placeTotal.get(place) ?? 0)}  ${place}`);
console.log('\nfunctions: self');
for (const [name, us] of top(selfTime, TOP)) console.log(`${pct(us)}  ${name}`);
