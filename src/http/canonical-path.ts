import type { Middleware } from 'koa';

/**
 * One path, one meaning (docs/threat-model.md J1). oidc-provider's router matches its fixed route segments
 * case-insensitively and ignores a trailing slash; every guard of ours (rate limits, session tracking, registration
 * rules) compares paths exactly. A request whose path the two would read differently could reach a handler without
 * its guard. So every request's path is brought to its one canonical form at the front door, before any guard or
 * router sees it, and a request that arrives in any other form never goes further:
 *
 * - no empty segments (`//`, a trailing `/` other than the root's) and no dot segments (RFC 3986 §5.2.4);
 * - unreserved characters are not percent-encoded (RFC 3986 §6.2.2.2), and `/` or `\` never are (no canonical form);
 * - oidc-provider's fixed segments (`/token/introspection`, `/reg`) in the case it registered them.
 *
 * Our own routers match case-sensitively (src/http/router.ts), so for them the exact form is the only form.
 */

/** RFC 3986 §2.3: ALPHA / DIGIT / "-" / "." / "_" / "~". */
const UNRESERVED = /[A-Za-z0-9\-._~]/;
const PERCENT = /%([0-9A-Fa-f]{2})/g;
/** An encoded `/` or `\` would be a separator to one reader and data to another: there is no canonical form. */
const ENCODED_SEPARATOR = /%(2f|5c)/i;

/**
 * The canonical form of a request path (Koa's `ctx.path`: the raw, undecoded path), or `undefined` when it has none.
 * `fixedRoutes` are the paths whose segments a case-insensitive router matches: their case is restored.
 */
export function canonicalPath(path: string, fixedRoutes: readonly string[]): string | undefined {
  if (!path.startsWith('/') || path.includes('\\') || ENCODED_SEPARATOR.test(path)) return undefined;
  const segments: string[] = [];
  for (const raw of path.split('/')) {
    const segment = raw.replace(PERCENT, (escape, hex: string) => {
      const char = String.fromCharCode(parseInt(hex, 16));
      return UNRESERVED.test(char) ? char : escape.toUpperCase();
    });
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  restoreFixedCase(segments, fixedRoutes);
  return `/${segments.join('/')}`;
}

/** Replaces the leading segments that match a fixed route but for case with the route's own (the longest match). */
function restoreFixedCase(segments: string[], fixedRoutes: readonly string[]): void {
  let best: string[] = [];
  for (const route of fixedRoutes) {
    const fixed = route.split('/').slice(1);
    if (fixed.length <= best.length || fixed.length > segments.length) continue;
    if (fixed.every((part, i) => part.toUpperCase() === segments[i]!.toUpperCase())) best = fixed;
  }
  best.forEach((part, i) => (segments[i] = part));
}

/**
 * Stops every request whose path is not canonical. A page or document fetched with GET or HEAD is sent to its
 * canonical address (308, the query kept); anything else, and a path with no canonical form, is 404: nothing that
 * changes state is ever forwarded, and no guard runs on one path while a handler runs on another.
 */
export function canonicalPaths(fixedRoutes: readonly string[]): Middleware {
  const known = new Map<string, string | undefined>();
  const canonical = (path: string) => {
    if (known.has(path)) return known.get(path);
    const result = canonicalPath(path, fixedRoutes);
    // Only a bounded number of paths is remembered: the many paths of an API must not grow memory.
    if (known.size < 1000) known.set(path, result);
    return result;
  };
  return function canonicalPathOnly(ctx, next) {
    const path = ctx.path;
    const target = canonical(path);
    if (target === path) return next();
    if (target !== undefined && (ctx.method === 'GET' || ctx.method === 'HEAD')) {
      ctx.status = 308;
      ctx.redirect(`${target}${ctx.querystring ? `?${ctx.querystring}` : ''}`);
      return undefined;
    }
    ctx.status = 404;
    ctx.body = { error: 'not_found', error_description: 'No such path. Paths are case-sensitive and have no trailing slash.' };
    return undefined;
  };
}
