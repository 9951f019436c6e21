import type { PluginRegistry } from './registry.js';
import type { ConnectionStore } from '../connections/store.js';
import type { UpstreamTokens } from '../connections/access.js';
import type { PolicyStore } from '../policies/policy.js';
import type { HeldActions } from '../policies/held.js';
import type { DailyLimits } from '../policies/gate.js';
import type { ActionDeps } from './plugin.js';

/** What the resource API and the console's Connected accounts / Approvals pages share, built once in createApp. */
export interface ResourceServices {
  registry: PluginRegistry;
  connections: ConnectionStore;
  upstreamTokens: UpstreamTokens;
  policies: PolicyStore;
  held: HeldActions;
  /** Posts counted against each grant's daily limit (the API and approved held posts both count). */
  daily: DailyLimits;
  /** Given to every action's `run` (config and logger), by the API and by approved held posts alike. */
  actionDeps: ActionDeps;
}
