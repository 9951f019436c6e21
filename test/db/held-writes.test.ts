import { describe, expect, it } from '@jest/globals';
import { heldWrite, holdWrites, settleHeldWrites, whenStored } from '../../src/db/held-writes.js';

/** Writes a request's answer waits for (src/db/held-writes.ts), apart from the storage that makes them. */
describe('held writes', () => {
  it('are held only by a request that holds its writes, until settled', async () => {
    const request = {};
    expect(heldWrite(undefined, Promise.resolve())).toBe(false);
    expect(heldWrite(request, Promise.resolve())).toBe(false);
    holdWrites(request);
    let stored = false;
    expect(heldWrite(request, new Promise<void>((resolve) => setTimeout(() => resolve(void (stored = true)), 20)))).toBe(true);
    await settleHeldWrites(request);
    expect(stored).toBe(true);
    // Settled: a later write is the caller's to await.
    expect(heldWrite(request, Promise.resolve())).toBe(false);
  });

  it('reject the settling with a failed write, and never as an unhandled rejection before it', async () => {
    const request = {};
    const unhandled: unknown[] = [];
    const listener = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', listener);
    try {
      holdWrites(request);
      heldWrite(request, Promise.resolve());
      heldWrite(request, Promise.reject(new Error('refused')));
      // Long enough for Node to report a rejection nobody handled.
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(unhandled).toEqual([]);
      await expect(settleHeldWrites(request)).rejects.toThrow('refused');
    } finally {
      process.off('unhandledRejection', listener);
    }
  });

  it('run what waits for them once all are stored, at once without any, and never after a failure', async () => {
    const ran: string[] = [];
    whenStored({}, () => ran.push('not holding'));
    expect(ran).toEqual(['not holding']);

    const [stored, failed] = [{}, {}];
    holdWrites(stored);
    holdWrites(failed);
    heldWrite(stored, new Promise((resolve) => setTimeout(resolve, 10)));
    heldWrite(failed, Promise.reject(new Error('refused')));
    whenStored(stored, () => ran.push('stored'));
    whenStored(failed, () => ran.push('failed'));
    expect(ran).toEqual(['not holding']);
    await settleHeldWrites(stored);
    await expect(settleHeldWrites(failed)).rejects.toThrow('refused');
    expect(ran).toEqual(['not holding', 'stored']);
  });

  it('keep each request to its own writes', async () => {
    const [one, other] = [{}, {}];
    holdWrites(one);
    holdWrites(other);
    heldWrite(other, Promise.reject(new Error("the other request's write")));
    await expect(settleHeldWrites(one)).resolves.toBeUndefined();
    await expect(settleHeldWrites(other)).rejects.toThrow("the other request's write");
  });
});
