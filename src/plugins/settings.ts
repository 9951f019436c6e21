import { twitterSettings } from './twitter/settings.js';
import { telegramSettings } from './telegram/settings.js';

/**
 * Settings the built-in plugins bring, merged into the one configuration schema (src/config.ts). Kept apart from
 * the plugins themselves so that reading the configuration loads no upstream client library.
 */
export const pluginSettings = { ...twitterSettings, ...telegramSettings };
