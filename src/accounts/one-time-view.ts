import { createHash } from 'node:crypto';
import type { Context } from 'koa';
import { keyRing, open, seal } from '../keys/sealing.js';
import { ownerOf } from './owner-session.js';

const COOKIE = 'oauth3_console_once';
/** Time enough to follow the redirect; a value not shown by then is gone. */
const TTL_MS = 5 * 60 * 1000;

/** Each cookie key, hashed for this one use: a 256-bit AES key that signs nothing else. */
const derive = (key: string) => createHash('sha256').update(`oauth3 console one-time view|${key}`).digest();

/**
 * A one-time view of something just created (the console's agent tokens, agent services' secrets and Telegram links,
 * the developer portal's client secrets), so a form that created it can answer with a redirect (POST, 303, GET) and a
 * reload never creates another. The value travels
 * in an AES-GCM sealed cookie bound to this browser session and to the one page that shows it (its path and the
 * sealed data), never in a URL. Reading it clears it: a reload finds nothing and the page says it was shown once.
 */
export class OneTimeView {
  private readonly ring;

  constructor(
    cookieKeys: string[],
    private readonly secure: boolean,
  ) {
    const [current, ...previous] = cookieKeys.map(derive);
    if (!current) throw new Error('OneTimeView needs a cookie key');
    this.ring = keyRing(current, previous);
  }

  private aad = (ctx: Context, page: string) => `console-once|${ownerOf(ctx).sessionUid}|${page}`;

  private options(page: string, maxAge?: number) {
    return { httpOnly: true, sameSite: 'strict' as const, path: page, secure: this.secure, overwrite: true, ...(maxAge ? { maxAge } : {}) };
  }

  /** Keeps `value` for the next GET of `page` in this browser session (only the newest value is kept). */
  put(ctx: Context, page: string, value: unknown): void {
    const sealed = seal(this.ring, JSON.stringify({ until: Date.now() + TTL_MS, value }), this.aad(ctx, page));
    ctx.cookies.set(COOKIE, sealed, this.options(page, TTL_MS));
  }

  /** The value kept for `page`, once: the cookie is cleared whether it opens or not. */
  take<T>(ctx: Context, page: string): T | undefined {
    const sealed = ctx.cookies.get(COOKIE);
    if (!sealed) return undefined;
    ctx.cookies.set(COOKIE, null, this.options(page));
    try {
      const kept = JSON.parse(open(this.ring, sealed, this.aad(ctx, page)).toString('utf8')) as { until: number; value: T };
      return typeof kept.until === 'number' && kept.until > Date.now() ? kept.value : undefined;
    } catch {
      return undefined;
    }
  }
}
