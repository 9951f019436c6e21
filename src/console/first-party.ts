import { createHash, randomBytes } from 'node:crypto';
import Router from '@koa/router';
import type Provider from 'oidc-provider';
import type { ClientMetadata } from 'oidc-provider';
import type { Config } from '../config.js';
import { AppError, assertThat } from '../errors.js';
import { createRouter } from '../http/router.js';

/**
 * The console signs owners in the way any app does: an authorization request (code + PKCE) through the same
 * passkey pages, as a first-party client whose consent is implied. The browser session it leaves behind is what
 * the console reads; the code itself is not needed.
 */
export const CONSOLE_CLIENT_ID = 'oauth3-console';
/**
 * The client every agent token an owner mints in the console is issued to. It has no redirect URI, grant type or
 * secret, so nobody can run a flow as it: its tokens exist only because the console saved them for the owner.
 */
export const AGENT_CLIENT_ID = 'oauth3-agents';
/**
 * The scopes the console's sign-in needs: who the owner is, nothing more. oidc-provider refuses any other scope for
 * the console's client (its `scope` metadata), so no page on the web can have a signed-in owner's browser approve
 * `tweet.post` for it without a consent page (docs/threat-model.md J6).
 */
export const CONSOLE_SCOPES = ['openid'];

/**
 * Whether an interaction of a first-party client may be approved without the consent page: only when everything it
 * still lacks is what that client's own page needs (its allowed scopes), and nothing of the resource API.
 */
export function consentImplied(clientId: string, missing: { oidcScopes?: string[]; claims?: string[]; resourceScopes?: Record<string, string[]> }): boolean {
  if (clientId !== CONSOLE_CLIENT_ID) return false;
  const resourceScopes = Object.values(missing.resourceScopes ?? {}).flat();
  return resourceScopes.length === 0 && !missing.claims?.length && (missing.oidcScopes ?? []).every((scope) => CONSOLE_SCOPES.includes(scope));
}

export function consoleClient(config: Pick<Config, 'ISSUER'>): ClientMetadata {
  return {
    client_id: CONSOLE_CLIENT_ID,
    client_name: 'oauth3 console',
    redirect_uris: [`${config.ISSUER}/console/callback`],
    scope: CONSOLE_SCOPES.join(' '),
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code'],
    response_types: ['code'],
  };
}

export function agentsClient(): ClientMetadata {
  return {
    client_id: AGENT_CLIENT_ID,
    client_name: 'Your agents',
    redirect_uris: [],
    token_endpoint_auth_method: 'none',
    grant_types: [],
    response_types: [],
  };
}

const STATE_COOKIE = 'oauth3_console_login';
const safeReturn = (value: unknown) =>
  // The developer portal signs in through the console too (src/developers/routes.ts).
  typeof value === 'string' && /^\/(console|developers)(\/|$|\?)/.test(value) && !value.startsWith('//') ? value : '/console';

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
  const cookie = { httpOnly: true, sameSite: 'lax' as const, signed: true, path: '/console', maxAge: 10 * 60 * 1000, secure: config.ISSUER.startsWith('https:') };

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
      // "fresh": a sensitive action wants the passkey now, not a sign-in from hours ago (SECURITY.md E7).
      ...(ctx.query.fresh ? { prompt: 'login', max_age: '0' } : {}),
    }).toString();
    ctx.redirect(url.href);
  });

  router.get('/console/callback', async function finishConsoleSignIn(ctx) {
    await burnCode(provider, ctx.query.code);
    const raw = ctx.cookies.get(STATE_COOKIE, { signed: true });
    ctx.cookies.set(STATE_COOKIE, null, cookie);
    let expected: { state?: string; return?: string } = {};
    try {
      expected = raw ? JSON.parse(raw) : {};
    } catch {
      expected = {};
    }
    // The state must be the one this browser sent, or a stranger could sign the owner into the stranger's account.
    assertThat(expected.state && ctx.query.state === expected.state, 'invalid_state', 400, 'This sign-in link is not from this browser. Start again from the console.');
    if (ctx.query.error) throw new AppError('access_denied', 403, 'Sign-in was cancelled.');
    ctx.redirect(safeReturn(expected.return));
  });

  return router;
}
