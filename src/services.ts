import type { Redis } from 'ioredis';
import type Provider from 'oidc-provider';
import type { Config } from './config.js';
import { systemClock, type Clock } from './clock.js';
import type { SenderOptions } from './telegram-bot/sender.js';
import type * as TelegramBotModule from './telegram-bot/index.js';
import type { Logger } from './logger.js';
import type { Database } from './db/database.js';
import type { PrivateJwk } from './keys/keystore.js';
import type { MasterKeyRing } from './keys/sealing.js';
import type { AppIdentity, Tee } from './tee/dstack.js';
import { createAdapterClass } from '../adapters/index.js';
import { UserCodes } from '../adapters/at-rest.js';
import { ClientCache } from '../adapters/client-cache.js';
import { reuseClientInstances } from '../adapters/client-instances.js';
import type { ScopeCatalog } from '../scopes/catalog.js';
import { providerPages } from '../interactions/provider-pages.js';
import { AccountStore } from './accounts/accounts.js';
import { EventLog } from './accounts/events.js';
import { KnownBrowsers } from './accounts/known-browsers.js';
import { AgentServices } from './agents/agent-services.js';
import { ClientStore } from './clients/store.js';
import { ConnectionStore } from './connections/store.js';
import { BrowserSessions } from './console/browser-sessions.js';
import { AgentTokens } from './grants/agent-tokens.js';
import { latestGrantId } from './grants/latest-grant.js';
import { Metrics } from './metrics/metrics.js';
import { ChallengeStore } from './passkeys/challenges.js';
import { PasskeyCeremonies } from './passkeys/ceremonies.js';
import type { Plugin } from './plugins/plugin.js';
import { PluginRegistry } from './plugins/registry.js';
import { scopeCatalog } from './plugins/scope-catalog.js';
import { DailyLimits } from './policies/gate.js';
import { HeldActions } from './policies/held.js';
import { PolicyStore } from './policies/policy.js';
import { createProvider } from './provider/provider.js';
import { agentsClient, consoleClient, playgroundClient } from './provider/first-party.js';
import { allowMetadataFetches } from './provider/registration-guards.js';
import { RateLimiter } from './rate-limit.js';
import type { ResourceServices } from './plugins/services.js';
import { createUpstream, type Upstream } from './upstream/index.js';
import { Vault } from './vault/vault.js';

export interface AppDeps {
  config: Config;
  logger: Logger;
  db: Database;
  redis?: Redis;
  signingKeys: PrivateJwk[];
  cookieKeys: string[];
  /** Seals upstream credentials in the vault (docs/architecture.md#the-vault). */
  masterKeys: MasterKeyRing;
  /** The plugins to run (src/plugins/load.ts loads the built-in ones; tests pass their own). */
  plugins: Plugin[];
  /** Prometheus metrics (src/metrics); default a fresh registry of this app's own. */
  metrics?: Metrics;
  /** The server's clock where a test must move it (client-secret grace periods); default the system clock. */
  clock?: Clock;
  /** The Telegram bot's sending pace (tests shorten the gap per chat); Telegram's limits by default. */
  telegramSender?: Partial<SenderOptions>;
  /**
   * oauth3's own Telegram bot (src/telegram-bot/index.ts), given when this app runs it (startServer: a bot token and
   * ROLE=all): an app without it has no bot and never loads grammY.
   */
  telegramBotModule?: typeof TelegramBotModule;
  /** TEE mode (MASTER_KEY_SOURCE=dstack): dstack's guest agent and what it reported about this app at start. */
  tee?: { agent: Tee; identity: AppIdentity };
}

/** Every store and service of one app, each built once here and handed to the areas that use it. */
export interface Services {
  provider: Provider;
  scopes: ScopeCatalog;
  registry: PluginRegistry;
  accounts: AccountStore;
  events: EventLog;
  metrics: Metrics;
  connections: ConnectionStore;
  upstream: Upstream;
  /** What the resource API and the console share: plugins, connections, policies, held posts. */
  resource: ResourceServices;
  clients: ClientStore;
  agentTokens: AgentTokens;
  agentServices: AgentServices;
  browserSessions: BrowserSessions;
  /** The browsers each owner signed in from (a sign-in from another one is told to the owner). */
  knownBrowsers: KnownBrowsers;
  ceremonies: PasskeyCeremonies;
  /** Failed attempts per address or account (passkeys, user codes). */
  limiter: RateLimiter;
}

/**
 * Builds the stores and services from the dependencies, in the order they need each other: the plugins and the
 * configured upstream providers make the scope catalog, from which the protocol engine is configured.
 */
export function createServices(deps: AppDeps): Services {
  const { config, logger, db, redis, signingKeys, cookieKeys } = deps;
  const accounts = new AccountStore(db);
  const events = new EventLog(db, logger);
  const registry = new PluginRegistry(deps.plugins);
  const metrics = deps.metrics ?? new Metrics();
  const connections = new ConnectionStore(db, new Vault(deps.masterKeys, metrics.vault), events);
  const upstream = createUpstream({ config, logger, db, accounts, events, connections, registry, onRefresh: metrics.refresh });
  const scopes = scopeCatalog(registry, upstream.providers());
  const policies = new PolicyStore(db);
  const resource: ResourceServices = {
    registry,
    connections,
    upstreamTokens: upstream.tokens,
    policies,
    held: new HeldActions(db),
    daily: new DailyLimits(db, events),
    actionDeps: { config, logger },
  };
  // Client rows are kept while the database announces their changes; this process's own changes are heard at once.
  const clientCache = new ClientCache().follow(db);
  const provider = createProvider({
    config,
    logger,
    signingKeys,
    cookieKeys,
    accounts,
    scopes,
    adapter: createAdapterClass({ db, redis, clock: deps.clock, userCodes: UserCodes.fromMasterKeys(deps.masterKeys), clientCache }),
    findGrantId: (accountId, clientId) => latestGrantId(db, accountId, clientId),
    allowMetadataFetch: allowMetadataFetches(db, config.CLIENT_METADATA_FETCHES_PER_HOUR),
    clients: [consoleClient(config), agentsClient(), playgroundClient(config)],
    pages: providerPages(),
    db,
  });
  reuseClientInstances(provider, clientCache, deps.clock ?? systemClock);
  const clients = new ClientStore(db, deps.clock, scopes, (clientId) => clientCache.forget(clientId));
  return {
    provider,
    scopes,
    registry,
    accounts,
    events,
    metrics,
    connections,
    upstream,
    resource,
    clients,
    agentTokens: new AgentTokens(provider, db, config, scopes),
    agentServices: new AgentServices(provider, db, config, events, policies, clients, scopes),
    browserSessions: new BrowserSessions(provider, db),
    knownBrowsers: new KnownBrowsers(db, config.ISSUER, logger),
    ceremonies: new PasskeyCeremonies(config, new ChallengeStore(db, config.CHALLENGE_TTL), accounts),
    limiter: new RateLimiter(db, 10, 600),
  };
}
