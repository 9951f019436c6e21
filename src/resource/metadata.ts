import type { Middleware } from 'koa';
import type { Config } from '../config.js';
import type { ScopeCatalog } from '../../scopes/catalog.js';
import { DPOP_SIGNING_ALGS } from '../provider/dpop-algorithms.js';

/**
 * RFC 9728 protected resource metadata: how a client (the MCP SDK, any RFC 9728 client) learns which authorization
 * server issues tokens for this API and which scopes it knows. Served at the root well-known path and at the one
 * §3.1 builds from the resource's path (`/.well-known/oauth-protected-resource/api`).
 */
export function protectedResourceMetadata(config: Pick<Config, 'ISSUER' | 'RESOURCE_URL'>, scopes: ScopeCatalog): Middleware {
  const resourcePath = new URL(config.RESOURCE_URL).pathname.replace(/\/+$/, '');
  const paths = new Set(['/.well-known/oauth-protected-resource', `/.well-known/oauth-protected-resource${resourcePath}`]);
  const serve: Middleware = async function servePrmDocument(ctx) {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.status = 405;
      ctx.set('Allow', 'GET, HEAD');
      return;
    }
    // Public and the same for everyone: any client may cache it for a while (RFC 9728 §3).
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.set('Access-Control-Allow-Origin', '*');
    ctx.body = {
      resource: config.RESOURCE_URL,
      authorization_servers: [config.ISSUER],
      scopes_supported: scopes.resourceScopes(),
      bearer_methods_supported: ['header'],
      // RFC 9449 §7 at this API: DPoP-bound tokens are accepted with a proof, unbound ones still as Bearer.
      dpop_signing_alg_values_supported: DPOP_SIGNING_ALGS,
      dpop_bound_access_tokens_required: false,
      resource_name: 'oauth3 resource API',
      resource_documentation: `${config.ISSUER}/`,
    };
  };
  return (ctx, next): unknown => (paths.has(ctx.path) ? serve(ctx, next) : next());
}
