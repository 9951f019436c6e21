import type { Context, Middleware } from 'koa';
import { AppError } from '../errors.js';
import { readBody } from '../http/body.js';
import type { ApiCaller } from '../plugins/plugin.js';
import type { TokenScheme } from './challenge.js';
import type { CheckedProof, DpopProofs } from './dpop.js';
import { invalidToken, missingToken, tokenNotInHeader } from './errors.js';
import { storageUnavailable } from '../errors.js';
import type { BearerTokens } from './tokens.js';

/**
 * RFC 6750 §2.1 `Bearer` or RFC 9449 §7.1 `DPoP`, then a token68 (b64token); scheme names are case-insensitive
 * (RFC 9110 §11.1).
 */
const AUTHORIZATION = /^(Bearer|DPoP) +([A-Za-z0-9\-._~+/]+=*) *$/i;
const SCHEME = /^(Bearer|DPoP)(\s|$)/i;
/** Our tokens are oidc-provider's opaque ids; anything much longer is not one of them, and not worth a query. */
const MAX_TOKEN_LENGTH = 512;

async function tokenOutsideHeader(ctx: Context): Promise<boolean> {
  // The query string alone, parsed as the URL would: most calls have none, and need no URL object built.
  if (ctx.querystring && new URLSearchParams(ctx.querystring).has('access_token')) return true;
  if (!ctx.is('application/x-www-form-urlencoded')) return false;
  const body = await readBody(ctx);
  return Boolean(body && typeof body === 'object' && 'access_token' in body);
}

const schemeOf = (name: string): TokenScheme => (name.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer');

/**
 * The first stage of every resource API call (threat model G1, J5): the token comes from the Authorization header
 * only, it must be one oauth3 issued for this API, unexpired, its grant not revoked and its owner not disabled. A
 * DPoP-bound token (`cnf.jkt`, RFC 9449) is accepted only with the `DPoP` scheme and a proof made for this request with
 * its key; an unbound one only with `Bearer`. Sets `ctx.state.caller`, and `ctx.state.tokenScheme` for the challenge.
 * Checks run in RFC 6750 order: where the token is, its syntax, the proof, then what storage says.
 */
export function bearer(tokens: BearerTokens, dpop: DpopProofs): Middleware {
  return async function verifyAccessToken(ctx, next) {
    // §2.2 and §2.3 methods are refused: a token in a URL or a form ends up in logs, histories and Referer headers.
    if (await tokenOutsideHeader(ctx)) throw tokenNotInHeader();
    const header = ctx.get('authorization');
    // No credentials for our schemes at all (none, or Basic ...): challenges without an error code (§3.1).
    const scheme = SCHEME.exec(header)?.[1];
    if (!scheme) throw missingToken();
    const used = schemeOf(scheme);
    ctx.state.tokenScheme = used;
    const value = AUTHORIZATION.exec(header)?.[2];
    if (!value || value.length > MAX_TOKEN_LENGTH) throw invalidToken(`The Authorization header is not a well-formed ${used} token.`);

    // RFC 9449 §7.1: the proof is checked before the token is looked up; its key must then be the token's cnf.jkt.
    const proof: CheckedProof | undefined =
      used === 'DPoP'
        ? await dpop.check({ proofs: ctx.req.headersDistinct.dpop, method: ctx.method, path: ctx.path, accessToken: value })
        : undefined;

    let caller: ApiCaller | undefined;
    try {
      caller = await tokens.verify(value, proof?.thumbprint);
    } catch (error) {
      throw storageUnavailable(error);
    }
    if (!caller) {
      throw invalidToken(
        used === 'DPoP'
          ? 'The access token is invalid, expired or revoked, or not bound to the key of this DPoP proof (an unbound token is sent as Bearer).'
          : 'The access token is invalid, expired or revoked, or bound to a DPoP key (send it with the DPoP scheme and a DPoP proof).',
      );
    }
    if (proof) {
      // Last, so only a proof that would otherwise be accepted is remembered: good once, on any replica (§11.1).
      try {
        await dpop.consume(proof);
      } catch (error) {
        if (error instanceof AppError) throw error;
        throw storageUnavailable(error);
      }
    }
    ctx.state.caller = caller;
    await next();
  };
}
