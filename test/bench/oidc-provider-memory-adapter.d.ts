/** oidc-provider's own in-memory adapter (lib/adapters/memory_adapter.js), which the bench's baseline adapter mirrors. */
declare module 'oidc-provider/lib/adapters/memory_adapter.js' {
  import type { Adapter } from 'oidc-provider';

  export default class MemoryAdapter implements Adapter {
    /** `store` defaults to the module's LRU of 1000 entries. */
    constructor(model: string, store?: unknown, clockTolerance?: number);
    upsert: Adapter['upsert'];
    find: Adapter['find'];
    findByUserCode: Adapter['findByUserCode'];
    findByUid: Adapter['findByUid'];
    consume: Adapter['consume'];
    destroy: Adapter['destroy'];
    revokeByGrantId: Adapter['revokeByGrantId'];
  }
}
