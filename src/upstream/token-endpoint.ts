import { z } from 'zod';
import { AppError } from '../errors.js';
import { UpstreamError } from '../plugins/upstream-errors.js';
import type { UpstreamProvider, UpstreamProviderConfig } from './provider-config.js';

/** A successful token response (RFC 6749 §5.1), parsed before anything is stored. */
const TokenResponse = z.object({
  access_token: z.string().min(1),
  token_type: z.string().min(1).default('Bearer'),
  expires_in: z.coerce.number().positive().optional(),
  refresh_token: z.string().min(1).optional(),
  scope: z.string().optional(),
});
export type TokenResponse = z.output<typeof TokenResponse>;

/** The longest token response read; a provider sending more is broken or hostile. */
const MAX_RESPONSE_BYTES = 64 * 1024;

/** The provider said the owner's grant is gone (RFC 6749 §5.2 `invalid_grant`): only a new connect helps (G6). */
export class GrantRevoked extends UpstreamError {
  constructor(readonly upstreamError: string) {
    super(
      UPSTREAM,
      'reconnect_required',
      409,
      'The upstream account no longer accepts oauth3: its owner must connect it again in the console.',
    );
  }
}

/**
 * Exposed, like the plugins' upstream errors: the caller learns it was the provider, with a stable code, and not
 * "our side". `why` is only ever our own words (and a provider's sanitised error code), never its response body.
 */
export const upstreamUnavailable = (why: string, cause?: unknown) =>
  new UpstreamError(UPSTREAM, 'upstream_unavailable', 502, `The upstream service could not be used (${why}). Try again later.`, { cause });
export const upstreamTimeout = (cause?: unknown) =>
  new UpstreamError(UPSTREAM, 'upstream_timeout', 504, 'The upstream service did not answer in time. Try again later.', { cause });

/** A configured OAuth provider, as the generic upstream client's errors name it. */
const UPSTREAM = 'The upstream provider';

/** The provider no longer accepts the owner's grant or token: only a new connect helps (threat model G6). */
export const reconnectRequired = () =>
  new UpstreamError(
    UPSTREAM,
    'reconnect_required',
    409,
    'The upstream account no longer accepts oauth3: its owner must connect it again in the console.',
  );

/** fetch's failures, translated once: a timeout is 504, anything else (refused, reset, DNS) 502. */
export function translateFetchError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  const name = (error as { name?: string } | null)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return upstreamTimeout(error);
  return upstreamUnavailable('no connection', error);
}

/**
 * Client authentication at the token endpoint: HTTP Basic with each part form-urlencoded (RFC 6749 §2.3.1), the
 * secret in the body (`post`), or only client_id for a public client (RFC 6749 §3.2.1).
 */
export function authenticate(provider: UpstreamProviderConfig, form: URLSearchParams, headers: Record<string, string>): void {
  if (provider.clientSecret && provider.tokenAuthMethod === 'basic') {
    headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(provider.clientId)}:${encodeURIComponent(provider.clientSecret)}`).toString('base64')}`;
    return;
  }
  form.set('client_id', provider.clientId);
  if (provider.clientSecret) form.set('client_secret', provider.clientSecret);
}

async function readLimited(res: Response): Promise<string> {
  const text = await res.text();
  if (text.length > MAX_RESPONSE_BYTES) throw upstreamUnavailable('oversized token response');
  return text;
}

/**
 * One call to the provider's token endpoint (authorization_code or refresh_token grant). Errors never carry the
 * response body or any token: only the status and the RFC 6749 §5.2 error code reach the logs.
 */
export async function callTokenEndpoint(
  provider: UpstreamProvider,
  params: Record<string, string>,
  timeoutMs: number,
): Promise<TokenResponse> {
  const form = new URLSearchParams(params);
  const headers: Record<string, string> = { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' };
  authenticate(provider, form, headers);
  let status: number;
  let text: string;
  try {
    // An owner's own provider is reached only through the address-checked fetch (threat model G17).
    const res = await (provider.fetch ?? fetch)(provider.tokenUrl, {
      method: 'POST',
      headers,
      body: form,
      redirect: 'error',
      signal: AbortSignal.timeout(timeoutMs),
    });
    status = res.status;
    text = await readLimited(res);
  } catch (error) {
    throw translateFetchError(error);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw upstreamUnavailable(`token endpoint answered ${status} without JSON`);
  }
  if (status >= 200 && status < 300) {
    const parsed = TokenResponse.safeParse(json);
    if (!parsed.success) throw upstreamUnavailable('malformed token response');
    return parsed.data;
  }
  const error = z.object({ error: z.string().max(100) }).safeParse(json);
  const code = error.success ? error.data.error : 'unknown';
  // invalid_grant: the code or refresh token is expired, revoked or was issued to another client (RFC 6749 §5.2).
  if ((status === 400 || status === 401) && (code === 'invalid_grant' || code === 'invalid_token')) throw new GrantRevoked(code);
  throw upstreamUnavailable(`token endpoint answered ${status} ${code.replace(/[^\w.-]/g, '')}`);
}

/** What is sealed for an `oauth2` connection. */
export interface OAuthSecret extends Record<string, unknown> {
  access_token: string;
  refresh_token?: string;
  token_type: string;
  scope?: string;
}

/** The secret to store after a token response; a refresh that returns no refresh token keeps the old one. */
export function secretOf(tokens: TokenResponse, previous?: OAuthSecret): { secret: OAuthSecret; expiresAt?: Date } {
  const refresh = tokens.refresh_token ?? previous?.refresh_token;
  const scope = tokens.scope ?? previous?.scope;
  return {
    secret: {
      access_token: tokens.access_token,
      token_type: tokens.token_type,
      ...(refresh ? { refresh_token: refresh } : {}),
      ...(scope ? { scope } : {}),
    },
    ...(tokens.expires_in ? { expiresAt: new Date(Date.now() + tokens.expires_in * 1000) } : {}),
  };
}
