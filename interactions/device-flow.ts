import type { Middleware } from 'koa';
import { displayAddress } from '../src/http/client-address.js';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { ProviderPages } from '../src/provider/provider.js';
import { deviceConfirmPage, deviceDonePage, deviceInputPage } from './views/device.js';
import type { RateLimiter } from '../src/rate-limit.js';
import { PROVIDER_ROUTES } from '../src/provider/routes.js';
import { clientAddress } from '../src/http/client-address.js';

/** oidc-provider's verification URI. */
export const DEVICE_VERIFICATION_PATH = PROVIDER_ROUTES.code_verification;

/** Set on ctx.state when the owner's browser submitted a user code that names no device request. */
const WRONG_USER_CODE = 'wrongUserCode';

/** What the owner is told for each of oidc-provider's re-render errors on the verification page. */
const MESSAGES: Record<string, string> = {
  NoCodeError: 'Enter the code your device shows.',
  NotFoundError: 'That code is not right. Check it on your device and try again.',
  ExpiredError: 'That code has expired. Start again on your device to get a new one.',
  AlreadyUsedError: 'That code was already used. Start again on your device to get a new one.',
};

/**
 * The device authorization grant's pages (RFC 8628) for headless agents and CLIs: entering the user code, confirming
 * it, and the outcome. Sign-in and consent happen on the ordinary interaction pages; these are the pages around them.
 */
export function devicePages(): ProviderPages['deviceFlow'] {
  return {
    userCodeInputSource: async (ctx, form, _out, err) => {
      ctx.type = 'html';
      if (err?.name === 'AbortedError') {
        // The owner pressed Cancel or Deny; the device code now carries access_denied for the next poll.
        ctx.body = deviceDonePage({ outcome: 'denied' });
        return;
      }
      if (err?.name === 'NotFoundError') ctx.state[WRONG_USER_CODE] = true;
      const error = err ? (MESSAGES[err.name] ?? 'This request could not be completed. Reload the page and try again.') : undefined;
      ctx.body = deviceInputPage({
        action: ctx.oidc.urlFor('code_verification'),
        xsrf: xsrfOf(form),
        code: (err as { userCode?: string } | undefined)?.userCode,
        error,
      });
    },
    userCodeConfirmSource: async (ctx, form, client, deviceInfo, userCode) => {
      const device = deviceInfo as { ip?: unknown; ua?: unknown };
      ctx.type = 'html';
      ctx.body = deviceConfirmPage({
        form,
        client: { name: client.clientName ?? client.clientId, clientId: client.clientId, logoUri: client.logoUri },
        userCode,
        device: {
          ip: typeof device.ip === 'string' ? (displayAddress(device.ip) ?? undefined) : undefined,
          ua: typeof device.ua === 'string' ? device.ua.slice(0, 120) : undefined,
        },
      });
    },
    successSource: async (ctx: KoaContextWithOIDC) => {
      ctx.type = 'html';
      ctx.body = deviceDonePage({ outcome: 'approved', clientName: ctx.oidc.client?.clientName });
    },
  };
}

/** The anti-CSRF value of the input form oidc-provider built; we render our own form (its has an inline handler). */
function xsrfOf(form: string): string {
  const match = /name="xsrf" value="([^"]+)"/.exec(form);
  if (!match) throw new Error('oidc-provider changed its device input form: no xsrf field');
  return match[1]!;
}

/**
 * oidc-provider does not limit guesses at the verification endpoint. Each browser address gets the shared
 * limiter's budget of wrong codes per window (threat model E8); then the endpoint answers 429 until it passes.
 */
export function limitUserCodeGuesses(limiter: RateLimiter): Middleware {
  return async function limitUserCodeGuesses(ctx, next): Promise<unknown> {
    if (ctx.method !== 'POST' || ctx.path !== DEVICE_VERIFICATION_PATH) return next();
    const key = `user-code-failures:${clientAddress(ctx)}`;
    await limiter.check(key);
    await next();
    if (ctx.state[WRONG_USER_CODE]) await limiter.fail(key);
  };
}
