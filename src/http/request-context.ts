import { AsyncLocalStorage } from 'node:async_hooks';
import type { Context, Middleware } from 'koa';

/**
 * The request being served, for code that oidc-provider calls without it (its model events). Only for details
 * such as the browser's IP and user agent, never for decisions.
 */
const storage = new AsyncLocalStorage<Context>();

export const currentRequest = (): Context | undefined => storage.getStore();

export function requestContext(): Middleware {
  return (ctx, next) => storage.run(ctx, next);
}
