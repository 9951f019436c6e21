import type { ServerResponse } from 'node:http';
import type Koa from 'koa';
import type { Context, Middleware } from 'koa';
import { under } from './paths.js';
import { trustsPeer, useClientAddress, type ProxyTrust } from './client-address.js';

/** What pages and every other answer a browser may render get (threat model D3). */
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

/**
 * Answers only machines read (JSON from the token, introspection, revocation, registration and device endpoints,
 * discovery, keys, userinfo, the resource API and the MCP server): nothing there is rendered, framed or navigated, so the page
 * policies above do nothing for them. They keep what does: no MIME sniffing, nothing loaded, no framing (OWASP's REST
 * headers), at half the cost per request.
 */
const API_HEADERS: [string, string][] = [
  ['Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'"],
  ['X-Content-Type-Options', 'nosniff'],
];
const API_PATHS = under('/api', '/mcp', '/token', '/jwks', '/reg', '/.well-known', '/me', '/device/auth');
const HTML = /^text\/html(;|$)/i;

/**
 * The security headers of the answer to a request for `path`: the API set or the page set. Set before the routes
 * run, so that oidc-provider adds its script hashes (form_post) to this same policy; on the Node response itself, as
 * the values are fixed and Koa's ctx.set builds arrays for each call.
 */
export function setSecurityHeaders(res: ServerResponse, path: string): void {
  for (const [name, value] of API_PATHS(path) ? API_HEADERS : SECURITY_HEADERS) res.setHeader(name, value);
}

/** Once the answer is final: an HTML page is never stored (D3). */
export function noStoreForHtml(ctx: Context): void {
  const type = ctx.res.getHeader('Content-Type');
  if (typeof type === 'string' && HTML.test(type)) ctx.set('Cache-Control', 'no-store');
}

const FORWARDED = ['x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-for', 'x-forwarded-port', 'forwarded'];

/**
 * URLs we issue never depend on request headers (threat model I2): protocol and host are the issuer's, pinned once on
 * the app's request prototype that every request object inherits from. The client's address is pinned the same way
 * to src/http/client-address.ts, which reads X-Forwarded-For only as far as `trust` allows (threat model J3). On a
 * request no trusted proxy forwarded (TRUST_PROXY off, or a peer outside its list), X-Forwarded-* headers are dropped
 * so nothing downstream can read them either.
 */
export function pinOrigin(app: Koa, issuer: string, trust: ProxyTrust): Middleware {
  const url = new URL(issuer);
  Object.defineProperties(app.request, {
    host: { value: url.host },
    hostname: { value: url.hostname },
    protocol: { value: url.protocol.slice(0, -1) },
    origin: { value: url.origin },
    secure: { value: url.protocol === 'https:' },
  });
  useClientAddress(app, trust);
  return function pinnedOrigin(ctx, next) {
    const { headers } = ctx.req;
    if (!trustsPeer(ctx.req.socket.remoteAddress, trust)) {
      for (const name of FORWARDED) if (headers[name] !== undefined) delete headers[name];
    }
    headers.host = url.host;
    return next();
  };
}
