import type { ApiCallDoc } from '../plugin.js';

/** The Telegram routes (./routes.ts) as developers read about them in skill documents and the playground. */
export const telegramDocs: ApiCallDoc[] = [
  { method: 'GET', path: '/telegram/chats', scope: 'telegram.post_any', summary: 'The chats the owner allowed the bot to post to.' },
  {
    method: 'POST',
    path: '/telegram/messages',
    scope: 'telegram.post_any',
    summary:
      "Sends a message through the owner's bot to an allowed chat (`chat` is an id or `@username`; optional `parse_mode`, `disable_notification`).",
    body: { chat: '@mychannel', text: 'Build finished' },
  },
];
