import type { Context, Middleware } from 'koa';
import { readBody } from '../http/body.js';
import type { ApiCaller } from '../plugins/plugin.js';
import { invalidToken, missingToken, storageUnavailable, tokenNotInHeader } from './errors.js';
import type { BearerTokens } from './tokens.js';

/** RFC 6750 §2.1: `Bearer` then a b64token; the scheme name is case-insensitive (RFC 9110 §11.1). */
const AUTHORIZATION = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;
/** Our tokens are oidc-provider's opaque ids; anything much longer is not one of them, and not worth a query. */
const MAX_TOKEN_LENGTH = 512;

async function tokenOutsideHeader(ctx: Context): Promise<boolean> {
  if (ctx.URL.searchParams.has('access_token')) return true;
  if (!ctx.is('application/x-www-form-urlencoded')) return false;
  const body = await readBody(ctx);
  return Boolean(body && typeof body === 'object' && 'access_token' in body);
}

/**
 * The first stage of every resource API call (SECURITY.md G1): the token comes from the Authorization header only,
 * it must be one oauth3 issued for this API, unexpired, its grant not revoked and its owner not disabled. Sets
 * `ctx.state.caller`. Checks run in RFC 6750 order: where the token is, its syntax, then what storage says.
 */
export function bearer(tokens: BearerTokens): Middleware {
  return async function verifyBearerToken(ctx, next) {
    // §2.2 and §2.3 methods are refused: a token in a URL or a form ends up in logs, histories and Referer headers.
    if (await tokenOutsideHeader(ctx)) throw tokenNotInHeader();
    const header = ctx.get('authorization');
    // No credentials for this scheme at all (none, or Basic ...): a challenge without an error code (§3.1).
    if (!/^Bearer(\s|$)/i.test(header)) throw missingToken();
    const value = AUTHORIZATION.exec(header)?.[1];
    if (!value || value.length > MAX_TOKEN_LENGTH) throw invalidToken('The Authorization header is not a well-formed bearer token.');

    let caller: ApiCaller | undefined;
    try {
      caller = await tokens.verify(value);
    } catch (error) {
      throw storageUnavailable(error);
    }
    if (!caller) throw invalidToken();
    ctx.state.caller = caller;
    await next();
  };
}
