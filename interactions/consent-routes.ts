import type Router from '@koa/router';
import type { Middleware, ParameterizedContext } from 'koa';
import { guard, type GuardedState } from '../src/http/guard.js';
import type Provider from 'oidc-provider';
import { z } from 'zod';
import { assertThat } from '../src/errors.js';
import type { EventLog } from '../src/accounts/events.js';
import type { PolicyStore } from '../src/policies/policy.js';
import { consentScopes, buildGrant, limitsFromForm, saveConsentLimits, type ConsentLimits } from './consent.js';
import { interactionOf } from './details.js';
import type { InteractionStages } from './stages.js';
import type { ScopeCatalog } from '../scopes/catalog.js';

export interface ConsentDeps {
  provider: Provider;
  scopes: ScopeCatalog;
  events: EventLog;
  policies: PolicyStore;
}

/** The consent form: the owner's decision, and the limits section's fields beside it. */
const ConsentBody = z.object({ decision: z.enum(['approve', 'deny']) }).catchall(z.unknown());

interface ConsentState extends GuardedState<{ body: typeof ConsentBody }> {
  /** The limits typed on the page, parsed (limitsFromForm); none when left empty or not asked. */
  limits?: ConsentLimits;
}

/** The consent prompt's answers: approve (with the limits typed on the page), deny, or cancel (D1, D2, D4). */
export function consentRoutes(router: Router, { provider, events, policies, scopes }: ConsentDeps, stages: InteractionStages): void {
  const { sameOrigin, csrf, loadInteraction, expectPrompt, claimDecision, finish } = stages;

  /** Limits typed on the consent page are checked before the decision is claimed, so a typo can be fixed. */
  const parseLimits: Middleware<ConsentState> = async (ctx, next) => {
    const { decision, ...fields } = ctx.state.input.body;
    if (decision === 'approve') ctx.state.limits = limitsFromForm(interactionOf(ctx), scopes, fields);
    await next();
  };

  router.post(
    '/interaction/:uid/consent',
    sameOrigin,
    csrf,
    loadInteraction,
    expectPrompt('consent'),
    guard({ body: ConsentBody }),
    parseLimits,
    claimDecision,
    async function decide(ctx: ParameterizedContext<ConsentState>) {
      const details = interactionOf(ctx);
      const { decision } = ctx.state.input.body;
      const accountId = details.session?.accountId;
      if (decision === 'deny') {
        await events.record({ kind: 'consent.denied', accountId, clientId: details.params.client_id, ip: ctx.ip });
        ctx.status = 303;
        ctx.redirect(await finish(ctx, { error: 'access_denied', error_description: 'The owner denied the request.' }));
        return;
      }
      assertThat(accountId, 'login_required', 403, 'Sign in first.');
      const grantId = await buildGrant(provider, details, accountId);
      const { limits } = ctx.state;
      if (limits) await saveConsentLimits(policies, accountId, grantId, limits);
      await events.record({
        kind: 'consent.granted',
        accountId,
        clientId: details.params.client_id,
        ip: ctx.ip,
        detail: { scopes: consentScopes(details, scopes).map((s) => s.name), ...(limits ? { limits } : {}) },
      });
      ctx.status = 303;
      ctx.redirect(await finish(ctx, { consent: { grantId } }));
    },
  );

  router.post('/interaction/:uid/abort', sameOrigin, csrf, loadInteraction, claimDecision, async function abort(ctx) {
    const details = interactionOf(ctx);
    await events.record({ kind: 'consent.denied', accountId: details.session?.accountId, clientId: details.params.client_id, ip: ctx.ip });
    ctx.status = 303;
    ctx.redirect(await finish(ctx, { error: 'access_denied', error_description: 'The owner cancelled the request.' }));
  });
}
