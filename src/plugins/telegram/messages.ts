import { z } from 'zod';
import type { CallContext, PluginKit, UpstreamAccess } from '../plugin.js';
import { BotMeta, ChatRef, findAllowedChat } from './chats.js';
import { TelegramError } from './errors.js';
import { PARSE_MODES } from './send.js';

/** A message as a caller writes it, through the API or the MCP tool: `chat` is an id or a @username. */
export const MessageBody = z.object({
  chat: ChatRef,
  text: z.string().min(1).max(4096).regex(/\S/, 'must not be blank'),
  parse_mode: z.enum(PARSE_MODES).optional(),
  disable_notification: z.boolean().optional(),
});
export type MessageBody = z.output<typeof MessageBody>;

/** The bot's allowed chats, from what getChat said when the owner connected it. */
export function allowedChats(access: UpstreamAccess): BotMeta {
  const meta = BotMeta.safeParse(access.connection.meta);
  return meta.success ? meta.data : { bot_id: 0, username: '', chats: [] };
}

/** The bot and its allowed chats as callers read them. */
export function chatListing(meta: BotMeta) {
  return {
    bot: meta.username ? `@${meta.username}` : null,
    chats: meta.chats.map((c) => ({
      id: c.id,
      username: c.username ? `@${c.username}` : null,
      title: c.title ?? null,
      type: c.type ?? null,
    })),
  };
}

/**
 * The numeric id of the allowed chat `ref` names. A chat outside the owner's list is refused here, before the policy
 * and before Telegram hears of it.
 */
export async function resolveChat(kit: PluginKit, call: CallContext, ref: string): Promise<string> {
  const chat = findAllowedChat(allowedChats(await kit.connection(call, 'telegram')).chats, ref);
  if (!chat) throw new TelegramError('chat_not_allowed', `The owner did not allow the bot to post to ${ref}.`);
  return chat.id;
}
