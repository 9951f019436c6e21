import { z } from 'zod';
import type { Action } from '../plugin.js';
import { botApi, callTelegram } from './client.js';
import { BotMeta, findAllowedChat } from './chats.js';
import { TelegramError } from './errors.js';

export const PARSE_MODES = ['MarkdownV2', 'HTML', 'Markdown'] as const;

/** A message as it waits for the owner's approval and as it is sent: the chat already resolved to its numeric id. */
export const SendPayload = z.object({
  chat_id: z.string().regex(/^-?\d{1,20}$/),
  // Telegram's limit is 4096 characters after entity parsing; an all-blank text is refused by Telegram anyway.
  text: z.string().min(1).max(4096).regex(/\S/, 'must not be blank'),
  parse_mode: z.enum(PARSE_MODES).optional(),
  disable_notification: z.boolean().optional(),
});
export type SendPayload = z.output<typeof SendPayload>;

const Sent = z.object({ message_id: z.number().int(), chat: z.object({ id: z.number().int() }) });
const Secret = z.object({ bot_token: z.string().min(1) });

/**
 * `telegram.send`: a message through the owner's bot. The allow-list is checked again here, against the connection
 * as it is now, because an approved held message may run long after the owner changed the chats (or the bot).
 */
export const sendAction = {
  id: 'telegram.send',
  scope: 'telegram.post_any',
  provider: 'telegram',
  input: SendPayload,
  text: (payload) => payload.text,
  async run(payload, access, { config }) {
    const meta = BotMeta.safeParse(access.connection.meta);
    if (!meta.success || !findAllowedChat(meta.data.chats, payload.chat_id)) {
      throw new TelegramError('chat_not_allowed', `The owner did not allow the bot to post to ${payload.chat_id}.`);
    }
    const secret = Secret.safeParse(access.secret);
    if (!secret.success)
      throw new TelegramError('reconnect_required', 'The stored bot token is unreadable; the owner must connect the bot again.');
    const botToken = secret.data.bot_token;
    const api = await botApi(config, botToken);
    const options = {
      ...(payload.parse_mode ? { parse_mode: payload.parse_mode } : {}),
      ...(payload.disable_notification === undefined ? {} : { disable_notification: payload.disable_notification }),
    };
    const sent = await callTelegram('sendMessage', botToken, () => api.sendMessage(payload.chat_id, payload.text, options), Sent);
    return { message_id: sent.message_id, chat: String(sent.chat.id) };
  },
} satisfies Action<SendPayload, { message_id: number; chat: string }>;
