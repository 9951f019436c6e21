import type { Config } from '../config.js';
import type { Plugin } from './plugin.js';
import { PluginRegistry } from './registry.js';
import { builtinPlugins } from './builtin.js';
import { loadUpstreamProviders, registerProxyScopes } from '../upstream/providers.js';

/**
 * Fills the scope catalog exactly as a server does at start: the plugins' scopes, then one `upstream:<provider>` per
 * configured provider. A process that serves nothing (the admin CLI) calls this so it accepts and refuses the same
 * scopes a server would (threat model I7). Throws ConfigError on a bad provider, as the server's start does.
 */
export function loadScopeCatalog(config: Config, plugins: readonly Plugin[] = builtinPlugins): PluginRegistry {
  const registry = new PluginRegistry(plugins);
  registerProxyScopes(loadUpstreamProviders(config, registry));
  return registry;
}
