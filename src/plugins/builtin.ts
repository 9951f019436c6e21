import type { Plugin } from './plugin.js';
import { twitterPlugin } from './twitter/index.js';
import { telegramPlugin } from './telegram/index.js';

/** The plugins oauth3 ships with. Adding a provider is adding a folder and a line here, never editing core. */
export const builtinPlugins: Plugin[] = [twitterPlugin, telegramPlugin];
