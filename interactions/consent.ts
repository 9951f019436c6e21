import type Provider from 'oidc-provider';
import type { Config } from '../src/config.js';
import type { ScopeCatalog } from '../scopes/catalog.js';
import { AppError } from '../src/errors.js';
import { Policy, type PolicyStore } from '../src/policies/policy.js';
import { draftFromForm, inputOf, policyProblem } from '../src/policies/form.js';
import { LIMIT_PREFIX } from './views/consent.js';
import type { Details } from './details.js';

/** Every scope this consent would grant, described from the catalog; unknown names are shown as they are. */
export function consentScopes(details: Details, catalog: ScopeCatalog) {
  const { missingOIDCScope = [], missingResourceScopes = {} } = details.prompt.details;
  const names = [...new Set([...missingOIDCScope, ...Object.values(missingResourceScopes).flat()])];
  return names.map((name) => catalog.describe(name));
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

const ConsentLimits = Policy.pick({ posts_per_day: true, hold_for_approval: true, no_links: true });
export type ConsentLimits = ReturnType<typeof ConsentLimits.parse>;

/**
 * The limits the owner set in the consent page's "Limits" section, or undefined when they left
 * them empty or the app asks for nothing it could write with (the section is not shown then).
 */
export function limitsFromForm(details: Details, catalog: ScopeCatalog, body: Record<string, unknown>): ConsentLimits | undefined {
  if (!consentScopes(details, catalog).some((s) => s.access === 'write')) return undefined;
  const input = inputOf(draftFromForm(body, LIMIT_PREFIX));
  const parsed = ConsentLimits.safeParse({
    posts_per_day: input.posts_per_day,
    hold_for_approval: input.hold_for_approval,
    no_links: input.no_links,
  });
  if (!parsed.success) throw new AppError('invalid_request', 400, policyProblem(parsed.error));
  const { posts_per_day, hold_for_approval, no_links } = parsed.data;
  return posts_per_day !== null || hold_for_approval || no_links ? parsed.data : undefined;
}

/** Applies consent limits to the grant's policy; rules set earlier in the console (blocked words ...) stay. */
export async function saveConsentLimits(policies: PolicyStore, accountId: string, grantId: string, limits: ConsentLimits): Promise<void> {
  await policies.set(accountId, grantId, { ...(await policies.get(grantId)), ...limits });
}
