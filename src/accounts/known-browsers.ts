import { randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import { z } from 'zod';
import { digestOf } from '../db/at-rest-keys.js';
import type { Database } from '../db/database.js';
import type { Logger } from '../logger.js';
import { deviceName } from '../web/device.js';

/** The cookie that tells one browser from another across sign-ins (signed with the server's cookie keys). */
export const BROWSER_COOKIE = 'oauth3_browser';
/** As long as browsers keep a cookie (Chrome caps Max-Age at 400 days); a row unseen that long is removed. */
const LIFETIME_DAYS = 400;
const LIFETIME_MS = LIFETIME_DAYS * 24 * 60 * 60 * 1000;
/** 256 random bits in base64url; anything else in the cookie is ignored and replaced. */
const BrowserId = z.string().regex(/^[A-Za-z0-9_-]{43}$/);

/** The browser of a sign-in as the owner is told of it: whether this account has seen it before, and what it is. */
export interface SigninBrowser {
  newBrowser: boolean;
  /** "Chrome on Android", from the User-Agent (which is not kept). */
  description: string;
}

/**
 * The browsers each owner has signed in from (known_browsers), so a sign-in from another one can be told to the owner
 * (docs/architecture.md#notices). A browser carries a random id in a long-lived, signed, httpOnly cookie; only the
 * id's digest is stored (src/db/at-rest-keys.ts), so a database reader cannot plant a known browser's cookie. Clearing cookies makes
 * a browser new again, which errs on the side of telling the owner.
 */
export class KnownBrowsers {
  constructor(
    private readonly db: Database,
    private readonly issuer: string,
    private readonly logger: Logger,
  ) {}

  /**
   * Notes the browser of `ctx` as one `accountId` signed in from, giving it an id first if it has none (or one that
   * is not ours), and says whether the account had seen it before. Sign-up calls it too: the browser that made the
   * account is known from then on. Undefined when the database could not say: the sign-in goes on regardless.
   */
  async remember(ctx: Context, accountId: string): Promise<SigninBrowser | undefined> {
    const cookie = {
      httpOnly: true,
      sameSite: 'lax' as const,
      signed: true,
      // Read only where an owner signs in.
      path: '/interaction',
      maxAge: LIFETIME_MS,
      secure: this.issuer.startsWith('https:'),
      overwrite: true,
    };
    const held = BrowserId.safeParse(ctx.cookies.get(BROWSER_COOKIE, { signed: true }));
    const id = held.success ? held.data : randomBytes(32).toString('base64url');
    // Set again each time, so a browser in use keeps its id for as long as it is used.
    ctx.cookies.set(BROWSER_COOKIE, id, cookie);
    const description = deviceName(ctx.get('user-agent'));
    try {
      // xmax = 0: the row was inserted just now, not found and updated.
      const { rows } = await this.db.query<{ inserted: boolean }>(
        `INSERT INTO known_browsers (account_id, digest, description, expires_at)
         VALUES ($1, $2, $3, now() + make_interval(days => $4))
         ON CONFLICT (account_id, digest) DO UPDATE SET last_seen = now(), expires_at = EXCLUDED.expires_at
         RETURNING (xmax = 0) AS inserted`,
        [accountId, digestOf('Browser', id), description, LIFETIME_DAYS],
      );
      return { newBrowser: rows[0]?.inserted === true, description };
    } catch (error) {
      this.logger.error({ error: error instanceof Error ? error.message : String(error) }, 'could not remember a browser');
      return undefined;
    }
  }
}
