import type { PluginRegistry } from '../plugins/registry.js';
import type { OwnerProviderView } from '../upstream/owner-providers.js';
import type { CredentialField, CredentialGuide } from '../plugins/plugin.js';

/** One way to connect an account: a credential kind from a plugin, or an upstream OAuth provider from config. */
export interface ConnectWay {
  /** The credential kind id (`telegram.bot`), or `oauth2:<provider>` for a provider no plugin describes. */
  id: string;
  provider: string;
  title: string;
  description: string;
  paste?: { fields: CredentialField[]; guide?: CredentialGuide[] };
  /** The upstream provider to start an OAuth connect with. */
  oauth?: { provider: string };
}

/** The providers an owner can connect by redirect (built in by plugins, or configured by the operator). */
export interface ConnectSources {
  providers?(): ReadonlyArray<{ id: string; title?: string; authorizationUrl: string }>;
}

/**
 * The ways an owner can connect an account: credential kinds from the plugins, providers configured without a plugin,
 * then the owner's own OAuth apps. The Connected accounts page offers them, and the bot's /connect lists them.
 */
export function connectWays(
  registry: Pick<PluginRegistry, 'credentialKinds'>,
  upstream: ConnectSources,
  own: readonly OwnerProviderView[] = [],
): ConnectWay[] {
  const configured = upstream.providers?.();
  const configuredIds = configured && new Set(configured.map((p) => p.id));
  const covered = new Set<string>();
  const list: ConnectWay[] = [];
  for (const kind of registry.credentialKinds()) {
    // An OAuth kind needs its provider configured (X needs the operator's own client id).
    if (kind.oauth && configuredIds && !configuredIds.has(kind.oauth.provider)) continue;
    if (kind.oauth) covered.add(kind.oauth.provider);
    list.push({
      id: kind.id,
      provider: kind.provider,
      title: kind.title,
      description: kind.description,
      ...(kind.paste ? { paste: { fields: kind.paste.fields, ...(kind.paste.guide ? { guide: kind.paste.guide } : {}) } } : {}),
      ...(kind.oauth ? { oauth: { provider: kind.oauth.provider } } : {}),
    });
  }
  for (const p of configured ?? []) {
    if (covered.has(p.id)) continue;
    const title = p.title ?? p.id;
    const host = URL.canParse(p.authorizationUrl) ? new URL(p.authorizationUrl).host : p.authorizationUrl;
    list.push({
      id: `oauth2:${p.id}`,
      provider: p.id,
      title,
      description: `Sign in to ${title} at ${host} and approve oauth3 there; you come back here when it is done.`,
      oauth: { provider: p.id },
    });
  }
  for (const p of own) {
    list.push({
      id: `oauth2:${p.id}`,
      provider: p.id,
      title: p.title,
      description: `Your own OAuth app: sign in to ${p.title} at ${new URL(p.authorization_url).host} and approve oauth3 there.`,
      oauth: { provider: p.id },
    });
  }
  return list;
}

/** The operator's (or the owner's) title for a provider, else the id as a name: `x` → `X`, `telegram` → `Telegram`. */
export const providerTitles =
  (upstream: ConnectSources, own: readonly OwnerProviderView[] = []) =>
  (provider: string): string =>
    own.find((p) => p.id === provider)?.title ??
    upstream.providers?.().find((p) => p.id === provider)?.title ??
    provider.charAt(0).toUpperCase() + provider.slice(1);
