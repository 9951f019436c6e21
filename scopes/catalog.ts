/**
 * The one catalog of scopes (STYLE.md, Shape of the house). Consent pages, discovery and the resource server all
 * read it; plugins add theirs with `registerScopes` when they load.
 */
export type ScopeAccess = 'identity' | 'read' | 'write';

export interface ScopeDefinition {
  name: string;
  title: string;
  /** Plain words for the consent screen: what the app can do with it. */
  description: string;
  access: ScopeAccess;
  /** `oidc` scopes go to the ID token/userinfo; `resource` scopes into access tokens for the resource API. */
  kind: 'oidc' | 'resource';
}

const catalog = new Map<string, ScopeDefinition>();

export function registerScopes(definitions: readonly ScopeDefinition[]): void {
  for (const def of definitions) {
    if (!/^[a-z][a-z0-9_.:-]{1,63}$/.test(def.name)) throw new Error(`invalid scope name: ${def.name}`);
    const existing = catalog.get(def.name);
    if (existing && JSON.stringify(existing) !== JSON.stringify(def)) throw new Error(`scope ${def.name} registered twice`);
    catalog.set(def.name, def);
  }
}

export const getScope = (name: string): ScopeDefinition | undefined => catalog.get(name);
export const allScopes = (): ScopeDefinition[] => [...catalog.values()];
export const resourceScopes = (): string[] => allScopes().filter((s) => s.kind === 'resource').map((s) => s.name);
export const oidcScopes = (): string[] => allScopes().filter((s) => s.kind === 'oidc').map((s) => s.name);

registerScopes([
  { name: 'openid', kind: 'oidc', access: 'identity', title: 'Know who you are',
    description: 'Confirm that you are the same oauth3 user each time, with an identifier unique to this app.' },
  { name: 'profile', kind: 'oidc', access: 'identity', title: 'See your profile',
    description: 'See the name on your oauth3 profile, if you set one.' },
  { name: 'offline_access', kind: 'oidc', access: 'identity', title: 'Stay connected',
    description: 'Keep this access when you are not using the app, until you revoke it.' },
]);

// Resource scopes (tweet.post, telegram.post_any, upstream:<provider> ...) come from the plugins and the configured
// upstream providers, registered when the app starts (src/plugins/registry.ts, src/upstream/providers.ts).
