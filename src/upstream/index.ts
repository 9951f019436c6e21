import type Router from '@koa/router';
import type Provider from 'oidc-provider';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Database } from '../db/database.js';
import type { AccountStore } from '../accounts/accounts.js';
import type { EventLog } from '../accounts/events.js';
import type { Connection, ConnectionStore } from '../connections/store.js';
import type { PluginRegistry } from '../plugins/registry.js';
import type { ApiRouter, PluginKit, Tool } from '../plugins/plugin.js';
import type { ProviderLookup, UpstreamFetch, UpstreamProviderConfig } from './provider-config.js';
import { OwnerProviderStore } from './owner-providers.js';
import { isOwnProviderId } from './own-ids.js';
import { outboundFetch } from '../provider/outbound-fetch.js';
import { AuthRequests } from './auth-requests.js';
import { callbackRoutes } from './callback.js';
import { startConnect } from './connect.js';
import { loadUpstreamProviders } from './providers.js';
import { ownProxyTool, proxyTools, registerOwnProxyRoute, registerProxyRoutes } from './proxy.js';
import { UpstreamTokenService } from './tokens.js';
import { revokeUpstreamTokens } from './revoke.js';
import type { RefreshObserver } from '../metrics/metrics.js';

export interface UpstreamDeps {
  config: Config;
  logger: Logger;
  db: Database;
  /**
   * The oidc-provider instance, for the callback's owner session. createApp makes it after createUpstream, so it may
   * be left out here and passed to `routes(provider)` instead.
   */
  provider?: Provider;
  accounts: AccountStore;
  events: EventLog;
  connections: ConnectionStore;
  registry: PluginRegistry;
  /** Counts token refreshes by provider and outcome (metrics). */
  onRefresh?: RefreshObserver;
}

export interface Upstream {
  tokens: UpstreamTokenService;
  /** The operator's and plugins' providers, the same for every owner (owners' own ones are in `own`). */
  providers(): UpstreamProviderConfig[];
  /** Owners' own OAuth apps ("bring your own"), each usable by its owner only. */
  own: OwnerProviderStore;
  /** A provider by id as this owner may use it: the operator's, or one of the owner's own. */
  provider: ProviderLookup;
  /** Removes an owner's own provider, disconnecting (and revoking) its connection first. False when there is none. */
  removeOwn(accountId: string, providerId: string): Promise<boolean>;
  /** `GET /connections/callback`; needs the oidc-provider instance (here or in deps) to find the signed-in owner. */
  routes(provider?: Provider): Router;
  /** `/upstream/<provider>/<path>` on the resource API, for every provider with an `apiBaseUrl` (owners' own ones too). */
  proxyRoutes(router: ApiRouter, kit: PluginKit): void;
  /** One MCP tool per provider with an `apiBaseUrl` (`upstream_<provider>`), and `upstream_own` for owners' own ones. */
  tools(): Tool[];
  /** The provider's authorization URL for this owner (console: Connect). */
  start(accountId: string, providerId: string, returnTo?: string): Promise<string>;
  /** Asks the provider to revoke an OAuth connection's tokens (RFC 7009) before the owner's disconnect removes it. */
  revoke(connection: Connection): Promise<void>;
}

/**
 * The generic upstream OAuth 2.0 client: providers from plugins and configuration, the connect
 * flow, tokens refreshed one at a time, and the proxied call route. Throws ConfigError on a bad provider.
 */
export function createUpstream(deps: UpstreamDeps): Upstream {
  const list = loadUpstreamProviders(deps.config, deps.registry);
  const byId = new Map(list.map((p) => [p.id, p]));
  // Owners' providers are reached only through the address-checked fetch (threat model G17).
  const guardedFetch = outboundFetch({
    timeoutMs: deps.config.UPSTREAM_TIMEOUT_MS,
    allowHosts: deps.config.UPSTREAM_OWN_ALLOW_HOSTS,
    httpForAllowHosts: true,
  }) as unknown as UpstreamFetch;
  const own = new OwnerProviderStore(deps.db, deps.connections.vault, {
    allowHosts: deps.config.UPSTREAM_OWN_ALLOW_HOSTS ?? [],
    fetch: guardedFetch,
  });
  /** Every lookup by id goes through here: an `own-` id only ever resolves among the asking owner's own providers. */
  const provider: ProviderLookup = async (id, accountId) => (isOwnProviderId(id) ? own.find(accountId, id) : byId.get(id));
  const requests = new AuthRequests(deps.db, deps.connections.vault);
  const tokens = new UpstreamTokenService({
    db: deps.db,
    logger: deps.logger,
    connections: deps.connections,
    provider,
    timeoutMs: deps.config.UPSTREAM_TIMEOUT_MS,
    onRefresh: deps.onRefresh,
  });

  const proxyDeps = { connections: deps.connections, tokens, timeoutMs: deps.config.UPSTREAM_TIMEOUT_MS };
  const revoke = async (connection: Connection) =>
    revokeUpstreamTokens(
      { connections: deps.connections, logger: deps.logger, timeoutMs: deps.config.UPSTREAM_TIMEOUT_MS },
      await provider(connection.provider, connection.accountId),
      connection,
    );

  return {
    tokens,
    providers: () => [...list],
    own,
    provider,
    async removeOwn(accountId, providerId) {
      if (!isOwnProviderId(providerId) || !(await own.view(accountId, providerId))) return false;
      const connection = await deps.connections.find(accountId, providerId);
      if (connection) {
        await revoke(connection);
        await deps.connections.remove(accountId, connection.id);
      }
      return own.remove(accountId, providerId);
    },
    routes(oidc = deps.provider) {
      if (!oidc) throw new Error('createUpstream: routes() needs the oidc-provider instance');
      return callbackRoutes({ ...deps, requests, provider }, oidc);
    },
    proxyRoutes(router, kit) {
      registerProxyRoutes(router, kit, list, tokens, deps.config.UPSTREAM_TIMEOUT_MS);
      registerOwnProxyRoute(router, kit, provider, proxyDeps);
    },
    tools: () => [...proxyTools(list, proxyDeps), ownProxyTool(provider, proxyDeps)],
    start: (accountId, providerId, returnTo) => startConnect({ config: deps.config, requests, provider }, accountId, providerId, returnTo),
    revoke,
  };
}

export type { UpstreamProviderConfig };
