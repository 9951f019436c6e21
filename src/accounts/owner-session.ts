import type { Context, Middleware } from 'koa';
import type Provider from 'oidc-provider';
import { AppError } from '../errors.js';
import type { Account, AccountStore } from './accounts.js';

/** The signed-in owner of a console request, from oidc-provider's own session cookie. */
export interface Owner {
  accountId: string;
  account: Account;
  /** The browser session's stable uid (CSRF tokens and "this device" are bound to it). */
  sessionUid: string;
  /** When the owner last proved presence with a passkey (epoch seconds). */
  loginTs: number;
}

export const ownerOf = (ctx: Context): Owner => ctx.state.owner as Owner;
/** The console's and the developer portal's JSON APIs answer 401 instead of sending the browser to sign in. */
export const isApi = (ctx: Context) => ctx.path.startsWith('/console/api/') || ctx.path.startsWith('/developers/api/');

/**
 * Loads the owner or stops the request: the JSON API answers 401, pages send the browser to sign in and come back.
 * A disabled or deleted account counts as signed out.
 */
export function loadOwner(provider: Provider, accounts: AccountStore): Middleware {
  return async (ctx, next) => {
    const session = await provider.Session.get(ctx);
    const account = session.accountId ? await accounts.find(session.accountId) : undefined;
    if (!session.accountId || !account || account.disabledAt) {
      if (isApi(ctx)) throw new AppError('unauthorized', 401, 'Sign in to the console first.');
      ctx.redirect(`/console/login?return=${encodeURIComponent(ctx.originalUrl)}`);
      return;
    }
    ctx.state.owner = { accountId: account.id, account, sessionUid: session.uid, loginTs: session.loginTs ?? 0 } satisfies Owner;
    await next();
  };
}

/**
 * Sensitive changes (adding a passkey, deleting the account) need a passkey check within the last few minutes
 * (threat model E7); otherwise the owner is asked to sign in again.
 */
export function requireRecentSignIn(maxAgeSeconds: number): Middleware {
  return async (ctx, next): Promise<unknown> => {
    const owner = ownerOf(ctx);
    if (Date.now() / 1000 - owner.loginTs <= maxAgeSeconds) return next();
    if (isApi(ctx) || ctx.method !== 'GET') {
      throw new AppError(
        'recent_sign_in_required',
        403,
        'Sign in again with your passkey to do this (it has been more than a few minutes).',
      );
    }
    ctx.redirect(`/console/login?fresh=1&return=${encodeURIComponent(ctx.originalUrl)}`);
  };
}
