import { afterEach, describe, expect, it, jest } from '@jest/globals';
import type { Adapter } from 'oidc-provider';
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';
import { benchMemoryAdapter } from '../../bench/memory-adapter.js';

/**
 * The in-memory baseline's adapter (bench/memory-adapter.ts) behaves as oidc-provider's own MemoryAdapter, without
 * its eviction: the same operations on both give the same answers.
 */

type Make = (model: string) => Adapter;

/** oidc-provider's adapter over a store of its own (its default LRU would be shared by every test). */
function theirs(): Make {
  const lru = new Map<string, { value: unknown; expiry?: number }>();
  const store = {
    get: (key: string) => {
      const entry = lru.get(key);
      if (entry?.expiry !== undefined && entry.expiry <= Date.now()) return (lru.delete(key), undefined);
      return entry?.value;
    },
    set: (key: string, value: unknown, { maxAge }: { maxAge?: number } = {}) =>
      lru.set(key, { value, ...(typeof maxAge === 'number' && Number.isFinite(maxAge) ? { expiry: Date.now() + maxAge } : {}) }),
    has: (key: string) => store.get(key) !== undefined,
    delete: (key: string) => lru.delete(key),
  };
  return (model) => new MemoryAdapter(model, store, 15);
}

function ours(): Make {
  const Adapter = benchMemoryAdapter();
  return (model) => new Adapter(model);
}

/** A sequence of operations, returning everything it read, to be run on both adapters. */
async function story(make: Make): Promise<unknown[]> {
  const [at, rt, session, device] = [make('AccessToken'), make('RefreshToken'), make('Session'), make('DeviceCode')];
  const seen: unknown[] = [];
  await at.upsert('at1', { grantId: 'g1', accountId: 'a' }, 3600);
  await rt.upsert('rt1', { grantId: 'g1', accountId: 'a' }, 3600);
  await at.upsert('at2', { grantId: 'g2', accountId: 'b' }, 3600);
  seen.push(await at.find('at1'), await rt.find('rt1'), await at.find('nope'));
  await rt.consume('rt1');
  seen.push(typeof (await rt.find('rt1'))?.consumed);
  // A session found by its uid; a newer session taking over the uid keeps it when the older one goes.
  await session.upsert('s1', { uid: 'u1', accountId: 'a' }, 600);
  seen.push(await session.findByUid('u1'));
  await session.upsert('s2', { uid: 'u1', accountId: 'a' }, 600);
  await session.destroy('s1');
  seen.push(await session.findByUid('u1'), await session.find('s1'));
  await device.upsert('d1', { userCode: 'BCDF-GHJK', grantId: 'g1' }, 600);
  seen.push(await device.findByUserCode('BCDF-GHJK'));
  // Revoking g1 removes its tokens, and its device code with its user code; g2's stay.
  await at.revokeByGrantId('g1');
  seen.push(await at.find('at1'), await rt.find('rt1'), await device.findByUserCode('BCDF-GHJK'), await at.find('at2'));
  // An entry rewritten under another grant leaves the first one's index.
  await at.upsert('at3', { grantId: 'g3' }, 3600);
  await at.upsert('at3', { grantId: 'g4' }, 3600);
  await at.revokeByGrantId('g3');
  seen.push(await at.find('at3'));
  await at.destroy('at2');
  seen.push(await at.find('at2'));
  return seen;
}

describe("the in-memory baseline's adapter", () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it("answers every operation as oidc-provider's MemoryAdapter does", async () => {
    const expected = await story(theirs());
    expect(await story(ours())).toEqual(expected);
    // The story reads something: the comparison is not of two empty lists.
    expect(expected.filter((v) => v !== undefined).length).toBeGreaterThan(5);
  });

  it('expires entries after their lifetime and the same clock tolerance', async () => {
    jest.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z'), doNotFake: ['nextTick', 'setImmediate'] });
    for (const make of [theirs(), ours()]) {
      const at = make('AccessToken');
      await at.upsert(`t`, { grantId: 'g' }, 60);
      jest.setSystemTime(new Date('2026-01-01T00:01:14Z'));
      expect(await at.find('t')).toBeDefined();
      jest.setSystemTime(new Date('2026-01-01T00:01:16Z'));
      expect(await at.find('t')).toBeUndefined();
      jest.setSystemTime(new Date('2026-01-01T00:00:00Z'));
    }
  });

  it("keeps every entry, where oidc-provider's default store drops the older ones after a thousand writes", async () => {
    const Adapter = benchMemoryAdapter();
    const kept = new Adapter('ClientCredentials');
    const lru = new MemoryAdapter('ClientCredentials');
    for (let i = 0; i < 5000; i++) {
      await kept.upsert(`t${i}`, { clientId: 'c' }, 3600);
      await lru.upsert(`t${i}`, { clientId: 'c' }, 3600);
    }
    expect(await kept.find('t0')).toEqual({ clientId: 'c' });
    expect(await lru.find('t0')).toBeUndefined();
  });
});
