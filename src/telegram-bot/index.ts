/**
 * oauth3's own Telegram bot, as the app assembles it. Loaded only by a server that runs the bot (TELEGRAM_BOT_TOKEN
 * set, ROLE=all; src/server.ts): grammY and what it brings (node-fetch, whatwg-url) are about 4.6 MB of live
 * heap that an instance without the bot never holds (src/lazy.ts).
 */
export { createTelegramBot, WEBHOOK_PATH, type TelegramBot } from './bot.js';
export { approvalHandlers } from './approvals.js';
export { BOT_COMMANDS, commandHandlers } from './commands.js';
