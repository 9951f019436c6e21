import { ScopeCatalog } from '../../scopes/catalog.js';
import type { Config } from '../config.js';
import type { PluginRegistry } from './registry.js';
import { loadUpstreamProviders, proxyScopes } from '../upstream/providers.js';
import type { UpstreamProviderConfig } from '../upstream/provider-config.js';

/** The catalog a server runs with: the OpenID scopes, the plugins', and one `upstream:<provider>` per provider. */
export function scopeCatalog(registry: PluginRegistry, providers: readonly UpstreamProviderConfig[]): ScopeCatalog {
  return new ScopeCatalog([...registry.scopes(), ...proxyScopes(providers)]);
}

/**
 * The same catalog for a process that serves nothing (the admin command line), so it accepts and refuses the scopes
 * a server would (threat model I7). Throws ConfigError on a bad provider, as the server's start does.
 */
export function scopeCatalogFor(config: Config, registry: PluginRegistry): ScopeCatalog {
  return scopeCatalog(registry, loadUpstreamProviders(config, registry));
}
