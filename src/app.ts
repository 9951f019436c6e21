import type Koa from 'koa';
import type { Middleware } from 'koa';
import compose from 'koa-compose';
import type { Redis } from 'ioredis';
import type Provider from 'oidc-provider';
import type { Config } from './config.js';
import type { Clock } from './clock.js';
import type { Logger } from './logger.js';
import type { Database } from './db/database.js';
import { createAdapterClass } from '../adapters/index.js';
import { UserCodes } from '../adapters/at-rest.js';
import { latestGrantId } from '../adapters/postgres.js';
import { createProvider } from './provider/provider.js';
import { PROVIDER_FIXED_PATHS, PROVIDER_ROUTES } from './provider/routes.js';
import { canonicalPaths } from './http/canonical-path.js';
import { DEVICE_VERIFICATION_PATH, limitUserCodeGuesses } from './provider/device-flow.js';
import { paceDevicePolls } from './provider/device-polling.js';
import { AccountStore } from './accounts/accounts.js';
import { EventLog } from './accounts/events.js';
import { ChallengeStore } from './passkeys/challenges.js';
import { PasskeyCeremonies } from './passkeys/ceremonies.js';
import { RateLimiter } from './rate-limit.js';
import type { PrivateJwk } from './keys/keystore.js';
import { pinOrigin } from './http/security.js';
import { proxyTrust } from './http/client-address.js';
import { frontDoor } from './http/front-door.js';
import { errorBoundary } from './http/error-boundary.js';
import { exactly, onlyFor, under } from './http/paths.js';
import { allowMetadataFetches, registrationGuards } from './provider/registration-guards.js';
import { staticFiles } from './http/static.js';
import { interactionRoutes } from '../interactions/routes.js';
import { homePage } from '../interactions/views/home.js';
import { consoleRoutes } from './console/routes.js';
import { developerRoutes } from './developers/routes.js';
import { agentsClient, consoleClient } from './console/first-party.js';
import { playgroundClient, playgroundRoutes } from './developers/playground.js';
import { trackBrowserSessions } from './console/session-tracker.js';
import { recordAgentTokenUse, recordTokenEvents } from './grants/token-events.js';
import { AgentTokens } from './grants/agent-tokens.js';
import type { MasterKeyRing } from './keys/sealing.js';
import type { Plugin } from './plugins/plugin.js';
import { PluginRegistry } from './plugins/registry.js';
import { builtinPlugins } from './plugins/builtin.js';
import { Vault } from './vault/vault.js';
import { ConnectionStore } from './connections/store.js';
import { PolicyStore } from './policies/policy.js';
import { HeldActions } from './policies/held.js';
import { DailyLimits } from './policies/gate.js';
import { createUpstream, type Upstream } from './upstream/index.js';
import type { ResourceServices } from './resource/services.js';
import { createKit } from './resource/kit.js';
import { createResourceRouter } from './resource/router.js';
import { createHealth, type Health } from './http/health.js';
import { Metrics } from './metrics/metrics.js';
import { observeProvider } from './metrics/observe.js';
import { createRouter } from './http/router.js';

/**
 * oidc-provider's routes that load the browser session (its shared/session.js middleware: authorization, device code
 * verification, end session), at their default paths: only there can a sign-in be saved and tracked.
 */
const SESSION_ROUTES = under(PROVIDER_ROUTES.authorization, PROVIDER_ROUTES.code_verification, PROVIDER_ROUTES.end_session);

export interface AppDeps {
  config: Config;
  logger: Logger;
  db: Database;
  redis?: Redis;
  signingKeys: PrivateJwk[];
  cookieKeys: string[];
  /** Seals upstream credentials in the vault (DESIGN.md, Vault). */
  masterKeys: MasterKeyRing;
  /** The plugins to run; default the built-in ones (tests pass their own). */
  plugins?: Plugin[];
  /** Prometheus metrics (src/metrics); default a fresh registry of this app's own. */
  metrics?: Metrics;
  /** The server's clock where a test must move it (client-secret grace periods); default the system clock. */
  clock?: Clock;
}

export interface App {
  provider: Provider;
  koa: Koa;
  callback: ReturnType<Koa['callback']>;
  accounts: AccountStore;
  events: EventLog;
  /** What the resource API and the console share: plugins, connections, policies, held posts. */
  services: ResourceServices;
  connections: ConnectionStore;
  upstream: Upstream;
  /** Liveness and readiness; `drain()` fails readiness when shutdown begins (src/server.ts). */
  health: Health;
  metrics: Metrics;
}

/**
 * Builds the whole HTTP application from its dependencies (no module state, so tests build real apps side by
 * side). oidc-provider's Koa app is the host; our middleware runs before its routes.
 */
export function createApp(deps: AppDeps): App {
  const { config, logger, db, redis, signingKeys, cookieKeys } = deps;
  const accounts = new AccountStore(db);
  const events = new EventLog(db, logger);
  // Plugins and configured upstream providers register their scopes first: the provider is configured from the catalog.
  const registry = new PluginRegistry(deps.plugins ?? builtinPlugins);
  const metrics = deps.metrics ?? new Metrics();
  const connections = new ConnectionStore(db, new Vault(deps.masterKeys, metrics.vault));
  const upstream = createUpstream({ config, logger, db, accounts, events, connections, registry, onRefresh: metrics.refresh });
  const services: ResourceServices = {
    registry, connections, upstreamTokens: upstream.tokens, policies: new PolicyStore(db), held: new HeldActions(db),
    daily: new DailyLimits(db), actionDeps: { config, logger },
  };
  const provider = createProvider({
    config, logger, signingKeys, cookieKeys, accounts,
    adapter: createAdapterClass({ db, redis, clock: deps.clock, userCodes: UserCodes.fromMasterKeys(deps.masterKeys) }),
    findGrantId: (accountId, clientId) => latestGrantId(db, accountId, clientId),
    allowMetadataFetch: allowMetadataFetches(db, config.CLIENT_METADATA_FETCHES_PER_HOUR),
    clients: [consoleClient(config), agentsClient(), playgroundClient(config)],
  });
  paceDevicePolls({ provider, db, intervalSeconds: config.DEVICE_POLL_INTERVAL, ttlSeconds: config.DEVICE_CODE_TTL });
  const browserSessions = trackBrowserSessions(provider, db, logger);
  recordTokenEvents(provider, events);
  observeProvider(provider, metrics);
  const ceremonies = new PasskeyCeremonies(config, new ChallengeStore(db, config.CHALLENGE_TTL), accounts);
  const limiter = new RateLimiter(db, 10, 600);

  // Liveness and readiness, served by every role.
  const health = createHealth({ db, redis, timeoutMs: config.DATABASE_TIMEOUT_MS });
  const router = createRouter();
  router.get('/', (ctx) => {
    ctx.type = 'html';
    ctx.body = homePage({ issuer: config.ISSUER });
  });
  // RFC 8414 metadata is the same document as OpenID discovery; oidc-provider serves the latter.
  router.get('/.well-known/oauth-authorization-server', async (ctx, next) => {
    ctx.path = '/.well-known/openid-configuration';
    await next();
  });

  const resourceApi = createResourceRouter({ config, logger, provider, db, redis, services, kit: createKit({ config, logger, services }), upstream, metrics });

  provider.use(frontDoor({ logger, metrics }));
  // Before any guard or router: from here on every path is in its one canonical form (docs/threat-model.md J1).
  provider.use(canonicalPaths(PROVIDER_FIXED_PATHS));
  provider.use(pinOrigin(provider as unknown as Koa, config.ISSUER, proxyTrust(config.TRUST_PROXY)));
  provider.use(health.middleware());
  // Before everything else of ours and before oidc-provider's routes: /api answers here and goes no further.
  provider.use(resourceApi);
  if (config.ROLE === 'resource') {
    // The resource API alone against the same database: tokens are still read through the provider, but none of
    // its endpoints, pages or the console are served from this process.
    provider.use(async function onlyTheResourceApi(ctx) {
      ctx.status = 404;
      ctx.body = { error: 'not_found', error_description: 'This process serves only the resource API.' };
    });
  } else {
    const interactions = interactionRoutes({ config, provider, db, accounts, ceremonies, events, limiter, cookieKeys });
    const consoleRouter = consoleRoutes({ config, logger, provider, db, accounts, events, ceremonies, limiter, cookieKeys, resource: services, upstream, clock: deps.clock });
    const developers = compose([
      developerRoutes({ config, provider, db, accounts, events, cookieKeys, clock: deps.clock, apiCalls: () => registry.apiCalls() }).routes(),
      playgroundRoutes({ config, registry }).routes(),
    ] as Middleware[]);
    // Each of the following looks only at the paths it serves (src/http/paths.ts): a token request passes them all
    // by without matching a route.
    provider.use(staticFiles());
    provider.use(onlyFor(SESSION_ROUTES, browserSessions));
    provider.use(errorBoundary(logger));
    for (const guard of registrationGuards({ config, db, provider })) provider.use(onlyFor(under(PROVIDER_ROUTES.registration), guard));
    provider.use(onlyFor(exactly(DEVICE_VERIFICATION_PATH), limitUserCodeGuesses(limiter)));
    provider.use(onlyFor(exactly(PROVIDER_ROUTES.introspection), recordAgentTokenUse(new AgentTokens(provider, db, config), logger)));
    provider.use(onlyFor(exactly('/', '/.well-known/oauth-authorization-server'), router.routes() as Middleware));
    provider.use(onlyFor(under('/connections'), upstream.routes(provider).routes() as Middleware));
    provider.use(onlyFor(under('/interaction'), interactions.routes() as Middleware));
    provider.use(onlyFor(under('/console'), consoleRouter.routes() as Middleware));
    provider.use(onlyFor(under('/developers'), developers));
  }

  return { provider, koa: provider as unknown as Koa, callback: provider.callback(), accounts, events, services, connections, upstream, health, metrics };
}
