import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Middleware } from 'koa';
import type { Context } from 'koa';
import { AppError, assertThat } from '../errors.js';
import { readBody } from './body.js';
import { pathParam } from './guard.js';

/**
 * A CSRF token bound to what the form acts on (an interaction id, a console session): an HMAC under the newest
 * cookie key, so nothing is stored and another browser's token is useless here.
 */
export function csrfToken(keys: string[], uid: string): string {
  return createHmac('sha256', keys[0]!).update(`csrf|${uid}`).digest('base64url');
}

function csrfValid(keys: string[], uid: string, presented: unknown): boolean {
  if (typeof presented !== 'string' || !presented) return false;
  const given = Buffer.from(presented);
  // Any current cookie key verifies, so rotating keys does not break pages already open.
  return keys.some((key) => {
    const expected = Buffer.from(createHmac('sha256', key).update(`csrf|${uid}`).digest('base64url'));
    return expected.length === given.length && timingSafeEqual(expected, given);
  });
}

/**
 * A state-changing request must come from our own pages (threat model D1): its Origin must be the issuer's origin.
 * Our pages send `Referrer-Policy: no-referrer`, under which browsers send `Origin: null` on form posts; then the
 * browser's own `Sec-Fetch-Site: same-origin` (which page scripts cannot set) vouches instead. Anything else,
 * including a request with neither, is refused.
 */
export function requireSameOrigin(origin: string): Middleware {
  return async (ctx, next) => {
    const claimed = ctx.get('origin');
    const sameSite = ctx.get('sec-fetch-site') === 'same-origin';
    const referer = ctx.get('referer') && safeOrigin(ctx.get('referer'));
    const ok = claimed ? claimed === origin || (claimed === 'null' && sameSite) : sameSite || referer === origin;
    assertThat(ok, 'forbidden_origin', 403, 'This request did not come from an oauth3 page.');
    await next();
  };
}

function safeOrigin(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

/** Parses the body into ctx.state.body, then checks the CSRF token from the header or the `csrf` form field. */
export function requireCsrf(keys: string[], subject: (ctx: Context) => string = (ctx) => pathParam(ctx, 'uid') ?? ''): Middleware {
  return async (ctx, next) => {
    const body = await readBody(ctx);
    ctx.state.body = body;
    const presented = ctx.get('x-csrf-token') || (body as Record<string, unknown> | undefined)?.csrf;
    if (!csrfValid(keys, subject(ctx), presented)) {
      throw new AppError('invalid_csrf_token', 403, 'This form has expired or did not come from this page. Reload and try again.');
    }
    await next();
  };
}
