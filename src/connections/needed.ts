import type { PluginRegistry } from '../plugins/registry.js';
import type { ConnectionStore } from './store.js';
import { providerTitles, type ConnectSources } from './ways.js';

/** An upstream account a consent's scopes act with, and whether the owner has it ready. */
export interface NeededAccount {
  /** The upstream provider id (`x`, `telegram`, a configured provider's id). */
  provider: string;
  /** Its name for the owner: `X`, `Telegram`, `GitHub`. */
  title: string;
  /** `missing`: never connected; `needs_relink`: connected, but the upstream no longer accepts it. */
  state: 'missing' | 'needs_relink';
  /** True when one of the scopes needing it writes (posts, sends), for the page's wording. */
  writes: boolean;
}

/**
 * Which upstream account each scope acts with: a plugin's scopes with the provider of its credential kinds (the
 * registry knows both), `upstream:<provider>` with that provider. `upstream:own` (the owner's own OAuth apps, any of
 * them) and the OpenID scopes need none.
 */
export function scopeProvider(registry: Pick<PluginRegistry, 'plugins'>, scope: string): string | undefined {
  const proxied = /^upstream:([a-z][a-z0-9-]{0,31})$/.exec(scope)?.[1];
  if (proxied) return proxied === 'own' ? undefined : proxied;
  const plugin = registry.plugins.find((p) => p.scopes.some((s) => s.name === scope));
  return plugin?.credentialKinds[0]?.provider;
}

/**
 * The accounts a consent would use that the owner has not connected (or must connect again), so the consent page can
 * say so before the owner approves an app that could not work yet.
 */
export function neededAccounts(deps: {
  registry: Pick<PluginRegistry, 'plugins'>;
  connections: Pick<ConnectionStore, 'find'>;
  upstream: ConnectSources;
}) {
  const title = providerTitles(deps.upstream);
  return async (accountId: string, scopes: readonly { name: string; access: string }[]): Promise<NeededAccount[]> => {
    const byProvider = new Map<string, boolean>();
    for (const scope of scopes) {
      const provider = scopeProvider(deps.registry, scope.name);
      if (provider) byProvider.set(provider, (byProvider.get(provider) ?? false) || scope.access === 'write');
    }
    const needed: NeededAccount[] = [];
    for (const [provider, writes] of byProvider) {
      const connection = await deps.connections.find(accountId, provider);
      if (connection?.status === 'active') continue;
      needed.push({ provider, title: title(provider), state: connection ? 'needs_relink' : 'missing', writes });
    }
    return needed;
  };
}
