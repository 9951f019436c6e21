import type { Config } from '../config.js';
import type { AppError } from '../errors.js';
import { DPOP_SIGNING_ALGS } from '../provider/dpop-algorithms.js';
import { InsufficientScope, MISSING_TOKEN } from './errors.js';

/** Where clients find this API's RFC 9728 metadata (§5.1: named in every challenge). */
export const metadataUrl = (config: Pick<Config, 'ISSUER'>) => `${config.ISSUER}/.well-known/oauth-protected-resource`;

/** What a protected resource's challenges say besides the error: where its metadata is, and what to ask for on a 401. */
export interface ChallengeOptions {
  /** The resource's RFC 9728 metadata document. */
  metadata: string;
  /** Scopes a client without a (good) token should ask for first (`scope` on 401, MCP authorization §scope selection). */
  scope?: string;
}

/** The authorization scheme a token came with: `Bearer` (RFC 6750) or `DPoP` (RFC 9449 §7.1). */
export type TokenScheme = 'Bearer' | 'DPoP';

const quoted = (value: string) => `"${value.replace(/["\\]/g, '\\$&')}"`;
/**
 * RFC 6750 §3: `error_description` holds only %x20-21 / %x23-5B / %x5D-7E, so no double quote or backslash even
 * escaped; the JSON body keeps the description as written.
 */
const describable = (value: string) =>
  value
    .replace(/"/g, "'")
    .replace(/\\/g, '/')
    .replace(/[^\x20-\x7e]/g, '?');

/**
 * The `WWW-Authenticate` values for a refused call, or undefined when the refusal is not about the token (policy,
 * validation). This API takes both schemes, so it offers both (RFC 9449 §7.2): a `Bearer` challenge (RFC 6750 §3) and
 * a `DPoP` one naming the proof algorithms it accepts (`algs`, RFC 9449 §7.1). The error goes into the challenge of the
 * scheme the token came with (none when no token was sent, RFC 6750 §3.1); 403 insufficient_scope names the scope
 * needed (a 401 the scopes to start with, when `options.scope` names them). RFC 9728 §5.1: `resource_metadata` points
 * to the metadata document, in both.
 */
export function challengeFor(error: AppError, options: ChallengeOptions, used: TokenScheme = 'Bearer'): string[] | undefined {
  if (error.status !== 401 && !(error instanceof InsufficientScope)) return undefined;
  const refusal: string[] = [];
  if (error.code !== MISSING_TOKEN)
    refusal.push(`error=${quoted(error.code)}`, `error_description=${quoted(describable(error.description))}`);
  if (error instanceof InsufficientScope) refusal.push(`scope=${quoted(error.challenge)}`);
  else if (options.scope) refusal.push(`scope=${quoted(options.scope)}`);
  const metadata = `resource_metadata=${quoted(options.metadata)}`;
  const bearer = [`realm=${quoted('oauth3')}`, ...(used === 'Bearer' ? refusal : []), metadata];
  const dpop = [`realm=${quoted('oauth3')}`, ...(used === 'DPoP' ? refusal : []), `algs=${quoted(DPOP_SIGNING_ALGS.join(' '))}`, metadata];
  return [`Bearer ${bearer.join(', ')}`, `DPoP ${dpop.join(', ')}`];
}
