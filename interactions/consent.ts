import type Provider from 'oidc-provider';
import type { Config } from '../src/config.js';
import { getScope } from '../scopes/catalog.js';
import type { Details } from './routes.js';

/** Every scope this consent would grant, described from the catalog; unknown names are shown as they are. */
export function consentScopes(details: Details) {
  const { missingOIDCScope = [], missingResourceScopes = {} } = details.prompt.details;
  const names = [...new Set([...missingOIDCScope, ...Object.values(missingResourceScopes).flat()])];
  return names.map((name) => {
    const def = getScope(name);
    return { name, title: def?.title ?? name, description: def?.description ?? 'A permission this server does not describe.', access: def?.access ?? 'write' };
  });
}

export function lifetimeText(details: Details, config: Pick<Config, 'REFRESH_TOKEN_TTL' | 'ACCESS_TOKEN_TTL'>): string {
  const days = Math.round(config.REFRESH_TOKEN_TTL / 86400);
  if (details.prompt.details.missingOIDCScope?.includes('offline_access') || details.params.scope?.split(' ').includes('offline_access')) {
    return `until you revoke it (the app stays connected while it uses this access at least every ${days} days)`;
  }
  return `for ${Math.round(config.ACCESS_TOKEN_TTL / 60)} minutes at a time, while you are signed in`;
}

/** Records the owner's approval as an oidc-provider Grant (the shape its docs give for a consent prompt). */
export async function buildGrant(provider: Provider, details: Details, accountId: string): Promise<string> {
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId, clientId: details.params.client_id });
  if (!grant) throw new Error('grant vanished during consent');
  const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = details.prompt.details;
  if (missingOIDCScope?.length) grant.addOIDCScope(missingOIDCScope.join(' '));
  if (missingOIDCClaims?.length) grant.addOIDCClaims(missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
  return grant.save();
}
