import { randomUUID } from 'node:crypto';
import type Koa from 'koa';
import type { Middleware } from 'koa';
import type { Logger } from '../logger.js';

const SECURITY_HEADERS: [string, string][] = [
  [
    'Content-Security-Policy',
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; connect-src 'self'; " +
      "form-action 'self' https: http://localhost:* http://127.0.0.1:*; frame-ancestors 'none'; base-uri 'none'",
  ],
  ['X-Frame-Options', 'DENY'],
  ['X-Content-Type-Options', 'nosniff'],
  ['Referrer-Policy', 'no-referrer'],
  ['Cross-Origin-Opener-Policy', 'same-origin'],
  ['Permissions-Policy', 'publickey-credentials-get=(self), publickey-credentials-create=(self)'],
];
const HTML = /^text\/html(;|$)/i;

/** Headers every response carries; HTML additionally gets no-store (SECURITY.md D3). */
export function securityHeaders(): Middleware {
  return async function secureResponse(ctx, next) {
    // Set before the routes run so oidc-provider can add its script hashes (form_post) to this same policy; on the
    // Node response itself, as the values are fixed and Koa's ctx.set builds arrays for each call.
    for (const [name, value] of SECURITY_HEADERS) ctx.res.setHeader(name, value);
    await next();
    const type = ctx.res.getHeader('Content-Type');
    if (typeof type === 'string' && HTML.test(type)) ctx.set('Cache-Control', 'no-store');
  };
}

const FORWARDED = ['x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-for', 'x-forwarded-port', 'forwarded'];

/**
 * URLs we issue never depend on request headers (SECURITY.md I2): protocol and host are the issuer's, pinned once on
 * the app's request prototype that every request object inherits from. With TRUST_PROXY off, X-Forwarded-* headers
 * are dropped so nothing downstream can read them either.
 */
export function pinOrigin(app: Koa, issuer: string, trustProxy: boolean): Middleware {
  const url = new URL(issuer);
  Object.defineProperties(app.request, {
    host: { value: url.host },
    hostname: { value: url.hostname },
    protocol: { value: url.protocol.slice(0, -1) },
    origin: { value: url.origin },
    secure: { value: url.protocol === 'https:' },
  });
  return function pinnedOrigin(ctx, next) {
    const { headers } = ctx.req;
    if (!trustProxy) {
      for (const name of FORWARDED) if (headers[name] !== undefined) delete headers[name];
    }
    headers.host = url.host;
    return next();
  };
}

/**
 * A request id for every request (echoed as X-Request-Id) and one log line: no query strings, no bodies (B8). The
 * line is built here from five fields none of which the redaction paths name, so it is written by a child logger
 * that skips redaction, which would otherwise cost more than the rest of the line (src/logger.ts).
 */
export function requestLog(logger: Logger): Middleware {
  const lines = logger.child({}, { redact: [] });
  return async function logRequest(ctx, next) {
    const started = process.hrtime.bigint();
    ctx.state.requestId = randomUUID();
    ctx.set('X-Request-Id', ctx.state.requestId);
    try {
      await next();
    } finally {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const route = ctx.path.replace(/^\/interaction\/[^/]+/, '/interaction/:uid');
      lines.info({ requestId: ctx.state.requestId, method: ctx.method, path: route, status: ctx.status, ms: Math.round(ms * 10) / 10 }, 'request');
    }
  };
}
