import diagnostics from 'node:diagnostics_channel';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import { frameName, placeOf, type CallFrame } from './profiles.js';

/** A node of V8's sampling heap profile: the bytes sampled at this frame with this stack above it. */
export interface HeapNode {
  callFrame: CallFrame;
  selfSize: number;
  children: HeapNode[];
}

/** What BENCH_HEAP_PROFILE writes: V8's profile and the responses the window finished. */
export interface AllocationProfile {
  responses: number;
  head: HeapNode;
}

export interface Allocations {
  responses: number;
  /** Bytes of every sample. */
  total: number;
  /** Bytes allocated by each function itself. */
  byFunction: Map<string, number>;
  /** Bytes allocated by each place's own code. */
  byPlace: Map<string, number>;
  /** Bytes allocated with the place anywhere on the stack (each allocation counted once per place). */
  underPlace: Map<string, number>;
}

const add = (map: Map<string, number>, key: string, bytes: number) => map.set(key, (map.get(key) ?? 0) + bytes);

/** Sums profiles (a row's rounds, say): bytes by function and by place, and the responses they served. */
export function allocationsOf(profiles: AllocationProfile[]): Allocations {
  const sums: Allocations = { responses: 0, total: 0, byFunction: new Map(), byPlace: new Map(), underPlace: new Map() };
  const walk = (node: HeapNode, above: Set<string>) => {
    const place = placeOf(node.callFrame);
    const stack = above.has(place) ? above : new Set([...above, place]);
    if (node.selfSize > 0) {
      sums.total += node.selfSize;
      add(sums.byFunction, frameName(node.callFrame), node.selfSize);
      add(sums.byPlace, place, node.selfSize);
      for (const p of stack) add(sums.underPlace, p, node.selfSize);
    }
    for (const child of node.children) walk(child, stack);
  };
  for (const profile of profiles) {
    sums.responses += profile.responses;
    walk(profile.head, new Set());
  }
  return sums;
}

/**
 * BENCH_HEAP_PROFILE: V8's sampling heap profiler from now until `stop`, keeping the samples of objects the collector
 * has already freed, so the profile holds what the window allocated rather than what it left alive; `stop` writes it
 * into the folder with the HTTP responses this process finished meanwhile (Node's diagnostics channel), and returns
 * the file. Sampling every 1 KiB costs the process CPU: a row measured with it is slower than without.
 */
export function recordAllocations(folder: string, label: string): { stop: () => Promise<string> } {
  const session = new Session();
  session.connect();
  let responses = 0;
  const count = () => responses++;
  diagnostics.subscribe('http.server.response.finish', count);
  const started = session.post('HeapProfiler.startSampling', {
    samplingInterval: 1024,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  return {
    async stop() {
      await started;
      const { profile } = await session.post('HeapProfiler.stopSampling');
      diagnostics.unsubscribe('http.server.response.finish', count);
      session.disconnect();
      mkdirSync(folder, { recursive: true });
      const file = path.join(folder, `${label.toLowerCase().replace(/[^a-z0-9]+/g, '-')}-${process.pid}.heapprofile`);
      writeFileSync(file, JSON.stringify({ responses, ...profile } satisfies AllocationProfile));
      return file;
    },
  };
}
