import { createHash, randomBytes } from 'node:crypto';
import type Router from '@koa/router';
import { z } from 'zod';
import type Provider from 'oidc-provider';
import type { Config } from '../config.js';
import { AppError, assertThat } from '../errors.js';
import { createRouter } from '../http/router.js';
import { CONSOLE_CLIENT_ID, CONSOLE_SCOPES } from '../provider/first-party.js';

const STATE_COOKIE = 'oauth3_console_login';
const safeReturn = (value: unknown) =>
  // The developer portal signs in through the console too (src/developers/routes.ts).
  typeof value === 'string' && /^\/(console|developers)(\/|$|\?)/.test(value) && !value.startsWith('//') ? value : '/console';

/** The signed state cookie /console/login set; a missing or unreadable one holds no state, so the callback refuses. */
const LoginState = z.object({ state: z.string().optional(), return: z.string().optional() });
function loginState(raw: string | undefined): z.output<typeof LoginState> {
  try {
    return raw ? LoginState.parse(JSON.parse(raw)) : {};
  } catch {
    return {};
  }
}

/**
 * The console never redeems its code: the browser session the sign-in left is what it reads. So every code that
 * arrives here is burnt at once, whether this browser started the flow or a stranger's page did (and may hold the
 * PKCE verifier for it): a code left alive could be redeemed by whoever sees it next (docs/threat-model.md J6).
 */
async function burnCode(provider: Provider, value: unknown): Promise<void> {
  if (typeof value !== 'string' || !value || value.length > 512) return;
  const code = await provider.AuthorizationCode.find(value, { ignoreExpiration: true }).catch(() => undefined);
  await code?.destroy();
}

export function consoleLoginRoutes(config: Pick<Config, 'ISSUER'>, provider: Provider): Router {
  const router = createRouter();
  const cookie = {
    httpOnly: true,
    sameSite: 'lax' as const,
    signed: true,
    path: '/console',
    maxAge: 10 * 60 * 1000,
    secure: config.ISSUER.startsWith('https:'),
  };

  router.get('/console/login', async function startConsoleSignIn(ctx) {
    const state = randomBytes(16).toString('base64url');
    const challenge = createHash('sha256').update(randomBytes(32)).digest('base64url');
    ctx.cookies.set(STATE_COOKIE, JSON.stringify({ state, return: safeReturn(ctx.query.return) }), cookie);
    const url = new URL('/auth', config.ISSUER);
    url.search = new URLSearchParams({
      client_id: CONSOLE_CLIENT_ID,
      response_type: 'code',
      redirect_uri: `${config.ISSUER}/console/callback`,
      scope: CONSOLE_SCOPES.join(' '),
      state,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      // "fresh": a sensitive action wants the passkey now, not a sign-in from hours ago (threat model E7).
      ...(ctx.query.fresh ? { prompt: 'login', max_age: '0' } : {}),
    }).toString();
    ctx.redirect(url.href);
  });

  router.get('/console/callback', async function finishConsoleSignIn(ctx) {
    await burnCode(provider, ctx.query.code);
    const raw = ctx.cookies.get(STATE_COOKIE, { signed: true });
    ctx.cookies.set(STATE_COOKIE, null, cookie);
    const expected = loginState(raw);
    // The state must be the one this browser sent, or a stranger could sign the owner into the stranger's account.
    assertThat(
      expected.state && ctx.query.state === expected.state,
      'invalid_state',
      400,
      'This sign-in link is not from this browser. Start again from the console.',
    );
    if (ctx.query.error) throw new AppError('access_denied', 403, 'Sign-in was cancelled.');
    ctx.redirect(safeReturn(expected.return));
  });

  return router;
}
