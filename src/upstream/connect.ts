import { createHash, randomBytes } from 'node:crypto';
import { AppError } from '../errors.js';
import type { Config } from '../config.js';
import type { ProviderLookup } from './provider-config.js';
import type { AuthRequests } from './auth-requests.js';

/** Where the provider sends the owner back: one fixed URL, registered with every provider. */
export const callbackUrl = (config: Pick<Config, 'ISSUER'>) => `${config.ISSUER}/connections/callback`;

export const DEFAULT_RETURN = '/console/connections';

/**
 * A consent page to come back to after connecting the account it needs: exactly `/interaction/<uid>` on this server,
 * nothing before or after it, or undefined.
 */
export function interactionReturnTo(value: unknown): string | undefined {
  return typeof value === 'string' && /^\/interaction\/[A-Za-z0-9_-]{1,64}$/.test(value) ? value : undefined;
}

/**
 * Where to send the owner after connecting: a console path or a consent page (interactionReturnTo) on this server
 * only, so the callback can never be used as an open redirect (RFC 9700 §4.11).
 */
export function safeReturnTo(value: string | undefined): string | undefined {
  if (interactionReturnTo(value)) return value;
  if (!value || value.length > 500) return undefined;
  // eslint-disable-next-line no-control-regex -- a return path with control characters is refused
  if (!/^\/console(\/|\?|$)/.test(value) || /[\\\u0000-\u001f]/.test(value) || value.includes('//')) return undefined;
  return value;
}

/**
 * Starts connecting an upstream account: a random state and (with PKCE, RFC 7636 S256) a verifier kept on the
 * server, then the provider's authorization URL for the owner's browser.
 */
export async function startConnect(
  deps: { config: Config; requests: AuthRequests; provider: ProviderLookup },
  accountId: string,
  providerId: string,
  returnTo?: string,
): Promise<string> {
  const provider = await deps.provider(providerId, accountId);
  if (!provider) throw new AppError('unknown_provider', 404, 'No upstream provider with this id is configured.');
  const verifier = provider.usePkce ? randomBytes(32).toString('base64url') : undefined;
  const back = safeReturnTo(returnTo);
  const state = await deps.requests.create({
    accountId,
    provider: provider.id,
    ...(verifier ? { verifier } : {}),
    ...(back ? { returnTo: back } : {}),
  });

  const url = new URL(provider.authorizationUrl);
  // The operator's extra parameters first, so they can never replace the ones security depends on.
  for (const [key, value] of Object.entries(provider.extraParams)) url.searchParams.set(key, value);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('client_id', provider.clientId);
  url.searchParams.set('redirect_uri', callbackUrl(deps.config));
  if (provider.scopes.length) url.searchParams.set('scope', provider.scopes.join(provider.scopeSeparator));
  url.searchParams.set('state', state);
  if (verifier) {
    url.searchParams.set('code_challenge', createHash('sha256').update(verifier).digest('base64url'));
    url.searchParams.set('code_challenge_method', 'S256');
  }
  return url.toString();
}
