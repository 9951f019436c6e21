import type { Plugin } from '../plugin.js';
import { telegramBot } from './credential.js';
import { telegramErrors } from './errors.js';
import { telegramRoutes } from './routes.js';
import { sendAction } from './send.js';
import { telegramDocs } from './docs.js';
import { telegramTools } from './tools.js';

/**
 * Telegram: an owner connects a bot (its token sealed in the vault, the chats it may post to kept beside it), and
 * apps send messages through it with `telegram.post_any`, within the owner's policy. Apps never see the token.
 */
export const telegramPlugin = {
  id: 'telegram',
  scopes: [
    {
      name: 'telegram.post_any',
      kind: 'resource',
      access: 'write',
      title: 'Send Telegram messages',
      description: 'Send messages through your Telegram bot to the chats and channels you allowed.',
    },
  ],
  credentialKinds: [telegramBot],
  actions: [sendAction],
  errors: telegramErrors,
  routes: telegramRoutes,
  docs: telegramDocs,
  tools: telegramTools,
} satisfies Plugin;
