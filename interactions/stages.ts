import type { Context, Middleware } from 'koa';
import type Provider from 'oidc-provider';
import type { InteractionResults } from 'oidc-provider';
import type { Config } from '../src/config.js';
import { assertThat } from '../src/errors.js';
import type { RateLimiter } from '../src/rate-limit.js';
import { requireCsrf, requireSameOrigin } from '../src/http/guards.js';
import { pathParam } from '../src/http/guard.js';
import { clientAddress } from '../src/http/client-address.js';
import { Details, interactionClientOf, interactionOf } from './details.js';
import type { InteractionDecisions } from './decisions.js';

export interface StageDeps {
  config: Config;
  provider: Provider;
  limiter: RateLimiter;
  cookieKeys: string[];
  decisions: InteractionDecisions;
}

/** The named stages every interaction route is built from, in the order a route lists them. */
export interface InteractionStages {
  /** A post must come from our own page (D1). */
  sameOrigin: Middleware;
  /** ...with the CSRF token bound to this interaction (D1). */
  csrf: Middleware;
  /** The interaction oidc-provider holds for this browser, which must be the one in the URL (D1). */
  loadInteraction: Middleware;
  expectPrompt: (name: 'login' | 'consent') => Middleware;
  /** One decision per interaction step, even for two concurrent posts (D2). */
  claimDecision: Middleware;
  /** Passkey failures from this address are limited (E8). */
  throttle: Middleware;
  /** The key passkey failures are counted under. */
  failureKey: (ctx: Context) => string;
  /** Hands the outcome back to oidc-provider; returns where the browser goes next. */
  finish: (ctx: Context, result: InteractionResults) => Promise<string>;
}

export function interactionStages({ config, provider, limiter, cookieKeys, decisions }: StageDeps): InteractionStages {
  const failureKey = (ctx: Context) => `passkey-failures:${clientAddress(ctx)}`;
  return {
    sameOrigin: requireSameOrigin(config.ORIGIN),
    csrf: requireCsrf(cookieKeys),
    failureKey,

    async loadInteraction(ctx, next) {
      const details = Details.parse(await provider.interactionDetails(ctx.req, ctx.res));
      // The interaction cookie must name the interaction in the URL: another browser's interaction is not ours (D1).
      assertThat(details.uid === pathParam(ctx, 'uid'), 'interaction_not_found', 403, 'This sign-in request belongs to another browser.');
      ctx.state.interaction = details;
      ctx.state.client = await provider.Client.find(details.params.client_id);
      assertThat(ctx.state.client, 'invalid_client', 400, 'The app that started this request no longer exists.');
      await next();
    },

    expectPrompt: (name) => async (ctx, next) => {
      assertThat(interactionOf(ctx).prompt.name === name, 'wrong_step', 400, 'This step of the sign-in is already done. Reload the page.');
      await next();
    },

    async claimDecision(ctx, next) {
      const { uid, prompt } = interactionOf(ctx);
      assertThat(await decisions.claim(uid, prompt.name), 'already_decided', 409, 'This request was already answered.');
      await next();
    },

    async throttle(ctx, next) {
      await limiter.check(failureKey(ctx));
      await next();
    },

    finish: (ctx, result) => provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false }),
  };
}

/** The app as the sign-in and consent pages name it: its name, logo, and the host its answer goes to. */
/** RFC 8693's grant type. */
export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';

export function clientView(ctx: Context) {
  const client = interactionClientOf(ctx);
  const interaction = interactionOf(ctx);
  const redirectUri = interaction.params.redirect_uri ?? client.redirectUris[0] ?? '';
  return {
    clientId: client.clientId,
    name: client.clientName ?? client.clientId,
    redirectHost: !interaction.deviceCode && URL.canParse(redirectUri) ? new URL(redirectUri).host : '',
    logoUri: client.logoUri,
    device: Boolean(interaction.deviceCode),
    // It may exchange its token for narrower ones for its own helpers (docs/architecture.md#token-exchange).
    exchanges: client.grantTypes?.includes(TOKEN_EXCHANGE) ?? false,
  };
}
