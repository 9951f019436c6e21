import { describe, expect, it } from '@jest/globals';
import { coalesce } from '../../src/db/coalesce.js';

/** The batching under the token endpoint's storage calls: one round trip per event-loop turn, never a cache. */
describe('coalesce', () => {
  it('sends the calls made in one turn as one batch and gives each caller its own result', async () => {
    const batches: number[][] = [];
    const double = coalesce(async (keys: number[]) => {
      batches.push(keys);
      return keys.map((k) => k * 2);
    });
    expect(await Promise.all([1, 2, 3].map(double))).toEqual([2, 4, 6]);
    expect(batches).toEqual([[1, 2, 3]]);
  });

  it('reads again on a later call: nothing is remembered between batches', async () => {
    let value = 'before';
    const read = coalesce(async (keys: string[]) => keys.map(() => value));
    expect(await read('client')).toBe('before');
    value = 'after';
    expect(await read('client')).toBe('after');
  });

  it('splits batches at maxBatch', async () => {
    const sizes: number[] = [];
    const run = coalesce(
      async (keys: number[]) => {
        sizes.push(keys.length);
        return keys;
      },
      { maxBatch: 2 },
    );
    await Promise.all([1, 2, 3, 4, 5].map(run));
    expect(sizes).toEqual([2, 2, 1]);
  });

  it('fails every call of a batch whose storage failed (fail closed)', async () => {
    const run = coalesce(async (_keys: number[]): Promise<number[]> => {
      throw new Error('database down');
    });
    const results = await Promise.allSettled([1, 2].map(run));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });

  it("retries alone when one call's data was refused, so only that call fails", async () => {
    const refused = new Error('invalid byte sequence');
    const run = coalesce(
      async (keys: string[]) => {
        if (keys.some((k) => k.includes('\u0000'))) throw refused;
        return keys.map((k) => k.toUpperCase());
      },
      { isolate: (error) => error === refused },
    );
    const results = await Promise.allSettled(['a', 'b\u0000', 'c'].map(run));
    expect(results).toEqual([
      { status: 'fulfilled', value: 'A' },
      { status: 'rejected', reason: refused },
      { status: 'fulfilled', value: 'C' },
    ]);
  });
});
