import type { Context } from 'koa';
import { createRouter } from '../http/router.js';
import { toAppError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { RateLimiter } from '../rate-limit.js';
import { NONCE_HEX } from '../tee/report-data.js';
import type { Attestations } from '../tee/attestation.js';
import { deploymentPage } from './page.js';

export interface DeploymentDeps {
  issuer: string;
  logger: Logger;
  /** Present in TEE mode (MASTER_KEY_SOURCE=dstack) only. */
  attestations?: Attestations;
  /** Counts quotes per client address: each one is work for the CVM's quoting enclave. */
  limiter: RateLimiter;
}

function answer(ctx: Context, status: number, body: object): void {
  ctx.status = status;
  ctx.body = body;
}

/**
 * `GET /attestation?nonce=`: a fresh TDX quote binding the verifier's nonce, this issuer, its served JWKS and its version
 * (docs/architecture.md#tee-mode); and `GET /deployment`, the page the "Verified deployment" badge links to. Answers are
 * never stored by a cache: each quote belongs to one nonce.
 */
export function deploymentRoutes({ issuer, logger, attestations, limiter }: DeploymentDeps) {
  const router = createRouter();

  router.get('/attestation', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    if (!attestations) {
      return answer(ctx, 404, {
        error: 'not_found',
        error_description:
          'This instance does not run in a TEE (its master key is not from dstack), so it has no attestation to give: its operator holds the key.',
      });
    }
    const nonce = ctx.query.nonce;
    if (typeof nonce !== 'string' || !NONCE_HEX.test(nonce)) {
      return answer(ctx, 400, {
        error: 'invalid_request',
        error_description: `nonce is required, once: 16 to 32 fresh random bytes written as hex (32 to 64 hex digits), e.g. /attestation?nonce=${'0f'.repeat(16)}`,
      });
    }
    const key = `attestation:${ctx.ip}`;
    try {
      await limiter.check(key);
      await limiter.fail(key);
      answer(ctx, 200, await attestations.document(Buffer.from(nonce, 'hex')));
    } catch (caught) {
      const error = toAppError(caught);
      if (error.status === 429)
        return answer(ctx, 429, {
          error: 'too_many_requests',
          error_description: 'Too many attestations asked from this address; wait a minute.',
        });
      logger.error({ err: caught, requestId: ctx.state.requestId }, 'attestation failed');
      answer(ctx, 503, {
        error: 'temporarily_unavailable',
        error_description: 'The TEE could not produce an attestation just now; try again in a moment.',
      });
    }
  });

  router.get('/deployment', (ctx) => {
    ctx.type = 'html';
    ctx.body = deploymentPage({ issuer, identity: attestations?.identity });
  });

  return router;
}
