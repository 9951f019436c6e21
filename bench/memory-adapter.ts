import type { Adapter, AdapterPayload } from 'oidc-provider';

/**
 * The in-memory baseline's storage: oidc-provider's adapter contract kept in this process's memory, with the
 * behaviour of oidc-provider's own MemoryAdapter (lib/adapters/memory_adapter.js) and two of its costs removed, so
 * that the baseline does the least an in-memory store can do and nothing our storage does not:
 *
 * - **No eviction.** MemoryAdapter keeps everything in an LRU of 1000 entries (lib/helpers/lru.js) that drops its
 *   older half each time 1000 new entries have been written. Under the bench's load it threw away thousands of
 *   tokens a second, where our server keeps every token until it expires. Here an entry leaves only when it expires
 *   (read lazily, as there) or is deleted.
 * - **No per-write scan of a grant.** MemoryAdapter indexes a grant's tokens in one Map per grant and, on every
 *   write of a token of that grant, walks the whole Map (to drop expired members and find the longest expiry). A
 *   refresh chain adds two tokens to its grant per refresh and a code round trip two to the session's one grant, so
 *   its writes grew slower the longer a row ran (about 0.1 µs per member per write: hundreds of µs per request
 *   after a few seconds, more than a refresh's whole cost). Here a grant's tokens are a Set: one insertion a write.
 */

/** oidc-provider's default clockTolerance (seconds), which createProvider leaves: entries live that much longer. */
const CLOCK_TOLERANCE = 15;

/** Models whose entries belong to a grant (revokeByGrantId removes them), as in MemoryAdapter. */
const GRANTABLE = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
]);

interface Entry<T> {
  value: T;
  /** Epoch milliseconds; none: never expires. */
  expiry?: number;
}

/** Everything one provider stores, shared by its models' adapters. */
export class MemoryStorage {
  readonly entries = new Map<string, Entry<AdapterPayload>>();
  /** Session uid → session id, user code → device code id. */
  readonly pointers = new Map<string, Entry<string>>();
  /** Grant id → the keys of its entries. */
  readonly grants = new Map<string, Set<string>>();

  static live<T>(map: Map<string, Entry<T>>, key: string): T | undefined {
    const entry = map.get(key);
    if (!entry) return undefined;
    if (entry.expiry !== undefined && entry.expiry <= Date.now()) {
      map.delete(key);
      return undefined;
    }
    return entry.value;
  }
}

const epochTime = () => Math.floor(Date.now() / 1000);

export class BenchMemoryAdapter implements Adapter {
  constructor(
    private readonly model: string,
    private readonly storage: MemoryStorage,
  ) {}

  private key(id: string): string {
    return `${this.model}:${id}`;
  }

  private expiry(expiresIn: number | undefined): number | undefined {
    return typeof expiresIn === 'number' ? Date.now() + (expiresIn + CLOCK_TOLERANCE) * 1000 : undefined;
  }

  /** Removes an entry's pointers (while they still name it) and its membership of its grant. */
  private unindex(id: string, key: string, payload: AdapterPayload): void {
    const { pointers, grants } = this.storage;
    for (const pointer of [payload.uid && `sessionUid:${payload.uid}`, payload.userCode && `userCode:${payload.userCode}`]) {
      if (pointer && MemoryStorage.live(pointers, pointer) === id) pointers.delete(pointer);
    }
    if (GRANTABLE.has(this.model) && payload.grantId) grants.get(payload.grantId)?.delete(key);
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    const { entries, pointers, grants } = this.storage;
    const key = this.key(id);
    const previous = MemoryStorage.live(entries, key);
    if (previous) this.unindex(id, key, previous);
    const expiry = this.expiry(expiresIn);
    const at = <T>(value: T): Entry<T> => (expiry === undefined ? { value } : { value, expiry });
    if (this.model === 'Session' && payload.uid) pointers.set(`sessionUid:${payload.uid}`, at(id));
    if (payload.userCode) pointers.set(`userCode:${payload.userCode}`, at(id));
    if (GRANTABLE.has(this.model) && payload.grantId) {
      let members = grants.get(payload.grantId);
      if (!members) grants.set(payload.grantId, (members = new Set()));
      members.add(key);
    }
    entries.set(key, at(payload));
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return MemoryStorage.live(this.storage.entries, this.key(id));
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    const id = MemoryStorage.live(this.storage.pointers, `sessionUid:${uid}`);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    const id = MemoryStorage.live(this.storage.pointers, `userCode:${userCode}`);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id: string): Promise<void> {
    const payload = MemoryStorage.live(this.storage.entries, this.key(id));
    if (payload) payload.consumed = epochTime();
  }

  async destroy(id: string): Promise<void> {
    const key = this.key(id);
    const payload = MemoryStorage.live(this.storage.entries, key);
    this.storage.entries.delete(key);
    if (payload) this.unindex(id, key, payload);
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    const { entries, grants, pointers } = this.storage;
    for (const key of grants.get(grantId) ?? []) {
      const payload = MemoryStorage.live(entries, key);
      entries.delete(key);
      const id = key.slice(key.indexOf(':') + 1);
      for (const pointer of [payload?.uid && `sessionUid:${payload.uid}`, payload?.userCode && `userCode:${payload.userCode}`]) {
        if (pointer && MemoryStorage.live(pointers, pointer) === id) pointers.delete(pointer);
      }
    }
    grants.delete(grantId);
  }
}

/** An adapter class for createProvider: every model of one provider in one MemoryStorage. */
export function benchMemoryAdapter(storage = new MemoryStorage()): new (model: string) => Adapter {
  return class extends BenchMemoryAdapter {
    constructor(model: string) {
      super(model, storage);
    }
  };
}
