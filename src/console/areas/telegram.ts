import type Router from '@koa/router';
import type { Context } from 'koa';
import { AppError } from '../../errors.js';
import type { TelegramLink } from '../../accounts/telegram-links.js';
import { ownerOf } from '../../accounts/owner-session.js';
import { backTo, noticeFrom } from '../../web/notices.js';
import { consoleStages, type ConsoleDeps, pendingOf } from '../kit.js';
import { consolePage, type ConsolePageInput } from '../views/layout.js';
import { telegramBody, type TelegramPageInput } from '../views/telegram.js';

const MESSAGES = { unlinked: 'Telegram is unlinked.' };

const linkJson = (link: TelegramLink) => ({
  telegram_user_id: link.userId,
  username: link.username,
  first_name: link.firstName,
  linked_at: link.linkedAt.toISOString(),
});

/**
 * /console/telegram and /console/api/telegram: the owner's chat with oauth3's bot. A one-time link
 * `https://t.me/<bot>?start=<nonce>` links it (the bot spends the nonce, src/telegram-bot/linking.ts); unlinking
 * here or with /unlink in the chat ends it.
 */
export function telegramArea(router: Router, deps: ConsoleDeps): void {
  const { mutate, csrfFor } = consoleStages(deps);
  const { links, botUsername } = deps.telegram;

  async function makeLink(ctx: Context): Promise<{ url: string; expiresAt: Date }> {
    if (!botUsername) throw new AppError('telegram_not_configured', 404, 'This server has no Telegram bot.');
    const username = await botUsername();
    const { nonce, expiresAt } = await links.createNonce(ownerOf(ctx).accountId);
    return { url: `https://t.me/${encodeURIComponent(username)}?start=${nonce}`, expiresAt };
  }

  async function unlink(ctx: Context): Promise<boolean> {
    const owner = ownerOf(ctx);
    const removed = await links.unlinkAccount(owner.accountId);
    if (removed) {
      await deps.events.record({
        kind: 'telegram.unlinked',
        accountId: owner.accountId,
        ip: ctx.ip,
        detail: { telegram_user_id: removed.userId, username: removed.username, via: 'console' },
      });
    }
    return Boolean(removed);
  }

  async function page(ctx: Context, created?: TelegramPageInput['created'], notice?: ConsolePageInput['notice']) {
    const csrf = csrfFor(ctx);
    const link = await links.ofAccount(ownerOf(ctx).accountId);
    ctx.type = 'html';
    ctx.body = consolePage({
      pendingApprovals: pendingOf(ctx),
      title: 'Telegram',
      active: '/console/telegram',
      csrf,
      notice: notice ?? noticeFrom(ctx, MESSAGES),
      body: telegramBody({ csrf, available: Boolean(botUsername), link, created }),
    });
  }

  router.get('/console/telegram', async function showTelegram(ctx) {
    await page(ctx);
  });

  router.post('/console/telegram/link', ...mutate, async function makeLinkFromPage(ctx) {
    // The link is on this response only: no redirect, and console pages are never cached.
    await page(ctx, await makeLink(ctx), { kind: 'ok', text: 'Link made. Open it within 10 minutes.' });
  });

  router.post('/console/telegram/unlink', ...mutate, async function unlinkFromPage(ctx) {
    await unlink(ctx);
    backTo(ctx, '/console/telegram', 'unlinked');
  });

  router.get('/console/api/telegram', async function describeTelegram(ctx) {
    const link = await links.ofAccount(ownerOf(ctx).accountId);
    ctx.body = { available: Boolean(botUsername), linked: link ? linkJson(link) : null };
  });

  router.post('/console/api/telegram/link', ...mutate, async function makeLinkFromApi(ctx) {
    const { url, expiresAt } = await makeLink(ctx);
    ctx.body = { url, expires_at: expiresAt.toISOString() };
  });

  router.delete('/console/api/telegram/link', ...mutate, async function unlinkFromApi(ctx) {
    ctx.body = { unlinked: await unlink(ctx) };
  });
}
