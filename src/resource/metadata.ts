import type { Middleware } from 'koa';
import type { Config } from '../config.js';
import type { ScopeCatalog } from '../../scopes/catalog.js';
import { DPOP_SIGNING_ALGS } from '../provider/dpop-algorithms.js';

const WELL_KNOWN = '/.well-known/oauth-protected-resource';

/** One protected resource this server describes (RFC 9728 §2). */
interface ResourceDocument {
  resource: string;
  name: string;
  scopes: string[];
}

/** RFC 9728 §3.1: the well-known path built from the resource's own path (`/api` → `…/oauth-protected-resource/api`). */
const wellKnownPathOf = (resource: string) => `${WELL_KNOWN}${new URL(resource).pathname.replace(/\/+$/, '')}`;

/** The MCP server's RFC 9728 document: where MCP clients begin (MCP authorization, protected resource metadata). */
export const mcpMetadataUrl = (config: Pick<Config, 'ISSUER' | 'MCP_URL'>) => `${config.ISSUER}${wellKnownPathOf(config.MCP_URL)}`;

/**
 * RFC 9728 protected resource metadata: how a client (the MCP SDK, any RFC 9728 client) learns which authorization
 * server issues tokens for a resource and which scopes it knows. The resource API's document is served at the root
 * well-known path and at the one §3.1 builds from its path (`/.well-known/oauth-protected-resource/api`); the MCP
 * server's at `/.well-known/oauth-protected-resource/mcp`, listing the scopes its tools need.
 */
export function protectedResourceMetadata(
  config: Pick<Config, 'ISSUER' | 'RESOURCE_URL' | 'MCP_URL'>,
  scopes: ScopeCatalog,
  toolScopes: readonly string[] = [],
): Middleware {
  const api: ResourceDocument = { resource: config.RESOURCE_URL, name: 'oauth3 resource API', scopes: scopes.resourceScopes() };
  const mcp: ResourceDocument = { resource: config.MCP_URL, name: 'oauth3 MCP server', scopes: [...new Set(toolScopes)] };
  const documents = new Map([
    [WELL_KNOWN, api],
    [wellKnownPathOf(config.RESOURCE_URL), api],
    [wellKnownPathOf(config.MCP_URL), mcp],
  ]);
  return async function servePrmDocument(ctx, next) {
    const document = documents.get(ctx.path);
    if (!document) {
      await next();
      return;
    }
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.status = 405;
      ctx.set('Allow', 'GET, HEAD');
      return;
    }
    // Public and the same for everyone: any client may cache it for a while (RFC 9728 §3).
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.set('Access-Control-Allow-Origin', '*');
    ctx.body = {
      resource: document.resource,
      authorization_servers: [config.ISSUER],
      scopes_supported: document.scopes,
      bearer_methods_supported: ['header'],
      // RFC 9449 §7: DPoP-bound tokens are accepted with a proof, unbound ones still as Bearer.
      dpop_signing_alg_values_supported: DPOP_SIGNING_ALGS,
      dpop_bound_access_tokens_required: false,
      resource_name: document.name,
      resource_documentation: `${config.ISSUER}/`,
    };
  };
}
