import { z } from 'zod';
import { AppError } from '../../errors.js';
import type { CredentialKind, VerifiedCredential } from '../plugin.js';
import type { Config } from '../../config.js';
import { XError } from './errors.js';
import { XWebClient, obtainCt0 } from './web-client.js';
import { DEFAULT_QUERY_IDS } from './web-graphql.js';

/** X's cookies are hex today (auth_token 40, ct0 160); accept a sane range of letters and digits in case that changes. */
const cookieValue = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(new RegExp(`^[A-Za-z0-9]{${min},${max}}$`), `must be ${min} to ${max} letters and digits, copied from your browser's cookies`);

/** The owner pastes auth_token alone; a ct0 is still accepted from API callers that send one (as before). */
export const XCookieInput = z.object({
  auth_token: cookieValue(20, 200),
  ct0: cookieValue(20, 400).optional(),
});

const REFUSED =
  'X did not accept this auth_token: it has expired, you signed out of x.com, or it was copied incompletely. ' +
  'Sign in to x.com in your browser, then copy the auth_token cookie again (the whole value).';

/**
 * Checks a pasted cookie with X before anything is saved: X hands out the session's CSRF token (ct0) for the
 * auth_token when none was pasted (web-client.ts, obtainCt0), then must say who the pair signs in as. A cookie X
 * refuses is the owner's mistake (400); X failing or unreachable is ours to report (502/504), and the cookie is not
 * saved either way. The stored secret is the pair the web client sends.
 */
export async function verifyXCookie(input: Record<string, unknown>, deps: { config: Config }): Promise<VerifiedCredential> {
  const pasted = XCookieInput.parse(input);
  const { config } = deps;
  const options = {
    baseUrl: config.X_WEB_URL,
    bearer: config.X_WEB_BEARER,
    queryIds: { ...DEFAULT_QUERY_IDS, ...config.X_WEB_QUERY_IDS },
    timeoutMs: config.UPSTREAM_TIMEOUT_MS,
  };
  try {
    const cookie = { auth_token: pasted.auth_token, ct0: pasted.ct0 ?? (await obtainCt0(options, pasted.auth_token)) };
    const user = await new XWebClient(options, cookie).me();
    return { label: `@${user.username}`, secret: { ...cookie }, meta: { user_id: user.id, handle: user.username } };
  } catch (error) {
    if (error instanceof XError && error.code === 'reconnect_required') throw new AppError('invalid_credential', 400, REFUSED);
    throw error;
  }
}

/** Where the auth_token cookie is, browser by browser (desktop: phone browsers do not show cookies). */
const FIND_AUTH_TOKEN = [
  {
    title: 'In Chrome',
    steps: [
      'Open x.com and sign in.',
      'Press F12 (on a Mac: Cmd+Option+I) to open the developer tools.',
      'Open the Application tab (it may hide behind », at the top of the tools).',
      'In the left column, under Storage, open Cookies and click https://x.com.',
      'Click the row named auth_token, double-click its Value, and copy it (Ctrl+C, on a Mac Cmd+C).',
    ],
  },
  {
    title: 'In Firefox',
    steps: [
      'Open x.com and sign in.',
      'Press F12 (on a Mac: Cmd+Option+I) to open the developer tools.',
      'Open the Storage tab.',
      'In the left column, open Cookies and click https://x.com.',
      'Click the row named auth_token, double-click its Value, and copy it.',
    ],
  },
  {
    title: 'In Safari',
    steps: [
      'In Safari, choose Settings, then Advanced, and turn on "Show features for web developers" (older Safari: "Show Develop menu in menu bar").',
      'Open x.com and sign in.',
      'Choose Develop, then Show Web Inspector (Cmd+Option+I).',
      'Open the Storage tab, then Cookies, and click x.com.',
      'Find the row named auth_token, double-click its Value, and copy it (Cmd+C).',
    ],
  },
];

export const xCookieKind: CredentialKind = {
  id: 'x.cookie',
  provider: 'x',
  title: 'X account (browser cookie)',
  description:
    'Paste the auth_token cookie of a browser signed in to x.com. oauth3 gets the rest from X, checks the account with X, ' +
    'keeps it encrypted and never shows it to apps. Signing out of x.com ends it.',
  paste: {
    fields: [
      {
        name: 'auth_token',
        label: 'auth_token',
        type: 'password',
        required: true,
        help: 'The value of the auth_token cookie: about 40 letters and digits. Treat it like a password.',
      },
    ],
    guide: FIND_AUTH_TOKEN,
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
