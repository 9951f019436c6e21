import type Router from '@koa/router';
import type Provider from 'oidc-provider';
import type { Config } from '../src/config.js';
import type { AccountStore } from '../src/accounts/accounts.js';
import type { EventLog } from '../src/accounts/events.js';
import type { KnownBrowsers } from '../src/accounts/known-browsers.js';
import type { PasskeyCeremonies } from '../src/passkeys/ceremonies.js';
import type { RateLimiter } from '../src/rate-limit.js';
import type { PolicyStore } from '../src/policies/policy.js';
import { csrfToken } from '../src/http/guards.js';
import { createRouter } from '../src/http/router.js';
import { consentImplied } from '../src/provider/first-party.js';
import { loginPage } from './views/login.js';
import { consentPage, type ConsentScope } from './views/consent.js';
import type { NeededAccount } from '../src/connections/needed.js';
import { consentScopes, lifetimeText, buildGrant } from './consent.js';
import { interactionOf } from './details.js';
import type { InteractionDecisions } from './decisions.js';
import type { ScopeCatalog } from '../scopes/catalog.js';
import { clientView, interactionStages } from './stages.js';
import { signInRoutes } from './sign-in.js';
import type { DeploymentInfo } from '../src/web/deployment-badge.js';
import { consentRoutes } from './consent-routes.js';
import { nameOf } from '../src/accounts/display-name.js';

export interface InteractionDeps {
  config: Config;
  provider: Provider;
  accounts: AccountStore;
  ceremonies: PasskeyCeremonies;
  events: EventLog;
  limiter: RateLimiter;
  knownBrowsers: KnownBrowsers;
  cookieKeys: string[];
  /** Where limits set on the consent page go. */
  policies: PolicyStore;
  decisions: InteractionDecisions;
  scopes: ScopeCatalog;
  /** TEE mode: the compose hash the consent page's "Verified deployment" mark shows. */
  deployment?: DeploymentInfo;
  /** The upstream accounts a consent's scopes act with that the owner has not connected (src/connections/needed.ts). */
  neededAccounts?: (accountId: string, scopes: readonly ConsentScope[]) => Promise<NeededAccount[]>;
}

/** The sign-in and consent steps oidc-provider hands us (`interactions.url`), as named middleware stages. */
export function interactionRoutes(deps: InteractionDeps): Router {
  const { config, provider, cookieKeys } = deps;
  const router = createRouter();
  const stages = interactionStages(deps);
  const { loadInteraction, finish } = stages;

  router.get('/interaction/:uid', loadInteraction, async function showPrompt(ctx) {
    const details = interactionOf(ctx);
    const token = csrfToken(cookieKeys, details.uid);
    if (details.prompt.name === 'login') {
      ctx.type = 'html';
      ctx.body = loginPage({ uid: details.uid, csrf: token, client: clientView(ctx) });
      return;
    }
    const missing = details.prompt.details;
    if (
      details.session &&
      consentImplied(details.params.client_id, {
        oidcScopes: missing.missingOIDCScope,
        claims: missing.missingOIDCClaims,
        resourceScopes: missing.missingResourceScopes,
      })
    ) {
      // oauth3's own console: the owner is signing in to oauth3 itself, there is nothing to consent to.
      const grantId = await buildGrant(provider, details, details.session.accountId);
      ctx.status = 303;
      ctx.redirect(await finish(ctx, { consent: { grantId } }));
      return;
    }
    const scopes = consentScopes(details, deps.scopes);
    const accountId = details.session?.accountId;
    // The owner's name as they chose it, never an account id (the page says "your oauth3 account" without one).
    const account = accountId ? await deps.accounts.find(accountId) : undefined;
    ctx.type = 'html';
    ctx.body = consentPage({
      uid: details.uid,
      csrf: token,
      client: clientView(ctx),
      scopes,
      needed: accountId && deps.neededAccounts ? await deps.neededAccounts(accountId, scopes) : [],
      account: { label: account && nameOf(account) },
      lifetime: lifetimeText(details, config),
      deployment: deps.deployment,
    });
  });

  signInRoutes(router, deps, stages);
  consentRoutes(router, deps, stages);
  return router;
}
