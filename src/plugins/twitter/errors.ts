import type { Connection, Plugin } from '../plugin.js';
import { UpstreamError, upstreamErrors } from '../upstream-errors.js';

/** The X plugin's stable error codes (plugin.errors), for the README and the console. */
export const twitterErrors = {
  invalid_credential: { status: 400, description: 'X did not accept the pasted cookie (expired, signed out, or copied incompletely).' },
  duplicate_post: { status: 409, description: 'X refused the post because it repeats one the account just published.' },
  tweet_not_found: { status: 404, description: "X has no such post, or it is not this account's." },
  upstream_forbidden: { status: 403, description: 'X refused this action for this account.' },
  ...upstreamErrors('X'),
} satisfies Plugin['errors'];

export type TwitterErrorCode = keyof typeof twitterErrors;

/**
 * What went wrong talking to X, in our words, before it becomes an API error. Both clients (the web GraphQL one for
 * cookies, twitter-api-v2 for OAuth) reduce X's replies to this, so the mapping below is the only place that decides
 * what an owner's caller sees. It never holds X's headers or the request, so it cannot carry a credential.
 */
export type XFailure =
  | { kind: 'status'; status: number; codes: number[]; detail?: string; retryAfter?: string }
  | { kind: 'timeout' }
  | { kind: 'network' }
  | { kind: 'malformed'; detail: string };

/** An X failure as an API error (the shape every plugin's upstream failures share). */
export class XError extends UpstreamError {
  constructor(code: TwitterErrorCode, description: string, options: { retryAfter?: string; relink?: Connection; cause?: unknown } = {}) {
    super('X', code, twitterErrors[code].status, description, options);
    this.name = 'XError';
  }
}

/** X's own error codes (v1.1 / web GraphQL `errors[].code`) that we answer with something specific. */
const X_CODES = {
  /** 32 could not authenticate, 89 invalid token, 215 bad auth data, 326 account locked, 353 csrf mismatch. */
  auth: [32, 89, 215, 326, 353],
  duplicate: [187],
  /** 144 no status with that id, 8 no data for the id. */
  notFound: [144, 8],
  /** 88 rate limit exceeded, 185 over daily status update limit, 344 daily limit. */
  rateLimited: [88, 185, 344],
};

const has = (codes: number[], wanted: number[]) => codes.some((c) => wanted.includes(c));

/**
 * The one translation of X failures: foreign errors are translated at one place. The cause kept for the logs
 * is a plain summary of status and X's error codes, never X's reply headers or our request.
 */
export function fromXFailure(failure: XFailure, via: 'cookie' | 'oauth', connection?: Connection): XError {
  const cause = new Error(`X failure: ${JSON.stringify(failure)}`);
  if (failure.kind === 'timeout') return new XError('upstream_timeout', 'X did not answer in time. Try again later.', { cause });
  if (failure.kind === 'network') return new XError('upstream_error', 'X could not be reached. Try again later.', { cause });
  if (failure.kind === 'malformed') return new XError('upstream_error', 'X answered something unexpected. Try again later.', { cause });

  const { status, codes, detail = '' } = failure;
  if (status === 429 || has(codes, X_CODES.rateLimited)) {
    return new XError('upstream_rate_limited', 'X is rate limiting this account. Retry later.', {
      cause,
      retryAfter: failure.retryAfter ?? '60',
    });
  }
  if (has(codes, X_CODES.duplicate) || /duplicate content/i.test(detail)) {
    return new XError('duplicate_post', 'X refused the post: it repeats one this account just published.', { cause });
  }
  if (has(codes, X_CODES.notFound) || (status === 404 && via === 'oauth')) {
    return new XError('tweet_not_found', 'X has no such post for this account.', { cause });
  }
  // A cookie X refuses is signed out or expired; an OAuth token X refuses after the token layer's refresh is revoked.
  if (has(codes, X_CODES.auth) || status === 401 || (status === 403 && via === 'cookie')) {
    return new XError('reconnect_required', "X no longer accepts this account's credential. The owner must connect X again.", {
      cause,
      relink: connection,
    });
  }
  if (status === 403) return new XError('upstream_forbidden', 'X refused this action for this account.', { cause });
  if (status === 404) {
    // The web API answers 404 for an unknown GraphQL query id: X changed its web app (X_WEB_QUERY_IDS).
    return new XError('upstream_error', "X's web API did not recognise the request. The server's X query ids may be out of date.", {
      cause,
    });
  }
  return new XError('upstream_error', 'X failed to handle the request. Try again later.', { cause });
}

/** Seconds to wait, from Retry-After or X's `x-rate-limit-reset` (epoch seconds). */
export function retryAfterFrom(headers: { get(name: string): string | null }, now = Date.now()): string | undefined {
  const retryAfter = headers.get('retry-after');
  if (retryAfter && /^\d{1,6}$/.test(retryAfter.trim())) return retryAfter.trim();
  const reset = Number(headers.get('x-rate-limit-reset'));
  if (Number.isFinite(reset) && reset > 0) return String(Math.max(1, Math.ceil(reset - now / 1000)));
  return undefined;
}
