import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import type { Logger } from '../logger.js';

/** Headers every response carries; HTML additionally gets no-store (SECURITY.md D3). */
export function securityHeaders(): Middleware {
  return async (ctx, next) => {
    // Set before the routes run so oidc-provider can add its script hashes (form_post) to this same policy.
    ctx.set(
      'Content-Security-Policy',
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; connect-src 'self'; " +
        "form-action 'self' https: http://localhost:* http://127.0.0.1:*; frame-ancestors 'none'; base-uri 'none'",
    );
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
    ctx.set('Permissions-Policy', 'publickey-credentials-get=(self), publickey-credentials-create=(self)');
    await next();
    if (ctx.response.is('html')) ctx.set('Cache-Control', 'no-store');
  };
}

/**
 * URLs we issue never depend on request headers (SECURITY.md I2): protocol and host are the issuer's. With
 * TRUST_PROXY off, X-Forwarded-* headers are dropped so nothing downstream can read them either.
 */
export function pinOrigin(issuer: string, trustProxy: boolean): Middleware {
  const url = new URL(issuer);
  return async (ctx, next) => {
    if (!trustProxy) {
      for (const h of ['x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-for', 'x-forwarded-port', 'forwarded']) {
        delete ctx.req.headers[h];
      }
    }
    ctx.req.headers.host = url.host;
    Object.defineProperties(ctx.request, {
      host: { value: url.host },
      hostname: { value: url.hostname },
      protocol: { value: url.protocol.slice(0, -1) },
      origin: { value: url.origin },
      secure: { value: url.protocol === 'https:' },
    });
    await next();
  };
}

/** A request id for every request (echoed as X-Request-Id) and one log line: no query strings, no bodies (B8). */
export function requestLog(logger: Logger): Middleware {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    ctx.state.requestId = randomUUID();
    ctx.set('X-Request-Id', ctx.state.requestId);
    try {
      await next();
    } finally {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const route = ctx.path.replace(/^\/interaction\/[^/]+/, '/interaction/:uid');
      logger.info({ requestId: ctx.state.requestId, method: ctx.method, path: route, status: ctx.status, ms: Math.round(ms * 10) / 10 }, 'request');
    }
  };
}
