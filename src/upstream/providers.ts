import { readFileSync } from 'node:fs';
import { ConfigError, type Config } from '../config.js';
import type { PluginRegistry } from '../plugins/registry.js';
import type { ScopeDefinition } from '../../scopes/catalog.js';
import { UpstreamProviderConfig } from './provider-config.js';
import { isOwnProviderId, OWN_PREFIX, OWN_PROXY_SCOPE } from './own-ids.js';

/** Where a provider came from, so a bad entry is named the way the operator wrote it. */
interface Sourced {
  source: string;
  entries: unknown[];
}

function fromJson(source: string, text: string, problems: string[]): Sourced | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    problems.push(`${source}: is not valid JSON`);
    return undefined;
  }
  if (!Array.isArray(value)) {
    problems.push(`${source}: must be a JSON array of providers`);
    return undefined;
  }
  return { source, entries: value };
}

function sources(config: Config, registry: PluginRegistry, problems: string[]): Sourced[] {
  const list: Sourced[] = registry.plugins.map((plugin) => ({
    source: `plugin ${plugin.id}`,
    entries: plugin.upstreamProviders?.(config) ?? [],
  }));
  if (config.UPSTREAM_PROVIDERS) {
    const parsed = fromJson('UPSTREAM_PROVIDERS', config.UPSTREAM_PROVIDERS, problems);
    if (parsed) list.push(parsed);
  }
  if (config.UPSTREAM_PROVIDERS_FILE) {
    let text: string | undefined;
    try {
      text = readFileSync(config.UPSTREAM_PROVIDERS_FILE, 'utf8');
    } catch {
      problems.push(`UPSTREAM_PROVIDERS_FILE: cannot read ${config.UPSTREAM_PROVIDERS_FILE}`);
    }
    const parsed = text === undefined ? undefined : fromJson(`UPSTREAM_PROVIDERS_FILE (${config.UPSTREAM_PROVIDERS_FILE})`, text, problems);
    if (parsed) list.push(parsed);
  }
  return list;
}

/**
 * Every upstream OAuth 2.0 provider owners may connect: the ones plugins bring (X) and the operator's. A bad entry
 * stops the start with one message naming each provider and field; two with one id are refused.
 */
export function loadUpstreamProviders(config: Config, registry: PluginRegistry): UpstreamProviderConfig[] {
  const problems: string[] = [];
  const providers = new Map<string, UpstreamProviderConfig>();
  for (const { source, entries } of sources(config, registry, problems)) {
    entries.forEach((entry, index) => {
      const id = typeof (entry as { id?: unknown } | null)?.id === 'string' ? (entry as { id: string }).id : `#${index + 1}`;
      const parsed = UpstreamProviderConfig.safeParse(entry);
      if (!parsed.success) {
        for (const issue of parsed.error.issues)
          problems.push(`${source}: provider "${id}": ${issue.path.join('.') || 'entry'}: ${issue.message}`);
        return;
      }
      if (isOwnProviderId(parsed.data.id))
        problems.push(
          `${source}: provider "${id}": ids starting with ${OWN_PREFIX} are kept for owners' own OAuth apps; choose another id`,
        );
      else if (providers.has(parsed.data.id)) problems.push(`${source}: provider "${id}" is defined twice; give each provider its own id`);
      else providers.set(parsed.data.id, parsed.data);
    });
  }
  if (problems.length) throw new ConfigError(problems);
  return [...providers.values()];
}

export const providerTitle = (p: UpstreamProviderConfig) => p.title ?? p.id;
export const proxyScope = (providerId: string) => `upstream:${providerId}`;

/** The scope of the proxied calls to an owner's own OAuth apps, one for all of them (src/upstream/own-ids.ts). */
const ownProxyScope: ScopeDefinition = {
  name: OWN_PROXY_SCOPE,
  kind: 'resource',
  access: 'write',
  title: 'Use the services you connected with your own OAuth apps',
  description:
    'Read and change what the services you added yourself in Connected accounts hold, through oauth3, without seeing their tokens or your client secrets.',
};

/** The scope of the generic proxied route, one per provider with an API base URL, and the one for owners' own apps. */
export function proxyScopes(providers: readonly UpstreamProviderConfig[]): ScopeDefinition[] {
  const configured = providers
    .filter((p) => p.apiBaseUrl)
    .map((p): ScopeDefinition => ({
      name: proxyScope(p.id),
      kind: 'resource',
      access: 'write',
      title: `Use your ${providerTitle(p)} account`,
      description: `Read and change what your connected ${providerTitle(p)} account holds, through oauth3, without seeing your ${providerTitle(p)} password or tokens.`,
    }));
  return [...configured, ownProxyScope];
}
