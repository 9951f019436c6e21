import { z } from 'zod';
import { AppError } from '../../errors.js';
import type { CredentialKind, VerifiedCredential } from '../plugin.js';
import type { Config } from '../../config.js';
import { XError } from './errors.js';
import { XWebClient } from './web-client.js';
import { DEFAULT_QUERY_IDS } from './web-graphql.js';

/** X's cookies are hex today (auth_token 40, ct0 160); accept a sane range of letters and digits in case that changes. */
const cookieValue = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(new RegExp(`^[A-Za-z0-9]{${min},${max}}$`), `must be ${min} to ${max} letters and digits, copied from your browser's cookies`);

export const XCookieInput = z.object({
  auth_token: cookieValue(20, 200),
  ct0: cookieValue(20, 400),
});

/**
 * Checks a pasted cookie with X before anything is saved: X must say who it signs in as. A cookie X refuses is the
 * owner's mistake (400); X failing or unreachable is ours to report (502/504), and the cookie is not saved either way.
 */
export async function verifyXCookie(input: Record<string, unknown>, deps: { config: Config }): Promise<VerifiedCredential> {
  const cookie = XCookieInput.parse(input);
  const { config } = deps;
  const client = new XWebClient(
    {
      baseUrl: config.X_WEB_URL,
      bearer: config.X_WEB_BEARER,
      queryIds: { ...DEFAULT_QUERY_IDS, ...config.X_WEB_QUERY_IDS },
      timeoutMs: config.UPSTREAM_TIMEOUT_MS,
    },
    cookie,
  );
  try {
    const user = await client.me();
    return { label: `@${user.username}`, secret: { ...cookie }, meta: { user_id: user.id, handle: user.username } };
  } catch (error) {
    if (error instanceof XError && error.code === 'reconnect_required') {
      throw new AppError(
        'invalid_credential',
        400,
        'X did not accept this cookie. Sign in to x.com in your browser, then copy auth_token and ct0 again (the whole values).',
      );
    }
    throw error;
  }
}

export const xCookieKind: CredentialKind = {
  id: 'x.cookie',
  provider: 'x',
  title: 'X account (browser cookie)',
  description:
    'Paste two cookies from a browser signed in to x.com (developer tools → Application → Cookies → https://x.com). ' +
    'oauth3 checks them with X, keeps them encrypted and never shows them to apps. Signing out of x.com ends them.',
  paste: {
    fields: [
      { name: 'auth_token', label: 'auth_token', type: 'password', required: true, help: 'The value of the auth_token cookie.' },
      { name: 'ct0', label: 'ct0', type: 'password', required: true, help: "The value of the ct0 cookie (X's CSRF token)." },
    ],
    input: XCookieInput,
    verify: verifyXCookie,
  },
};

export const xOAuthKind: CredentialKind = {
  id: 'x.oauth2',
  provider: 'x',
  title: 'X account (sign in with X)',
  description: 'Sign in on x.com and approve oauth3. X gives oauth3 a token it can refresh; revoke it any time on x.com or here.',
  oauth: { provider: 'x' },
};
