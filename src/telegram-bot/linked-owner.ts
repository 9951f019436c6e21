import type { Context } from 'grammy';
import type { AccountStore } from '../accounts/accounts.js';
import type { TelegramLink, TelegramLinks } from '../accounts/telegram-links.js';

export interface LinkedOwnerDeps {
  links: TelegramLinks;
  accounts: Pick<AccountStore, 'find'>;
}

/**
 * The owner a command or button press speaks for: only in a private chat that is linked, only from the Telegram
 * user who linked it, and only while the account is in use (a disabled owner's chat can no longer act). Undefined
 * for anything else, which the caller refuses without saying why.
 */
export async function linkedOwner(ctx: Context, { links, accounts }: LinkedOwnerDeps): Promise<TelegramLink | undefined> {
  if (ctx.chat?.type !== 'private' || !ctx.from) return undefined;
  const link = await links.ofChat(ctx.chat.id);
  if (!link || link.userId !== String(ctx.from.id)) return undefined;
  const account = await accounts.find(link.accountId);
  return account && !account.disabledAt ? link : undefined;
}
