import type { Plugin } from './plugin.js';
import { builtinPlugins } from './builtin.js';

/** The built-in plugins, loaded (src/plugins/builtin.ts): what a server runs unless it is given others. */
export async function loadBuiltinPlugins(): Promise<Plugin[]> {
  return Promise.all(builtinPlugins.map((plugin) => plugin.load()));
}
