import type { Middleware } from 'koa';
import { ZodError } from 'zod';
import type { Config } from '../config.js';
import { AppError, invalidInput } from '../errors.js';
import type { Logger } from '../logger.js';
import { challengeFor, type TokenScheme } from './challenge.js';
import { storageUnavailable } from './errors.js';
import { loggableError } from '../http/request-secrets.js';

/**
 * Connection-level failures of Postgres, PGlite or Redis (SQLSTATE classes 08 and 57, socket errors, timeouts): the
 * call is answered 503, as the token check answers it, so a client retries instead of reporting a bug.
 */
export function isStorageFailure(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && /^(08|57P0|53300|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE)/.test(code)) return true;
  return typeof message === 'string' && /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client was closed|PGlite is closed|Connection is closed/i.test(message);
}

/** Foreign errors become AppErrors here, once, with the cause kept for the log line: one error boundary per surface. */
function translate(caught: unknown): AppError {
  if (caught instanceof AppError) return caught;
  if (caught instanceof ZodError) return invalidInput(caught);
  if (isStorageFailure(caught)) return storageUnavailable(caught);
  return new AppError('server_error', 500, 'internal error', { cause: caught, expose: false });
}

/**
 * The resource API's error boundary: every refusal is JSON `{ error, error_description }` with its status and, for
 * token and scope problems, the Bearer and DPoP challenges. A 5xx never shows what went wrong inside (threat model I5).
 */
export function apiBoundary(config: Pick<Config, 'ISSUER'>, logger: Logger): Middleware {
  return async function apiErrorBoundary(ctx, next) {
    // Answers carry the owner's data: never stored by a shared cache or the browser (RFC 9111 §5.2.2.5).
    ctx.set('Cache-Control', 'no-store');
    try {
      await next();
    } catch (caught) {
      const error = translate(caught);
      if (error.status >= 500) logger.error({ err: loggableError(ctx, caught), requestId: ctx.state.requestId, code: error.code }, 'resource API call failed');
      ctx.status = error.status;
      const challenge = challengeFor(error, config, ctx.state.tokenScheme as TokenScheme | undefined);
      if (challenge) ctx.set('WWW-Authenticate', challenge);
      ctx.state.apiError = error.expose ? error.code : 'server_error';
      ctx.body = {
        error: error.expose ? error.code : 'server_error',
        error_description: error.expose ? error.description : 'Something went wrong on our side. Try again later.',
      };
    }
  };
}
