/**
 * The one catalog of scopes: consent pages, discovery, client registration and the resource server all read it. It
 * is a value built at start (src/plugins/scope-catalog.ts) from the OpenID scopes below, the plugins' and one per
 * configured upstream provider, and handed to whoever needs it, so two apps can run side by side in one process.
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

/** The OpenID Connect scopes every server has. */
export const OIDC_SCOPES: readonly ScopeDefinition[] = [
  {
    name: 'openid',
    kind: 'oidc',
    access: 'identity',
    title: 'Know who you are',
    description: 'Confirm that you are the same oauth3 user each time, with an identifier unique to this app.',
  },
  {
    name: 'profile',
    kind: 'oidc',
    access: 'identity',
    title: 'See your profile',
    description: 'See the name on your oauth3 profile, if you set one.',
  },
  {
    name: 'offline_access',
    kind: 'oidc',
    access: 'identity',
    title: 'Stay connected',
    description: 'Keep this access when you are not using the app, until you revoke it.',
  },
];

const NAME = /^[a-z][a-z0-9_.:-]{1,63}$/;

export class ScopeCatalog {
  private readonly byName = new Map<string, ScopeDefinition>();
  private readonly resourceNames: string[] = [];

  /** The OpenID scopes and `definitions`; a name defined twice differently is a mistake that stops the start. */
  constructor(definitions: readonly ScopeDefinition[] = []) {
    for (const def of [...OIDC_SCOPES, ...definitions]) {
      if (!NAME.test(def.name)) throw new Error(`invalid scope name: ${def.name}`);
      const existing = this.byName.get(def.name);
      if (existing && JSON.stringify(existing) !== JSON.stringify(def)) throw new Error(`scope ${def.name} defined twice`);
      if (existing) continue;
      this.byName.set(def.name, def);
      if (def.kind === 'resource') this.resourceNames.push(def.name);
    }
  }

  get(name: string): ScopeDefinition | undefined {
    return this.byName.get(name);
  }

  all(): ScopeDefinition[] {
    return [...this.byName.values()];
  }

  /**
   * A scope as people are shown it (the consent page, an app's public information): its title, plain-words
   * description and access. A name this server does not define is shown as it is, and treated as able to write.
   */
  describe(name: string): { name: string; title: string; description: string; access: ScopeAccess } {
    const def = this.byName.get(name);
    return {
      name,
      title: def?.title ?? name,
      description: def?.description ?? 'A permission this server does not describe.',
      access: def?.access ?? 'write',
    };
  }

  /** Scopes of the resource API, which go into its access tokens (RFC 8707 audience). */
  resourceScopes(): string[] {
    return [...this.resourceNames];
  }

  oidcScopes(): string[] {
    return this.all()
      .filter((s) => s.kind === 'oidc')
      .map((s) => s.name);
  }

  isResourceScope(name: string): boolean {
    return this.byName.get(name)?.kind === 'resource';
  }

  /** The names in `scopes` that the catalog does not hold, each once. */
  unknown(scopes: Iterable<string>): string[] {
    return [...new Set(scopes)].filter((scope) => !this.byName.has(scope));
  }

  /** "unknown scope 'foo'; known scopes: openid, …", for an error a person reads, or undefined when all are known. */
  problemWith(scopes: Iterable<string>): string | undefined {
    const unknown = this.unknown(scopes);
    if (!unknown.length) return undefined;
    const named = unknown.map((scope) => `'${scope}'`).join(', ');
    return `unknown scope${unknown.length > 1 ? 's' : ''} ${named}; known scopes: ${[...this.byName.keys()].join(', ')}`;
  }
}
