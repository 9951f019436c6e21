import { errors } from 'oidc-provider';
import type Provider from 'oidc-provider';
import type { Middleware } from 'koa';
import errOut from 'oidc-provider/lib/helpers/err_out.js';
import { holdWrites, settleHeldWrites } from '../db/held-writes.js';

/**
 * The token endpoint's answer leaves only once every token it issued is stored. Its writes are held
 * (src/db/held-writes.ts): oidc-provider goes on while they are sent together, and this waits for all of them after
 * it has answered. A write that failed turns a successful answer into the server error oidc-provider gives for any
 * failure of its storage (and its `server_error` event, which is logged); an answer that was already an error stays.
 * Mounted inside the front door, so the request's log line and metrics show the status that leaves.
 */
export function storedBeforeAnswered(provider: Provider): Middleware {
  return async function storedBeforeAnswered(ctx, next) {
    holdWrites(ctx);
    try {
      await next();
    } finally {
      try {
        await settleHeldWrites(ctx);
      } catch (error) {
        const refused = error instanceof errors.OIDCProviderError && error.statusCode < 500;
        if (ctx.status < 400) {
          ctx.status = refused ? error.statusCode : 500;
          ctx.body = errOut(error);
        }
        provider.emit(refused ? 'grant.error' : 'server_error', ctx, error);
      }
    }
  };
}
