import MemoryAdapter, { type MemoryStore } from 'oidc-provider/lib/adapters/memory_adapter.js';

/**
 * The store of the in-memory baseline: oidc-provider's own MemoryAdapter, but over a plain Map that never evicts.
 * oidc-provider's default store is an LRU of 1000 entries (lib/helpers/lru.js) that drops its older half whenever
 * 1000 new entries have been written: under the bench's load it threw away thousands of tokens a second, so the
 * baseline kept a few thousand entries where our server keeps every token it issued until it expires. Entries here
 * leave only when they expire (read lazily, as the LRU does) or are deleted, so the baseline holds what ours holds.
 */
export class UnboundedStore implements MemoryStore {
  private readonly entries = new Map<string, { value: unknown; expiry?: number }>();

  get(key: string): unknown {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiry !== undefined && entry.expiry <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: string, value: unknown, { maxAge }: { maxAge?: number } = {}): this {
    const expiry = typeof maxAge === 'number' && Number.isFinite(maxAge) ? Date.now() + maxAge : undefined;
    this.entries.set(key, expiry === undefined ? { value } : { value, expiry });
    return this;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  delete(key: string): boolean {
    return this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}

/**
 * oidc-provider's default `clockTolerance` (seconds), which createProvider leaves as it is: the default MemoryAdapter
 * keeps each entry that much longer than its lifetime, and so does this one.
 */
const OIDC_PROVIDER_CLOCK_TOLERANCE = 15;

/** An adapter class for createProvider: oidc-provider's MemoryAdapter, every model in one UnboundedStore. */
export function unboundedMemoryAdapter(
  store = new UnboundedStore(),
  clockTolerance = OIDC_PROVIDER_CLOCK_TOLERANCE,
): new (model: string) => MemoryAdapter {
  return class UnboundedMemoryAdapter extends MemoryAdapter {
    constructor(model: string) {
      super(model, store, clockTolerance);
    }
  };
}
