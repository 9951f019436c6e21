import { Composer, type Context } from 'grammy';
import type { EventLog } from '../accounts/events.js';
import type { TelegramLinks } from '../accounts/telegram-links.js';

export const HELP_TEXT = [
  'This is the oauth3 bot. Commands:',
  '/apps – apps and agents with access to your account, each with a button to revoke it',
  '/connect <provider> – a link to connect an account, such as /connect x (/connect alone lists what you can connect)',
  '/connections – your connected accounts, and which need connecting again',
  '/status – what this chat is linked to, posts waiting for you, apps and accounts',
  '/start – link this chat (open the link from the Telegram page of your oauth3 console)',
  '/unlink – stop this chat speaking for your oauth3 account',
  '/help – this list',
].join('\n');

export const EXPIRED_TEXT = 'This link has expired, make a new one in your oauth3 console.';
export const PRIVATE_ONLY_TEXT = 'I only work in a private chat. Open the link from your oauth3 console in a direct chat with me.';
export const NOT_LINKED_TEXT = 'This chat is not linked to an oauth3 account.';
export const UNLINKED_TEXT = 'Unlinked. This chat no longer speaks for your oauth3 account.';

const linkedText = (name: string | undefined) =>
  `Linked${name ? `, ${name}` : ''}. This chat is now connected to your oauth3 account. Send /unlink to undo it.`;

export interface LinkingDeps {
  links: TelegramLinks;
  events: EventLog;
}

/**
 * Linking an owner's private chat: `/start <nonce>` from a console link, `/unlink`, `/help`, and help for anything
 * else. Registered last (bot.ts), so handlers added before it see their updates first and this answers the rest.
 * Groups, supergroups and channels are refused: a link names one person, and a group's messages are everyone's.
 */
export function linkingHandlers({ links, events }: LinkingDeps): Composer<Context> {
  const composer = new Composer<Context>();
  composer.chatType(['group', 'supergroup', 'channel']).on(['message', 'channel_post'], (ctx) => ctx.reply(PRIVATE_ONLY_TEXT));

  const direct = composer.chatType('private');
  direct.command('start', async (ctx) => {
    const nonce = ctx.match.trim();
    if (!nonce) return void (await ctx.reply(HELP_TEXT));
    const linked = await links.redeem(nonce, {
      chatId: ctx.chat.id,
      userId: ctx.from.id,
      username: ctx.from.username,
      firstName: ctx.from.first_name,
    });
    if (!linked) return void (await ctx.reply(EXPIRED_TEXT));
    await events.record({
      kind: 'telegram.linked',
      accountId: linked.accountId,
      detail: { telegram_user_id: linked.userId, username: linked.username, via: 'telegram' },
    });
    await ctx.reply(linkedText(ctx.from.first_name));
  });
  direct.command('unlink', async (ctx) => {
    const removed = await links.unlinkChat(ctx.chat.id);
    if (!removed) return void (await ctx.reply(NOT_LINKED_TEXT));
    await events.record({
      kind: 'telegram.unlinked',
      accountId: removed.accountId,
      detail: { telegram_user_id: removed.userId, username: removed.username, via: 'telegram' },
    });
    await ctx.reply(UNLINKED_TEXT);
  });
  direct.command('help', (ctx) => ctx.reply(HELP_TEXT));
  direct.on('message', (ctx) => ctx.reply(HELP_TEXT));
  return composer;
}
