import type Koa from 'koa';
import type { Middleware } from 'koa';
import compose from 'koa-compose';
import type Provider from 'oidc-provider';
import { PROVIDER_API_PATHS, PROVIDER_FIXED_PATHS, PROVIDER_ROUTES } from './provider/routes.js';
import { canonicalPaths } from './http/canonical-path.js';
import { DEVICE_VERIFICATION_PATH, limitUserCodeGuesses } from '../interactions/device-flow.js';
import { paceDevicePolls } from './provider/device-polling.js';
import { storedBeforeAnswered } from './provider/stored-before-answered.js';
import { pinOrigin } from './http/security.js';
import { proxyTrust } from './http/client-address.js';
import { frontDoor } from './http/front-door.js';
import { errorBoundary } from './http/error-boundary.js';
import { exactly, onlyFor, under } from './http/paths.js';
import { registrationGuards } from './provider/registration-guards.js';
import { staticFiles } from './web/static.js';
import { interactionRoutes } from '../interactions/routes.js';
import { InteractionDecisions } from '../interactions/decisions.js';
import { homePage } from './web/home-page.js';
import { consoleRoutes } from './console/routes.js';
import { developerRoutes } from './developers/routes.js';
import { playgroundRoutes } from './developers/playground.js';
import { appInfoRoutes } from './developers/app-info.js';
import { trackBrowserSessions } from './console/session-tracker.js';
import { recordAgentTokenUse, recordTokenEvents } from './grants/token-events.js';
import type { AccountStore } from './accounts/accounts.js';
import type { EventLog } from './accounts/events.js';
import type { ConnectionStore } from './connections/store.js';
import type { Upstream } from './upstream/index.js';
import { neededAccounts } from './connections/needed.js';
import type { ResourceServices } from './plugins/services.js';
import { createKit } from './resource/kit.js';
import { createResourceRouter } from './resource/router.js';
import { createHealth, type Health } from './http/health.js';
import type { Metrics } from './metrics/metrics.js';
import { observeProvider } from './metrics/observe.js';
import { createRouter } from './http/router.js';
import { createServices, type AppDeps, type Services } from './services.js';
import { TelegramLinks } from './accounts/telegram-links.js';
import type { TelegramBot } from './telegram-bot/bot.js';
import { Notifier } from './notices/notifier.js';
import { TelegramOutbox } from './notices/outbox.js';
import { NoticePreferences } from './notices/preferences.js';
import { followEvents } from './notices/from-events.js';
import { deploymentRoutes } from './deployment/routes.js';
import { Attestations } from './tee/attestation.js';
import { servedJwks } from './provider/served-jwks.js';
import { releaseVersion } from './paths.js';
import { RateLimiter } from './rate-limit.js';
import { errorPage } from './web/error-page.js';

export type { AppDeps };

/**
 * oidc-provider's routes that load the browser session (its shared/session.js middleware: authorization, device code
 * verification, end session), at their default paths: only there can a sign-in be saved and tracked.
 */
const SESSION_ROUTES = under(PROVIDER_ROUTES.authorization, PROVIDER_ROUTES.code_verification, PROVIDER_ROUTES.end_session);

/**
 * A browser asking for a page nothing here serves gets the site's error page (status 404, a link home) instead of Koa's
 * bare "Not Found". Only GET and HEAD requests that prefer HTML and that no route answered: JSON clients keep the
 * empty 404, and oidc-provider's endpoints (which answer their own OAuth errors) are never touched.
 */
function notFoundPage(): Middleware {
  const providerPath = under(...PROVIDER_FIXED_PATHS);
  return async function notFoundPage(ctx, next) {
    await next();
    if (ctx.status !== 404 || ctx.body != null || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return;
    if (providerPath(ctx.path) || ctx.accepts('json', 'html') !== 'html') return;
    ctx.status = 404;
    ctx.type = 'html';
    ctx.body = errorPage({
      title: 'Page not found',
      message: 'There is no page at this address. The link may be mistyped, or the page may have moved.',
    });
  };
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
  /** The scopes this app knows. */
  scopes: Services['scopes'];
  /** Its registered clients (the command line and the tests add theirs here). */
  clients: Services['clients'];
  /** oauth3's own Telegram bot, when TELEGRAM_BOT_TOKEN is set (the server starts and stops it). */
  telegramBot?: TelegramBot;
  /** Tells owners things in their linked Telegram chat (nothing, without a bot). */
  notifier: Notifier;
}

/**
 * Builds the whole HTTP application from its dependencies (no module state, so tests build real apps side by
 * side). oidc-provider's Koa app is the host; our middleware runs before its routes.
 */
export function createApp(deps: AppDeps): App {
  const { config, logger, db, redis, cookieKeys } = deps;
  const services = createServices(deps);
  const { provider, accounts, events, metrics, connections, upstream, registry, scopes, ceremonies, limiter } = services;
  paceDevicePolls({ provider, db, intervalSeconds: config.DEVICE_POLL_INTERVAL, ttlSeconds: config.DEVICE_CODE_TTL });
  const browserSessions = trackBrowserSessions(provider, db, logger);
  recordTokenEvents(provider, events);
  observeProvider(provider, metrics);

  // Liveness and readiness, served by every role.
  const health = createHealth({ db, redis, timeoutMs: config.DATABASE_TIMEOUT_MS });
  const router = createRouter();
  router.get('/', (ctx) => {
    ctx.type = 'html';
    ctx.body = homePage({ issuer: config.ISSUER, done: ctx.query.done });
  });
  // RFC 8414 metadata is the same document as OpenID discovery; oidc-provider serves the latter.
  router.get('/.well-known/oauth-authorization-server', async (ctx, next) => {
    ctx.path = '/.well-known/openid-configuration';
    await next();
  });

  // What the MCP server serves, and what the console tells owners it serves: every plugin's tools and one per
  // configured provider with an API.
  const mcpTools = [...services.resource.registry.tools(), ...upstream.tools()];
  const resourceApi = createResourceRouter({
    config,
    logger,
    provider,
    db,
    redis,
    scopes,
    services: services.resource,
    kit: createKit({ config, logger, services: services.resource, events }),
    upstream,
    tools: mcpTools,
    metrics,
  });

  const telegramLinks = new TelegramLinks(db);
  const outbox = new TelegramOutbox(db);
  const noticePreferences = new NoticePreferences(db);
  // Every role queues notices (a held post is made by the resource API); the bot runs where the console is served.
  const notifier = new Notifier({
    logger,
    links: telegramLinks,
    preferences: noticePreferences,
    outbox,
    enabled: Boolean(config.TELEGRAM_BOT_TOKEN),
  });
  followEvents(events, notifier, { db, issuer: config.ISSUER, scopes });
  const bot = deps.telegramBotModule;
  const telegramBot =
    bot && config.TELEGRAM_BOT_TOKEN
      ? bot.createTelegramBot({
          config,
          botToken: config.TELEGRAM_BOT_TOKEN,
          logger,
          db,
          links: telegramLinks,
          events,
          outbox,
          handlers: [
            bot.approvalHandlers({
              links: telegramLinks,
              accounts,
              logger,
              decisions: {
                resource: services.resource,
                events,
                logger,
                grantExists: async (grantId) => Boolean(await provider.Grant.find(grantId)),
                notifier,
              },
            }),
            bot.commandHandlers({ ...services, db, links: telegramLinks, services: services.resource, issuer: config.ISSUER }),
          ],
          menu: bot.BOT_COMMANDS,
          ...(deps.telegramSender ? { senderOptions: deps.telegramSender } : {}),
        })
      : undefined;
  if (telegramBot) notifier.onQueued(() => telegramBot.wake());

  // TEE mode: a fresh quote per verifier nonce, binding this issuer and the keys it serves (threat model J10).
  const attestations = deps.tee
    ? new Attestations({
        tee: deps.tee.agent,
        identity: deps.tee.identity,
        issuer: config.ISSUER,
        version: releaseVersion,
        jwks: servedJwks(provider),
      })
    : undefined;
  const deployment = deps.tee ? { composeHash: deps.tee.identity.composeHash } : undefined;
  const deploymentRouter = deploymentRoutes({ issuer: config.ISSUER, logger, attestations, limiter: new RateLimiter(db, 60, 60) });

  provider.use(frontDoor({ logger, metrics }));
  // Before any guard or router: from here on every path is in its one canonical form (docs/threat-model.md J1).
  provider.use(canonicalPaths(PROVIDER_FIXED_PATHS));
  provider.use(pinOrigin(provider as unknown as Koa, config.ISSUER, proxyTrust(config.TRUST_PROXY)));
  provider.use(health.middleware());
  provider.use(onlyFor(exactly(PROVIDER_ROUTES.token), storedBeforeAnswered(provider)));
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
    const decisions = new InteractionDecisions(db, config.INTERACTION_TTL);
    const interactions = interactionRoutes({
      config,
      provider,
      accounts,
      ceremonies,
      events,
      limiter,
      knownBrowsers: services.knownBrowsers,
      cookieKeys,
      policies: services.resource.policies,
      decisions,
      scopes,
      deployment,
      neededAccounts: neededAccounts({ registry, connections, upstream }),
    });
    const consoleRouter = consoleRoutes({
      config,
      logger,
      provider,
      db,
      accounts,
      events,
      ceremonies,
      limiter,
      cookieKeys,
      resource: services.resource,
      upstream,
      clock: deps.clock,
      scopes,
      clients: services.clients,
      agentTokens: services.agentTokens,
      agentServices: services.agentServices,
      browserSessions: services.browserSessions,
      mcpTools,
      telegram: { links: telegramLinks, botUsername: telegramBot?.username, preferences: noticePreferences, outbox },
      notifier,
      deployment,
    });
    const developers = compose([
      // Public, before the portal's routes (which all need a signed-in developer).
      appInfoRoutes({ config, clients: services.clients, scopes }).routes(),
      developerRoutes({
        config,
        provider,
        db,
        accounts,
        events,
        cookieKeys,
        clock: deps.clock,
        apiCalls: () => registry.apiCalls(),
        mcpTools,
        clients: services.clients,
        scopes,
      }).routes(),
      playgroundRoutes({ config, registry, scopes }).routes(),
    ] as Middleware[]);
    provider.use(onlyFor(exactly(PROVIDER_ROUTES.introspection), recordAgentTokenUse(services.agentTokens, logger)));
    // Each of the following looks only at the paths it serves (src/http/paths.ts), and none at oidc-provider's API
    // endpoints, which answer their own errors: a token, introspection, revocation, userinfo, key set or discovery
    // request skips them with one check instead of passing fifteen layers, each a promise.
    const ours = compose([
      staticFiles(),
      onlyFor(SESSION_ROUTES, browserSessions),
      errorBoundary(logger),
      notFoundPage(),
      ...registrationGuards({ config, db, provider }).map((guard) => onlyFor(under(PROVIDER_ROUTES.registration), guard)),
      onlyFor(exactly(DEVICE_VERIFICATION_PATH), limitUserCodeGuesses(limiter)),
      onlyFor(exactly('/', '/.well-known/oauth-authorization-server'), router.routes() as Middleware),
      onlyFor(exactly('/attestation', '/deployment'), deploymentRouter.routes() as Middleware),
      onlyFor(under('/connections'), upstream.routes(provider).routes() as Middleware),
      onlyFor(under('/interaction'), interactions.routes() as Middleware),
      onlyFor(under('/console'), consoleRouter.routes() as Middleware),
      onlyFor(under('/developers'), developers),
      ...(bot && telegramBot ? [onlyFor(exactly(bot.WEBHOOK_PATH), telegramBot.webhook)] : []),
    ]);
    // The introspection recorder above runs before this split.
    const providerApi = exactly(...PROVIDER_API_PATHS);
    provider.use(function oursUnlessProviderApi(ctx, next) {
      return providerApi(ctx.path) ? next() : ours(ctx, next);
    });
  }

  return {
    provider,
    koa: provider,
    callback: provider.callback(),
    accounts,
    events,
    services: services.resource,
    connections,
    upstream,
    health,
    metrics,
    scopes,
    clients: services.clients,
    telegramBot,
    notifier,
  };
}
