import { describe, expect, it } from '@jest/globals';
import { lazy } from '../../src/lazy.js';
import { startNodeFlags } from '../../bench/node-flags.js';

/** Loading at first use (src/lazy.ts), which keeps the server's start short, and the flags npm start runs it with. */
describe('lazy', () => {
  it('loads nothing until asked, once for every caller after', async () => {
    let loads = 0;
    const load = lazy(async () => ({ n: ++loads }));
    expect(loads).toBe(0);
    const [a, b] = await Promise.all([load(), load()]);
    expect(a).toBe(b);
    expect(await load()).toBe(a);
    expect(loads).toBe(1);
  });

  it('tries a failed load again on the next use instead of remembering the failure', async () => {
    let attempts = 0;
    const load = lazy(async () => {
      attempts += 1;
      if (attempts === 1) throw new Error('module missing');
      return 'loaded';
    });
    await expect(load()).rejects.toThrow('module missing');
    await expect(load()).resolves.toBe('loaded');
    await expect(load()).resolves.toBe('loaded');
    expect(attempts).toBe(2);
  });
});

describe("npm start's Node flags", () => {
  it('are the two V8 heap settings the bench and the memory test run the embedded default with', () => {
    expect(startNodeFlags()).toEqual(['--max-semi-space-size=8', '--heap-growing-percent=50']);
  });
});
