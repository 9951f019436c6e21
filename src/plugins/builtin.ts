import { twitterSettings } from './twitter/settings.js';
import { telegramSettings } from './telegram/settings.js';

/**
 * The plugins oauth3 ships with: adding a provider is adding a folder and an entry here, never editing core. Each
 * entry gives the plugin's settings, which join the one configuration schema (src/config.ts), and loads the plugin
 * itself only when a process runs plugins (src/plugins/load.ts), so that reading the configuration loads no upstream
 * client library.
 */
export const builtinPlugins = [
  { id: 'twitter', settings: twitterSettings, load: async () => (await import('./twitter/index.js')).twitterPlugin },
  { id: 'telegram', settings: telegramSettings, load: async () => (await import('./telegram/index.js')).telegramPlugin },
] as const;

type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;

/** Every built-in plugin's settings, in one object. */
export const pluginSettings = Object.assign({}, ...builtinPlugins.map((plugin) => plugin.settings)) as UnionToIntersection<
  (typeof builtinPlugins)[number]['settings']
>;
