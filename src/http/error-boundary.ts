import type { Middleware } from 'koa';
import { toAppError } from '../errors.js';
import type { Logger } from '../logger.js';
import { errorPage } from '../web/error-page.js';

/**
 * Turns any error from our routes into a stable response: JSON `{ error, error_description }`, with `problems` (each
 * `{ field, description }`) when an input was refused for several reasons, or a page (I5).
 */
export function errorBoundary(logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (caught) {
      const error = toAppError(caught);
      if (error.status >= 500) logger.error({ err: caught, requestId: ctx.state.requestId }, 'request failed');
      else logger.info({ code: error.code, requestId: ctx.state.requestId }, 'request refused');
      ctx.status = error.status;
      const description = error.expose ? error.description : 'Something went wrong on our side. Try again later.';
      if ((ctx.accepts('json', 'html') === 'html' && ctx.method === 'GET') || ctx.is('application/x-www-form-urlencoded')) {
        ctx.type = 'html';
        ctx.body = errorPage({ title: titleFor(error.status), message: description, requestId: ctx.state.requestId as string | undefined });
      } else {
        ctx.body = {
          error: error.expose ? error.code : 'server_error',
          error_description: description,
          ...(error.expose && error.problems?.length ? { problems: error.problems } : {}),
        };
      }
    }
  };
}

function titleFor(status: number): string {
  if (status === 403) return 'Not allowed';
  if (status === 404) return 'Not found';
  if (status === 429) return 'Too many attempts';
  if (status >= 500) return 'Something went wrong';
  return 'This request cannot continue';
}
