import { AppError } from '../errors.js';

/**
 * The resource API's refusals of a token (RFC 6750 §3.1, RFC 9449 §7.1). Each is an AppError whose code is the `error`
 * of the `WWW-Authenticate` challenge of the scheme the token came with (./challenge.ts), except `missing_token`: a
 * request that sent no token gets challenges without an error attribute, as §3.1 asks.
 */
export const MISSING_TOKEN = 'missing_token';

export const missingToken = () =>
  new AppError(
    MISSING_TOKEN,
    401,
    'This API needs an access token, sent as "Authorization: Bearer <token>" (or "DPoP <token>" with a DPoP proof).',
  );

export const invalidToken = (description = 'The access token is invalid, expired or revoked.') =>
  new AppError('invalid_token', 401, description);

/** RFC 9449 §7.1: the DPoP proof sent with a DPoP-bound token is missing, malformed, stale, replayed or not for this request. */
export const invalidDpopProof = (description: string, cause?: unknown) => new AppError('invalid_dpop_proof', 401, description, { cause });

/** RFC 6750 §2: only the Authorization header is accepted; a token in a URL ends up in logs and histories. */
export const tokenNotInHeader = () =>
  new AppError('invalid_request', 401, 'Send the access token in the Authorization header, never in the query string or body.');

/**
 * 403 for a token without the scope a call needs. `challenge` is what the `WWW-Authenticate` challenge asks for: the
 * needed scope alone (the resource API), or everything the client should hold afterwards (MCP, whose clients
 * re-authorize with exactly the challenge's scopes, so the ones they had must be in it too).
 */
export class InsufficientScope extends AppError {
  readonly challenge: string;

  constructor(
    readonly scope: string,
    challenge: Iterable<string> = [scope],
  ) {
    super('insufficient_scope', 403, `This call needs the scope ${scope}.`);
    this.challenge = [...new Set(challenge)].join(' ');
  }
}

/** A client-credentials token acts for the app itself; a call made on an owner's behalf needs the owner's grant. */
export const ownerRequired = () =>
  new AppError('owner_required', 403, "This call acts for an account owner: use a token from the owner's consent or one they minted.");
