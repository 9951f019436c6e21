import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { allocationsOf, recordAllocations, type AllocationProfile, type HeapNode } from '../../bench/allocations.js';

const frame = (functionName: string, url: string, selfSize: number, children: HeapNode[] = []): HeapNode => ({
  callFrame: { functionName, url, lineNumber: 0 },
  selfSize,
  children,
});

describe('allocation profiles (BENCH_HEAP_PROFILE)', () => {
  const folder = mkdtempSync(path.join(tmpdir(), 'oauth3-allocations-'));
  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  it('sums bytes by function and by place, a place counted once on a stack that passes it twice', () => {
    const koa = 'file:///app/node_modules/koa/lib/application.js';
    const ours = 'file:///app/src/http/front-door.js';
    const head = frame('(root)', '', 0, [
      frame('handle', koa, 100, [frame('frontDoor', ours, 300, [frame('respond', koa, 50)])]),
      frame('(garbage collector)', '', 10),
    ]);
    const sums = allocationsOf([
      { responses: 2, head },
      { responses: 3, head },
    ]);
    expect(sums.responses).toBe(5);
    expect(sums.total).toBe(2 * 460);
    expect(sums.byPlace.get('koa')).toBe(2 * 150);
    expect(sums.byPlace.get('src/http')).toBe(2 * 300);
    // koa's own 150 plus what ran under it: our middleware's 300 once, although koa is on its stack twice.
    expect(sums.underPlace.get('koa')).toBe(2 * 450);
    expect(sums.underPlace.get('src/http')).toBe(2 * 350);
    expect(sums.byFunction.get(`frontDoor ${ours}:1`)).toBe(2 * 300);
    expect(sums.byPlace.get('(garbage collector)')).toBe(2 * 10);
  });

  it("records what a window's responses allocated, freed objects included, and how many responses it finished", async () => {
    // Each response allocates 256 arrays of 1 KiB that are garbage as soon as it is sent.
    function allocateForResponse(): number {
      let sum = 0;
      for (let i = 0; i < 256; i++) sum += new Array<number>(128).fill(i).length;
      return sum;
    }
    const server = createServer((_request, response) => response.end(String(allocateForResponse())));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const before = await (await fetch(url)).text(); // outside the window: not counted
    const recording = recordAllocations(folder, 'A test row');
    for (let i = 0; i < 20; i++) await (await fetch(url)).text();
    const file = await recording.stop();
    await (await fetch(url)).text(); // after the window: not counted either
    server.close();

    expect(before).toBe(String(256 * 128));
    expect(path.basename(file)).toMatch(/^a-test-row-\d+\.heapprofile$/);
    const sums = allocationsOf([JSON.parse(readFileSync(file, 'utf8')) as AllocationProfile]);
    expect(sums.responses).toBe(20);
    const ours = [...sums.byFunction].find(([name]) => name.startsWith('allocateForResponse '))?.[1] ?? 0;
    // 256 KiB of arrays a response (1 KiB of elements each, plus headers): sampled, so roughly, but never near zero,
    // which is what a profile of the objects still alive would show.
    expect(ours / 20).toBeGreaterThan(128 * 1024);
    expect(ours / 20).toBeLessThan(1024 * 1024);
  });
});
