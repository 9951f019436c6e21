import { z } from 'zod';
import type { Config } from '../../config.js';
import type { CredentialKind, VerifiedCredential } from '../plugin.js';
import { botApi, callTelegram } from './client.js';
import { ChatList, type AllowedChat, type BotMeta } from './chats.js';
import { TelegramError } from './errors.js';

/** What @BotFather hands out: the bot's numeric id, a colon, and a 35-character secret (ranges left some room). */
const BOT_TOKEN = /^\d{5,15}:[A-Za-z0-9_-]{30,50}$/;

export const BotInput = z.object({
  bot_token: z.string().trim().regex(BOT_TOKEN, 'must be a bot token from @BotFather, such as 123456789:AA…'),
  chats: ChatList,
});

const Me = z.object({ id: z.number().int(), is_bot: z.literal(true), username: z.string().min(1) });
const ChatInfo = z.object({
  id: z.number().int(),
  type: z.string(),
  title: z.string().optional(),
  username: z.string().optional(),
  first_name: z.string().optional(),
});

/** Looks up at most this many chats at once, well under Telegram's per-bot request rate. */
const LOOKUPS_AT_ONCE = 5;

async function lookUpChat(config: Config, botToken: string, ref: string): Promise<AllowedChat> {
  const api = await botApi(config, botToken);
  try {
    const chat = await callTelegram('getChat', botToken, () => api.getChat(ref), ChatInfo);
    const title = chat.title ?? chat.first_name;
    return { id: String(chat.id), type: chat.type, ...(chat.username ? { username: chat.username } : {}), ...(title ? { title } : {}) };
  } catch (error) {
    // Not found, or a chat the bot is not in: the owner's list is wrong, and saying which chat is the useful part.
    if (error instanceof TelegramError && (error.code === 'chat_forbidden' || error.code === 'invalid_message')) {
      throw new TelegramError(
        'chat_not_found',
        `The bot cannot see ${ref}. Add the bot to that chat or channel (as an admin, for a channel), then try again.`,
        { cause: error.cause },
      );
    }
    throw error;
  }
}

async function lookUpChats(config: Config, botToken: string, refs: string[]): Promise<AllowedChat[]> {
  const found: AllowedChat[] = [];
  for (let i = 0; i < refs.length; i += LOOKUPS_AT_ONCE) {
    found.push(...(await Promise.all(refs.slice(i, i + LOOKUPS_AT_ONCE).map((ref) => lookUpChat(config, botToken, ref)))));
  }
  // `-100123` and `@news` may be the same channel: keep it once.
  return [...new Map(found.map((chat) => [chat.id, chat])).values()];
}

/**
 * Checks a pasted bot token with getMe and each allowed chat with getChat before anything is saved, so the owner
 * learns at once that a token was mistyped or the bot was never added to a channel.
 */
async function verify(input: Record<string, unknown>, { config }: { config: Config }): Promise<VerifiedCredential> {
  const { bot_token: botToken, chats } = BotInput.parse(input);
  const api = await botApi(config, botToken);
  const me = await callTelegram('getMe', botToken, () => api.getMe(), Me).catch((error: unknown) => {
    if (error instanceof TelegramError && error.code === 'reconnect_required') {
      throw new TelegramError(
        'invalid_credential',
        'Telegram did not accept this bot token. Copy it again from @BotFather (/mybots → API Token).',
        { cause: error.cause },
      );
    }
    throw error;
  });
  const meta: BotMeta = { bot_id: me.id, username: me.username, chats: await lookUpChats(config, botToken, chats) };
  return { label: `@${me.username}`, secret: { bot_token: botToken }, meta };
}

export const telegramBot: CredentialKind = {
  id: 'telegram.bot',
  provider: 'telegram',
  title: 'Telegram bot',
  description:
    'Paste the token @BotFather gave your bot, and list the chats and channels it may post to. Add the bot to each ' +
    'of them first (as an admin, for a channel). Apps never see the token.',
  paste: {
    fields: [
      { name: 'bot_token', label: 'Bot token', type: 'password', required: true, help: 'From @BotFather: /mybots → your bot → API Token.' },
      {
        name: 'chats',
        label: 'Allowed chats',
        type: 'textarea',
        required: true,
        help: 'One per line: a chat id such as -1001234567890, or a public @channelusername. At most 50.',
      },
    ],
    input: BotInput,
    verify,
  },
};
