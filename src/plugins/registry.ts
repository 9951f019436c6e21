import type { ScopeDefinition } from '../../scopes/catalog.js';
import type { Action, ApiCallDoc, CredentialKind, Plugin } from './plugin.js';

/**
 * The plugins this server runs. Core code asks the registry ("which credential kinds exist", "which action is
 * tweet.post") and never names a plugin (docs/architecture.md#plugins).
 */
export class PluginRegistry {
  private readonly actionsById = new Map<string, { plugin: Plugin; action: Action }>();
  private readonly kindsById = new Map<string, CredentialKind>();

  constructor(readonly plugins: readonly Plugin[]) {
    const ids = new Set<string>();
    for (const plugin of plugins) {
      if (ids.has(plugin.id)) throw new Error(`plugin ${plugin.id} loaded twice`);
      ids.add(plugin.id);
      for (const action of plugin.actions) {
        if (this.actionsById.has(action.id)) throw new Error(`action ${action.id} defined by two plugins`);
        this.actionsById.set(action.id, { plugin, action });
      }
      for (const kind of plugin.credentialKinds) {
        if (this.kindsById.has(kind.id)) throw new Error(`credential kind ${kind.id} defined by two plugins`);
        this.kindsById.set(kind.id, kind);
      }
    }
  }

  /** Every plugin's scopes, for the scope catalog (src/plugins/scope-catalog.ts). */
  scopes(): ScopeDefinition[] {
    return this.plugins.flatMap((plugin) => plugin.scopes);
  }

  action(id: string): Action | undefined {
    return this.actionsById.get(id)?.action;
  }

  credentialKind(id: string): CredentialKind | undefined {
    return this.kindsById.get(id);
  }

  credentialKinds(): CredentialKind[] {
    return [...this.kindsById.values()];
  }

  /** Every plugin's documented API calls (Plugin.docs), for skill documents and the playground. */
  apiCalls(): ApiCallDoc[] {
    return this.plugins.flatMap((plugin) => plugin.docs ?? []);
  }
}
