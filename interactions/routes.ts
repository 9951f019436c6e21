import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type Provider from 'oidc-provider';
import type { InteractionResults } from 'oidc-provider';
import { z } from 'zod';
import type { Config } from '../src/config.js';
import { AppError, assertThat } from '../src/errors.js';
import type { AccountStore } from '../src/accounts/accounts.js';
import type { EventLog } from '../src/accounts/events.js';
import type { PasskeyCeremonies } from '../src/passkeys/ceremonies.js';
import type { RateLimiter } from '../src/rate-limit.js';
import type { Database } from '../src/db/database.js';
import { csrfToken, requireCsrf, requireSameOrigin } from '../src/http/guards.js';
import { clientAddress } from '../src/http/client-address.js';
import { loginPage } from './views/login.js';
import { consentPage } from './views/consent.js';
import { consentScopes, lifetimeText, buildGrant, limitsFromForm, saveConsentLimits, type ConsentLimits } from './consent.js';
import { PolicyStore } from '../src/policies/policy.js';
import { consentImplied } from '../src/console/first-party.js';
import { createRouter } from '../src/http/router.js';
import { storageKey } from '../adapters/at-rest.js';

export interface InteractionDeps {
  config: Config;
  provider: Provider;
  db: Database;
  accounts: AccountStore;
  ceremonies: PasskeyCeremonies;
  events: EventLog;
  limiter: RateLimiter;
  cookieKeys: string[];
  /** Where limits set on the consent page go; by default the policy store on `db`. */
  policies?: PolicyStore;
}

/** What oidc-provider tells us about a pending interaction, parsed rather than trusted (STYLE.md). */
const Details = z.object({
  uid: z.string(),
  prompt: z.object({
    name: z.enum(['login', 'consent']),
    details: z.object({
      missingOIDCScope: z.array(z.string()).optional(),
      missingOIDCClaims: z.array(z.string()).optional(),
      missingResourceScopes: z.record(z.string(), z.array(z.string())).optional(),
    }).loose(),
  }),
  params: z.object({ client_id: z.string(), redirect_uri: z.string().optional(), scope: z.string().optional() }).loose(),
  session: z.object({ accountId: z.string() }).loose().optional(),
  grantId: z.string().optional(),
  /** Set when a device asked (RFC 8628): there is no redirect URI, the tokens go to the polling device. */
  deviceCode: z.string().optional(),
});
export type Details = z.infer<typeof Details>;

const Credential = z.object({ id: z.string().min(1).max(1024), rawId: z.string().max(1024), type: z.literal('public-key'), response: z.object({}).loose() }).loose();

/** The sign-in and consent steps oidc-provider hands us (`interactions.url`), as named middleware stages. */
export function interactionRoutes(deps: InteractionDeps): Router {
  const { config, provider, accounts, ceremonies, events, limiter, cookieKeys, db } = deps;
  const policies = deps.policies ?? new PolicyStore(db);
  const router = createRouter();
  const sameOrigin = requireSameOrigin(config.ORIGIN);
  const csrf = requireCsrf(cookieKeys);
  const binding = (ctx: Context) => `interaction:${ctx.params.uid}`;
  const failureKey = (ctx: Context) => `passkey-failures:${clientAddress(ctx)}`;

  const loadInteraction: Middleware = async (ctx, next) => {
    const details = Details.parse(await provider.interactionDetails(ctx.req, ctx.res));
    // The interaction cookie must name the interaction in the URL: another browser's interaction is not ours (D1).
    assertThat(details.uid === ctx.params.uid, 'interaction_not_found', 403, 'This sign-in request belongs to another browser.');
    ctx.state.interaction = details;
    ctx.state.client = await provider.Client.find(details.params.client_id);
    assertThat(ctx.state.client, 'invalid_client', 400, 'The app that started this request no longer exists.');
    await next();
  };

  const expectPrompt = (name: 'login' | 'consent'): Middleware => async (ctx, next) => {
    assertThat(ctx.state.interaction.prompt.name === name, 'wrong_step', 400, 'This step of the sign-in is already done. Reload the page.');
    await next();
  };

  /** One decision per interaction step, even for two concurrent POSTs (D2). */
  const claimDecision: Middleware = async (ctx, next) => {
    const { uid, prompt } = ctx.state.interaction as Details;
    const { rowCount } = await db.query(
      `INSERT INTO interaction_decisions (key, expires_at) VALUES ($1, now() + make_interval(secs => $2::int))
       ON CONFLICT (key) DO NOTHING`,
      // Keyed by the interaction's digest, as it is stored: its id is in the browser's URL and cookie (J2).
      [`${storageKey('Interaction', uid)}:${prompt.name}`, config.INTERACTION_TTL],
    );
    assertThat(rowCount === 1, 'already_decided', 409, 'This request was already answered.');
    await next();
  };

  const throttle: Middleware = async (ctx, next) => {
    await limiter.check(failureKey(ctx));
    await next();
  };

  const finish = async (ctx: Context, result: InteractionResults) =>
    provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });

  const clientView = (ctx: Context) => {
    const { client, interaction } = ctx.state as { client: { clientId: string; clientName?: string; logoUri?: string; redirectUris: string[] }; interaction: Details };
    const redirectUri = interaction.params.redirect_uri ?? client.redirectUris[0] ?? '';
    return {
      clientId: client.clientId,
      name: client.clientName ?? client.clientId,
      redirectHost: !interaction.deviceCode && URL.canParse(redirectUri) ? new URL(redirectUri).host : '',
      logoUri: client.logoUri,
      device: Boolean(interaction.deviceCode),
    };
  };

  router.get('/interaction/:uid', loadInteraction, async function showPrompt(ctx) {
    const details = ctx.state.interaction as Details;
    const token = csrfToken(cookieKeys, details.uid);
    if (details.prompt.name === 'login') {
      ctx.type = 'html';
      ctx.body = loginPage({ uid: details.uid, csrf: token, client: clientView(ctx) });
      return;
    }
    const missing = details.prompt.details;
    if (details.session && consentImplied(details.params.client_id, { oidcScopes: missing.missingOIDCScope, claims: missing.missingOIDCClaims, resourceScopes: missing.missingResourceScopes })) {
      // oauth3's own console: the owner is signing in to oauth3 itself, there is nothing to consent to.
      const grantId = await buildGrant(provider, details, details.session.accountId);
      ctx.status = 303;
      ctx.redirect(await finish(ctx, { consent: { grantId } }));
      return;
    }
    ctx.type = 'html';
    ctx.body = consentPage({
      uid: details.uid,
      csrf: token,
      client: clientView(ctx),
      scopes: consentScopes(details),
      account: { label: `account ${details.session?.accountId.slice(0, 8) ?? ''}` },
      lifetime: lifetimeText(details, config),
    });
  });

  router.post('/interaction/:uid/passkey/register/options', sameOrigin, csrf, loadInteraction, expectPrompt('login'), throttle,
    async function registrationOptions(ctx) {
      ctx.body = await ceremonies.registrationOptions(binding(ctx));
    });

  router.post('/interaction/:uid/passkey/register', sameOrigin, csrf, loadInteraction, expectPrompt('login'), throttle,
    async function verifyRegistration(ctx) {
      let registered;
      try {
        registered = await ceremonies.verifyRegistration(binding(ctx), Credential.parse(ctx.state.body) as never);
      } catch (error) {
        await limiter.fail(failureKey(ctx));
        await events.record({ kind: 'passkey.register', outcome: 'failure', ip: ctx.ip, detail: { reason: (error as AppError).code } });
        throw error;
      }
      await accounts.createWithPasskey(registered.accountId, registered.passkey);
      await events.record({ kind: 'account.created', accountId: registered.accountId, ip: ctx.ip, detail: { passkey: registered.passkey.name } });
      ctx.body = { redirectTo: await finish(ctx, { login: { accountId: registered.accountId, amr: ['hwk', 'user'] } }) };
    });

  router.post('/interaction/:uid/passkey/login/options', sameOrigin, csrf, loadInteraction, expectPrompt('login'), throttle,
    async function authenticationOptions(ctx) {
      ctx.body = await ceremonies.authenticationOptions(binding(ctx));
    });

  router.post('/interaction/:uid/passkey/login', sameOrigin, csrf, loadInteraction, expectPrompt('login'), throttle,
    async function verifyAuthentication(ctx) {
      const response = Credential.safeParse(ctx.state.body);
      let passkey;
      try {
        if (!response.success) throw new AppError('invalid_request', 400, 'The passkey response is malformed.');
        passkey = await ceremonies.verifyAuthentication(binding(ctx), response.data as never);
        const account = await accounts.find(passkey.accountId);
        if (!account || account.disabledAt) throw new AppError('account_disabled', 403, 'This account is disabled.');
      } catch (error) {
        const code = error instanceof AppError ? error.code : 'error';
        await limiter.fail(failureKey(ctx));
        // A failure with a registered credential belongs in that owner's access log (issue 3); others have no owner.
        const known = response.success ? await accounts.findPasskey(response.data.id) : undefined;
        await events.record({
          accountId: known?.accountId,
          kind: code === 'passkey_counter' ? 'passkey.counter_regression' : 'signin',
          outcome: code === 'passkey_counter' ? 'security' : 'failure',
          ip: ctx.ip,
          detail: { reason: code, credential: response.data?.id.slice(0, 16) },
        });
        throw error;
      }
      await events.record({ kind: 'signin', accountId: passkey.accountId, ip: ctx.ip, detail: { passkey: passkey.name } });
      ctx.body = { redirectTo: await finish(ctx, { login: { accountId: passkey.accountId, amr: ['hwk', 'user'] } }) };
    });

  const parseDecision: Middleware = async (ctx, next) => {
    ctx.state.decision = z.object({ decision: z.enum(['approve', 'deny']) }).loose().parse(ctx.state.body).decision;
    await next();
  };

  /** Limits typed on the consent page are checked before the decision is claimed, so a typo can be fixed. */
  const parseLimits: Middleware = async (ctx, next) => {
    if (ctx.state.decision === 'approve') ctx.state.limits = limitsFromForm(ctx.state.interaction as Details, ctx.state.body as Record<string, unknown>);
    await next();
  };

  router.post('/interaction/:uid/consent', sameOrigin, csrf, loadInteraction, expectPrompt('consent'), parseDecision, parseLimits, claimDecision,
    async function decide(ctx) {
      const details = ctx.state.interaction as Details;
      const decision = ctx.state.decision as 'approve' | 'deny';
      const accountId = details.session?.accountId;
      if (decision === 'deny') {
        await events.record({ kind: 'consent.denied', accountId, clientId: details.params.client_id, ip: ctx.ip });
        ctx.status = 303;
        ctx.redirect(await finish(ctx, { error: 'access_denied', error_description: 'The owner denied the request.' }));
        return;
      }
      assertThat(accountId, 'login_required', 403, 'Sign in first.');
      const grantId = await buildGrant(provider, details, accountId);
      const limits = ctx.state.limits as ConsentLimits | undefined;
      if (limits) await saveConsentLimits(policies, accountId, grantId, limits);
      await events.record({
        kind: 'consent.granted', accountId, clientId: details.params.client_id, ip: ctx.ip,
        detail: { scopes: consentScopes(details).map((s) => s.name), ...(limits ? { limits } : {}) },
      });
      ctx.status = 303;
      ctx.redirect(await finish(ctx, { consent: { grantId } }));
    });

  router.post('/interaction/:uid/abort', sameOrigin, csrf, loadInteraction, claimDecision, async function abort(ctx) {
    const details = ctx.state.interaction as Details;
    await events.record({ kind: 'consent.denied', accountId: details.session?.accountId, clientId: details.params.client_id, ip: ctx.ip });
    ctx.status = 303;
    ctx.redirect(await finish(ctx, { error: 'access_denied', error_description: 'The owner cancelled the request.' }));
  });

  return router;
}
