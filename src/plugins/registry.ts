import type { ScopeDefinition } from '../../scopes/catalog.js';
import type { Action, ApiCallDoc, CredentialKind, Plugin, Tool } from './plugin.js';

/** MCP tool names: what every client accepts (the specification allows a little more). */
export const TOOL_NAME = /^[a-z][a-z0-9_-]{0,63}$/;

/**
 * The plugins this server runs. Core code asks the registry ("which credential kinds exist", "which action is
 * tweet.post") and never names a plugin (docs/architecture.md#plugins).
 */
export class PluginRegistry {
  private readonly actionsById = new Map<string, { plugin: Plugin; action: Action }>();
  private readonly kindsById = new Map<string, CredentialKind>();
  private readonly toolsByName = new Map<string, Tool>();

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
      for (const tool of plugin.tools ?? []) {
        if (!TOOL_NAME.test(tool.name))
          throw new Error(`tool name ${tool.name} of plugin ${plugin.id} is not lower-case letters, digits, _ and -`);
        if (this.toolsByName.has(tool.name)) throw new Error(`tool ${tool.name} defined by two plugins`);
        this.toolsByName.set(tool.name, tool);
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

  /** Every plugin's MCP tools (src/resource/mcp/), in the order the plugins list them. */
  tools(): Tool[] {
    return [...this.toolsByName.values()];
  }

  /** Every plugin's documented API calls (Plugin.docs), for skill documents and the playground. */
  apiCalls(): ApiCallDoc[] {
    return this.plugins.flatMap((plugin) => plugin.docs ?? []);
  }
}
