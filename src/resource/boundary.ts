import type { Middleware } from 'koa';
import type { Config } from '../config.js';
import { toAppError } from '../errors.js';
import type { Logger } from '../logger.js';
import { challengeFor, metadataUrl, type ChallengeOptions, type TokenScheme } from './challenge.js';
import { loggableError } from '../http/request-secrets.js';

/**
 * The resource API's error boundary: every refusal is JSON `{ error, error_description }` with its status and, for
 * token and scope problems, the Bearer and DPoP challenges. A 5xx never shows what went wrong inside (threat model I5).
 */
export function apiBoundary(
  config: Pick<Config, 'ISSUER'>,
  logger: Logger,
  challenge: ChallengeOptions = { metadata: metadataUrl(config) },
): Middleware {
  return async function apiErrorBoundary(ctx, next) {
    // Answers carry the owner's data: never stored by a shared cache or the browser (RFC 9111 §5.2.2.5).
    ctx.set('Cache-Control', 'no-store');
    try {
      await next();
    } catch (caught) {
      const error = toAppError(caught);
      if (error.status >= 500)
        logger.error({ err: loggableError(ctx, caught), requestId: ctx.state.requestId, code: error.code }, 'resource API call failed');
      ctx.status = error.status;
      const challenges = challengeFor(error, challenge, ctx.state.tokenScheme as TokenScheme | undefined);
      if (challenges) ctx.set('WWW-Authenticate', challenges);
      ctx.state.apiError = error.expose ? error.code : 'server_error';
      ctx.body = {
        error: error.expose ? error.code : 'server_error',
        error_description: error.expose ? error.description : 'Something went wrong on our side. Try again later.',
      };
    }
  };
}
