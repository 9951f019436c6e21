import type { Middleware } from 'koa';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { whenStored } from '../db/held-writes.js';
import { providerLabel, type Metrics } from './metrics.js';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
/** Token endpoint grant types are ours to configure; anything else is labelled `other`, never echoed. */
const GRANT_TYPE = /^[a-z0-9:._-]{1,80}$/;

/**
 * The route a request took, as a pattern: oidc-provider's route name (`token`, `authorization`, ...) or the
 * matched @koa/router pattern (`/interaction/:uid`, `/api/echo/items/:id`). Never the raw path, which holds
 * interaction ids, client ids and user codes.
 */
function routeOf(ctx: Parameters<Middleware>[0]): string {
  const oidcRoute = (ctx as unknown as Partial<KoaContextWithOIDC>).oidc?.route;
  if (typeof oidcRoute === 'string') return oidcRoute;
  const matched = (ctx as unknown as { _matchedRoute?: string | RegExp })._matchedRoute;
  if (matched !== undefined) return String(matched);
  return ctx.path.startsWith('/static/') ? 'static' : 'unmatched';
}

/**
 * `oauth3_http_request_duration_seconds`, once a request's answer is final (src/http/front-door.ts times everything
 * ours and oidc-provider's). `status` is the answer's, or the error's when one escaped every handler.
 */
export function observeRequest(metrics: Metrics, ctx: Parameters<Middleware>[0], status: number, seconds: number): void {
  metrics.requestDuration.observe(
    { method: METHODS.has(ctx.method) ? ctx.method : 'other', route: routeOf(ctx), status_class: `${Math.floor(status / 100)}xx` },
    seconds,
  );
}

/** Tokens issued and replays detected, from oidc-provider's own events. */
export function observeProvider(provider: Provider, metrics: Metrics): void {
  const grantType = (ctx: KoaContextWithOIDC) => {
    const value = ctx.oidc?.params?.grant_type;
    return typeof value === 'string' && GRANT_TYPE.test(value) ? value : 'other';
  };
  // Counted once the tokens are stored: a token request's answer waits for its writes (src/db/held-writes.ts), and one
  // whose writes fail, or whose refresh lost a race for its token, issues nothing.
  provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
    whenStored(ctx, () => metrics.tokensIssued.inc({ grant_type: grantType(ctx) }));
  });
  // At the token endpoint oidc-provider revokes a grant only when a code or refresh token it had already consumed
  // comes back (RFC 9700 §4.14); revocations by the app or the owner happen on other routes.
  provider.on('grant.revoked', (ctx: KoaContextWithOIDC) => {
    if (ctx.oidc?.route === 'token') metrics.reuseDetected.inc({ grant_type: grantType(ctx) });
  });
}

/**
 * `oauth3_upstream_calls_total`: a resource API call that opened an owner's upstream account (`kit.connection`
 * names the provider), counted once its answer is final: `ok` or the error code the API answered with.
 */
export function countUpstreamCalls(metrics: Metrics): Middleware {
  return async function countUpstreamCall(ctx, next) {
    try {
      await next();
    } finally {
      const provider = ctx.state.upstreamProvider as string | undefined;
      if (provider) {
        const error = ctx.state.apiError as string | undefined;
        metrics.upstreamCalls.inc({
          provider: providerLabel(provider),
          outcome: error ?? (ctx.status < 400 ? 'ok' : `http_${Math.floor(ctx.status / 100)}xx`),
        });
      }
    }
  };
}
