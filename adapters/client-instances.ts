import type Provider from 'oidc-provider';
import type { Clock } from '../src/clock.js';
import type { ClientCache } from './client-cache.js';
import type { ClientRow } from './clients.js';

type Client = NonNullable<Awaited<ReturnType<Provider['Client']['find']>>>;

/** The first end of a grace period after `now` among the row's secrets: until then, the live secrets stay the same. */
function nextSecretEnd(row: ClientRow, now: number): number {
  let next = Infinity;
  for (const { ends } of row.secrets ?? []) if (ends !== null && ends > now && ends < next) next = ends;
  return next;
}

/**
 * oidc-provider builds a Client from the adapter's metadata at every lookup (every token request, an introspection
 * twice), and for a client that is not static it first serialises that metadata and hashes it to find an instance it
 * built before: about 11 µs of a 270 µs token request, where a static client costs under 1 µs. While the client cache
 * keeps a row (adapters/client-cache.ts: every change to the client or its secrets drops it), the Client built from
 * that very row object is what oidc-provider would find by the hash, so it is handed out again without one, until
 * the first of the row's grace periods ends (threat model F3). A row dropped, a process not listening, or a client
 * not kept: oidc-provider's own lookup, as before.
 */
export function reuseClientInstances(provider: Provider, cache: ClientCache, clock: Clock): void {
  const built = new WeakMap<ClientRow, { client: Client; until: number }>();
  const find = provider.Client.find.bind(provider.Client);
  provider.Client.find = async (id: string) => {
    const row = typeof id === 'string' ? cache.get(id) : undefined;
    const now = clock.now().getTime();
    const kept = row && built.get(row);
    if (kept && now < kept.until) return kept.client;
    const client = await find(id);
    // Kept only if the row it was built from is still the one kept: a change heard meanwhile dropped it.
    if (row && client && cache.get(id) === row) built.set(row, { client, until: nextSecretEnd(row, now) });
    return client;
  };
}
