import type { Config } from '../config.js';
import type { AppError } from '../errors.js';
import { InsufficientScope, MISSING_TOKEN } from './errors.js';

/** Where clients find this API's RFC 9728 metadata (§5.1: named in every challenge). */
export const metadataUrl = (config: Pick<Config, 'ISSUER'>) => `${config.ISSUER}/.well-known/oauth-protected-resource`;

const quoted = (value: string) => `"${value.replace(/["\\]/g, '\\$&')}"`;

/**
 * The `WWW-Authenticate` value for a refused call, or undefined when the refusal is not about the token (policy,
 * validation). RFC 6750 §3: 401 names the token error (none when no token was sent, §3.1); 403 insufficient_scope
 * names the scope needed. RFC 9728 §5.1: `resource_metadata` points to the metadata document.
 */
export function challengeFor(error: AppError, config: Pick<Config, 'ISSUER'>): string | undefined {
  if (error.status !== 401 && !(error instanceof InsufficientScope)) return undefined;
  const params: string[] = [`realm=${quoted('oauth3')}`];
  if (error.code !== MISSING_TOKEN) {
    params.push(`error=${quoted(error.code)}`, `error_description=${quoted(error.description)}`);
  }
  if (error instanceof InsufficientScope) params.push(`scope=${quoted(error.scope)}`);
  params.push(`resource_metadata=${quoted(metadataUrl(config))}`);
  return `Bearer ${params.join(', ')}`;
}
