import { z } from 'zod';

/**
 * Where a bot may post: a numeric chat id (groups and channels are negative, `-100…`) or a public
 * `@channelusername` (Telegram usernames: a letter, then 4–31 letters, digits or underscores).
 */
const CHAT_ID = /^-?\d{1,20}$/;
const CHAT_USERNAME = /^@[A-Za-z][A-Za-z0-9_]{3,31}$/;

export const ChatRef = z
  .string()
  .trim()
  .refine((v) => CHAT_ID.test(v) || CHAT_USERNAME.test(v), 'must be a chat id such as -1001234567890 or a @channelusername');

/** A chat the owner allowed, as getChat described it when the bot was connected. */
export const AllowedChat = z.object({
  id: z.string().regex(CHAT_ID),
  username: z.string().optional(),
  title: z.string().optional(),
  type: z.string().optional(),
});
export type AllowedChat = z.output<typeof AllowedChat>;

/** What a telegram.bot connection keeps beside its sealed token (connections.meta). */
export const BotMeta = z.object({
  bot_id: z.number(),
  username: z.string(),
  chats: z.array(AllowedChat),
});
export type BotMeta = z.output<typeof BotMeta>;

/** The same chat written twice (`@News` and `@news`) counts once: usernames are case-insensitive in Telegram. */
const keyOf = (ref: string) => (ref.startsWith('@') ? ref.toLowerCase() : ref);

/**
 * The console's textarea (one chat per line) or a JSON array, deduplicated, 1 to 50 chats. Blank lines and
 * surrounding spaces are forgiven: they come from copy and paste, not from intent.
 */
export const ChatList = z
  .union([z.string().transform((text) => text.split(/\r?\n/)), z.array(z.string())])
  .transform((lines) => lines.map((line) => line.trim()).filter(Boolean))
  .pipe(z.array(ChatRef))
  .transform((refs) => [...new Map(refs.map((ref) => [keyOf(ref), ref])).values()])
  .pipe(z.array(z.string()).min(1, 'list at least one chat').max(50, 'list at most 50 chats'));

/**
 * The allowed chat a caller's reference names, or undefined. A username is matched to the chat it named when the
 * bot was connected; messages then go to that chat's numeric id, because a username can later move to another chat.
 */
export function findAllowedChat(chats: readonly AllowedChat[], ref: string): AllowedChat | undefined {
  const wanted = keyOf(ref.trim());
  return chats.find((chat) => chat.id === wanted || (chat.username !== undefined && `@${chat.username}`.toLowerCase() === wanted));
}
