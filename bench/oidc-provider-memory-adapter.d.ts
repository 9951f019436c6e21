/**
 * oidc-provider's in-memory adapter class (lib/adapters/memory_adapter.js), which takes the store it keeps its entries
 * in: bench/unbounded-memory.ts hands it one that never evicts.
 */
declare module 'oidc-provider/lib/adapters/memory_adapter.js' {
  import type { Adapter } from 'oidc-provider';

  /** What the adapter needs of its store: the interface of oidc-provider's own LRU (lib/helpers/lru.js). */
  export interface MemoryStore {
    get(key: string): unknown;
    set(key: string, value: unknown, options?: { maxAge?: number }): unknown;
    has(key: string): boolean;
    delete(key: string): boolean;
  }

  export default class MemoryAdapter implements Adapter {
    constructor(model: string, store?: MemoryStore, clockTolerance?: number);
    upsert: Adapter['upsert'];
    find: Adapter['find'];
    findByUserCode: Adapter['findByUserCode'];
    findByUid: Adapter['findByUid'];
    consume: Adapter['consume'];
    destroy: Adapter['destroy'];
    revokeByGrantId: Adapter['revokeByGrantId'];
  }
}
