import type { Middleware } from 'koa';
import compose from 'koa-compose';
import type Provider from 'oidc-provider';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Database } from '../db/database.js';
import type { Redis } from 'ioredis';
import { AppError } from '../errors.js';
import type { ApiRouter, PluginKit, ResourceState, Tool } from '../plugins/plugin.js';
import type { ResourceServices } from '../plugins/services.js';
import { ApiCallLog, logApiCalls } from './access-log.js';
import { apiBoundary } from './boundary.js';
import { bearer } from './bearer.js';
import { protectedResourceMetadata } from './metadata.js';
import { BearerTokens } from './tokens.js';
import { DpopProofs } from './dpop.js';
import { proofReplayCache } from './dpop-replay.js';
import type { Metrics } from '../metrics/metrics.js';
import type { ScopeCatalog } from '../../scopes/catalog.js';
import { countUpstreamCalls } from '../metrics/observe.js';
import { createRouter } from '../http/router.js';
import { MCP_PATH, checkOrigin, onlyPost, requireToolScopes, serveMcp } from './mcp/endpoint.js';
import { toolRunner } from './mcp/tool-runner.js';
import { mcpMetadataUrl } from './metadata.js';

/** The resource API's path on this server; its audience (RESOURCE_URL) may name another public host. */
export const API_ROOT = '/api';

export interface ResourceRouterDeps {
  config: Config;
  /** The scopes this server knows, for the RFC 9728 document. */
  scopes: ScopeCatalog;
  logger: Logger;
  provider: Provider;
  db: Database;
  /** Where accepted DPoP proofs are remembered across replicas; the database when left out (./dpop-replay.ts). */
  redis?: Redis;
  services: ResourceServices;
  kit: PluginKit;
  /** The generic upstream client's proxied route, `/api/upstream/<provider>/…` (src/upstream/index.ts). */
  upstream: { proxyRoutes(router: ApiRouter, kit: PluginKit): void };
  /** The MCP server's tools: every plugin's and the upstream client's (built once in createApp). */
  tools: readonly Tool[];
  /** Counts upstream calls by provider and outcome; none when left out. */
  metrics?: Metrics;
}

type Layer = { methods: string[] };

/** After the routes: a path no route has is 404, a route asked with another method 405 (RFC 9110 §15.5.6). */
const noSuchRoute: Middleware = async function noSuchRoute(ctx) {
  const layers = ((ctx as unknown as { matched?: Layer[] }).matched ?? []).filter((layer) => layer.methods.length > 0);
  if (layers.length) {
    ctx.set('Allow', [...new Set(layers.flatMap((layer) => layer.methods))].join(', '));
    throw new AppError('method_not_allowed', 405, `This route does not answer ${ctx.method}.`);
  }
  throw new AppError('not_found', 404, 'No such resource API route.');
};

/**
 * The resource server (docs/architecture.md#a-resource-api-call): every plugin's routes and the generic upstream proxy
 * under /api, behind named stages — access log, error boundary, access token (Bearer or DPoP) — the MCP server at
 * /mcp with every plugin's and provider's tools, behind its own (docs/architecture.md#mcp), and the RFC 9728 metadata
 * documents of both. Returns one middleware for the app to mount before oidc-provider's routes; /api and /mcp
 * requests never reach anything after it.
 */
export function createResourceRouter(deps: ResourceRouterDeps): Middleware {
  const { config, logger, provider, db, services, kit, upstream } = deps;
  const api: ApiRouter = createRouter<ResourceState>({ prefix: API_ROOT });
  for (const plugin of services.registry.plugins) plugin.routes(api, kit);
  upstream.proxyRoutes(api, kit);

  const log = new ApiCallLog(db, logger);
  const proofs = new DpopProofs(config, proofReplayCache(db, deps.redis));
  const pipeline = compose([
    logApiCalls(log) as Middleware,
    ...(deps.metrics ? [countUpstreamCalls(deps.metrics)] : []),
    apiBoundary(config, logger),
    bearer(new BearerTokens(provider, db, config), proofs),
    api.routes() as unknown as Middleware,
    noSuchRoute,
  ]);

  const { tools } = deps;
  const toolScopes = [...new Set(tools.map((tool) => tool.scope))];
  // A client with no token yet starts with the read scopes its tools need, and steps up when it writes.
  const firstScopes = toolScopes.filter((scope) => deps.scopes.get(scope)?.access === 'read');
  const mcp = compose([
    apiBoundary(config, logger, { metadata: mcpMetadataUrl(config), scope: firstScopes.join(' ') || undefined }),
    checkOrigin(config),
    onlyPost,
    bearer(new BearerTokens(provider, db, config, config.MCP_URL), proofs),
    requireToolScopes(tools),
    serveMcp(config, tools, toolRunner({ kit, log, logger, metrics: deps.metrics })),
  ]);
  const metadata = protectedResourceMetadata(config, deps.scopes, toolScopes);

  return function resourceServer(ctx, next): unknown {
    if (ctx.path === API_ROOT || ctx.path.startsWith(`${API_ROOT}/`)) return pipeline(ctx, async () => undefined);
    if (ctx.path === MCP_PATH) return mcp(ctx, async () => undefined);
    return metadata(ctx, next);
  };
}
