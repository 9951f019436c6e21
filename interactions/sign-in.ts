import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { AppError } from '../src/errors.js';
import { pathParam } from '../src/http/guard.js';
import type { AccountStore } from '../src/accounts/accounts.js';
import { DisplayName } from '../src/accounts/display-name.js';
import type { EventLog } from '../src/accounts/events.js';
import type { KnownBrowsers } from '../src/accounts/known-browsers.js';
import type { PasskeyCeremonies } from '../src/passkeys/ceremonies.js';
import type { RateLimiter } from '../src/rate-limit.js';
import type { InteractionStages } from './stages.js';

/** A WebAuthn response as the browser module posts it; the ceremony checks the rest (WebAuthn §7). */
const Credential = z
  .object({ id: z.string().min(1).max(1024), rawId: z.string().max(1024), type: z.literal('public-key'), response: z.object({}).loose() })
  .loose();

/** Sign-up asks for options, and then posts the new passkey, with the optional name typed beside the button. */
const TypedName = z.object({ display_name: z.unknown().optional() }).loose();
const Registration = z
  .object({ display_name: z.unknown().optional() })
  .loose()
  .transform(({ display_name, ...credential }) => ({ displayName: display_name, credential }));

/** The name typed at sign-up, trimmed, or null; one that cannot be used is refused (400) before any challenge is spent. */
function typedName(displayName: unknown): string | null {
  const name = DisplayName.safeParse(displayName ?? null);
  if (!name.success) throw new AppError('invalid_request', 400, name.error.issues[0]?.message ?? 'That name cannot be used.');
  return name.data;
}

export interface SignInDeps {
  accounts: AccountStore;
  ceremonies: PasskeyCeremonies;
  events: EventLog;
  limiter: RateLimiter;
  /** The browsers each owner signed in from: a sign-in from another one is told to the owner. */
  knownBrowsers: KnownBrowsers;
}

/** The login prompt's passkey ceremonies: sign up with a new passkey, or sign in with one (E1–E8). */
export function signInRoutes(
  router: Router,
  { accounts, ceremonies, events, limiter, knownBrowsers }: SignInDeps,
  stages: InteractionStages,
): void {
  const { sameOrigin, csrf, loadInteraction, expectPrompt, throttle, failureKey, finish } = stages;
  // A challenge belongs to the interaction it was made for (E2).
  const binding = (ctx: Context) => `interaction:${pathParam(ctx, 'uid')}`;

  router.post(
    '/interaction/:uid/passkey/register/options',
    sameOrigin,
    csrf,
    loadInteraction,
    expectPrompt('login'),
    throttle,
    async function registrationOptions(ctx) {
      // The new passkey is listed under the name typed beside the button, when there is one.
      const name = typedName(TypedName.parse(ctx.state.body ?? {}).display_name);
      ctx.body = await ceremonies.registrationOptions(binding(ctx), { name });
    },
  );

  router.post(
    '/interaction/:uid/passkey/register',
    sameOrigin,
    csrf,
    loadInteraction,
    expectPrompt('login'),
    throttle,
    async function verifyRegistration(ctx) {
      const { displayName, credential } = Registration.parse(ctx.state.body ?? {});
      // Checked before the ceremony spends the challenge, so a name that is too long can be corrected and sent again.
      const name = typedName(displayName);
      let registered;
      try {
        registered = await ceremonies.verifyRegistration(binding(ctx), Credential.parse(credential) as never);
      } catch (error) {
        await limiter.fail(failureKey(ctx));
        await events.record({ kind: 'passkey.register', outcome: 'failure', ip: ctx.ip, detail: { reason: (error as AppError).code } });
        throw error;
      }
      await accounts.createWithPasskey(registered.accountId, registered.passkey, name);
      // Not a sign-in from a new browser: this browser made the account, and is known to it from now on.
      const browser = await knownBrowsers.remember(ctx, registered.accountId);
      await events.record({
        kind: 'account.created',
        accountId: registered.accountId,
        ip: ctx.ip,
        // The browser in words, as a sign-in records it: the console's overview shows where the owner last signed in.
        detail: { passkey: registered.passkey.name, ...(browser ? { browser: browser.description } : {}) },
      });
      ctx.body = { redirectTo: await finish(ctx, { login: { accountId: registered.accountId, amr: ['hwk', 'user'] } }) };
    },
  );

  router.post(
    '/interaction/:uid/passkey/login/options',
    sameOrigin,
    csrf,
    loadInteraction,
    expectPrompt('login'),
    throttle,
    async function authenticationOptions(ctx) {
      ctx.body = await ceremonies.authenticationOptions(binding(ctx));
    },
  );

  router.post(
    '/interaction/:uid/passkey/login',
    sameOrigin,
    csrf,
    loadInteraction,
    expectPrompt('login'),
    throttle,
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
        // A failure with a registered credential belongs in that owner's access log; others have no owner.
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
      const browser = await knownBrowsers.remember(ctx, passkey.accountId);
      await events.record({
        kind: 'signin',
        accountId: passkey.accountId,
        ip: ctx.ip,
        detail: { passkey: passkey.name, ...(browser ? { new_browser: browser.newBrowser, browser: browser.description } : {}) },
      });
      ctx.body = { redirectTo: await finish(ctx, { login: { accountId: passkey.accountId, amr: ['hwk', 'user'] } }) };
    },
  );
}
