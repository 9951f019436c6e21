import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { AppError, notFound } from '../../errors.js';
import type { TelegramLink } from '../../accounts/telegram-links.js';
import { ownerOf } from '../../accounts/owner-session.js';
import { pathParam } from '../../http/guard.js';
import { NOTICE_KINDS, type NoticeKind } from '../../notices/kinds.js';
import type { OutboxMessage } from '../../notices/outbox.js';
import { backTo, noticeFrom } from '../../web/notices.js';
import { OneTimeView } from '../../accounts/one-time-view.js';
import { consoleStages, type ConsoleDeps, pendingOf } from '../kit.js';
import { consolePage, type ConsolePageInput } from '../views/layout.js';
import { plainReason, preview, telegramBody, type TelegramPageInput } from '../views/telegram.js';

const MESSAGES = {
  unlinked: 'Telegram is unlinked.',
  notices: 'Saved. The bot tells you what is ticked.',
  resent: 'The message is queued again; the bot sends it in a moment.',
};

const KINDS = Object.keys(NOTICE_KINDS) as NoticeKind[];

/** The API's body: every kind it names on or off; a kind this server does not know is refused, not ignored. */
const NoticeSwitches = z.strictObject(
  Object.fromEntries(KINDS.map((kind) => [kind, z.boolean().optional()])) as Record<NoticeKind, z.ZodOptional<z.ZodBoolean>>,
);

/** The page's form: a ticked box sends `<kind>=on`, an unticked one nothing. */
const NoticeForm = z.strictObject({
  csrf: z.string().optional(),
  ...(Object.fromEntries(KINDS.map((kind) => [kind, z.literal('on').optional()])) as Record<NoticeKind, z.ZodOptional<z.ZodLiteral<'on'>>>),
});

/** An outbox row's id: digits (a bigserial); anything else is no message of this owner. */
const OutboxId = z.string().regex(/^[1-9][0-9]{0,17}$/);

/** Names the fields zod refused: an unknown kind by its name. */
function switchesProblem(error: z.ZodError): string {
  const unknown = error.issues.flatMap((issue) => (issue.code === 'unrecognized_keys' ? issue.keys : []));
  if (unknown.length) return `Unknown notice kind: ${unknown.join(', ')}. Known kinds: ${KINDS.join(', ')}.`;
  const field = error.issues[0]?.path.join('.');
  return field ? `${field} must be true or false.` : 'Send an object of notice kinds, each true or false.';
}

const undeliveredJson = (message: OutboxMessage) => ({
  id: message.id,
  kind: message.kind,
  created_at: message.createdAt.toISOString(),
  preview: preview(message.text),
  reason: plainReason(message.lastError),
  telegram_said: message.lastError,
  state: message.status === 'failed' ? 'gave_up' : 'retrying',
  next_attempt_at: message.status === 'failed' ? null : message.nextAttemptAt.toISOString(),
  attempts: message.attempts,
});

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
const PAGE = '/console/telegram';

export function telegramArea(router: Router, deps: ConsoleDeps): void {
  const { mutate, csrfFor } = consoleStages(deps);
  const { links, botUsername, preferences, outbox } = deps.telegram;
  const once = new OneTimeView(deps.cookieKeys, deps.config.ISSUER.startsWith('https:'));

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
    const { accountId } = ownerOf(ctx);
    const link = await links.ofAccount(accountId);
    const [disabled, undelivered] = link ? await Promise.all([preferences.disabled(accountId), outbox.undelivered(accountId)]) : [];
    ctx.type = 'html';
    ctx.body = consolePage({
      pendingApprovals: pendingOf(ctx),
      title: 'Telegram',
      active: '/console/telegram',
      csrf,
      notice: notice ?? noticeFrom(ctx, MESSAGES),
      body: telegramBody({ csrf, available: Boolean(botUsername), link, created, disabled, undelivered }),
    });
  }

  /** Saves which kinds are on (every other is off) and records what changed; an unlinked owner has nothing to switch. */
  async function switchNotices(ctx: Context, on: (kind: NoticeKind, was: boolean) => boolean): Promise<Record<NoticeKind, boolean>> {
    const { accountId } = ownerOf(ctx);
    if (!(await links.ofAccount(accountId))) throw new AppError('telegram_not_linked', 409, 'Link your Telegram first.');
    const disabled = await preferences.disabled(accountId);
    const next = Object.fromEntries(KINDS.map((kind) => [kind, on(kind, !disabled.has(kind))])) as Record<NoticeKind, boolean>;
    await preferences.set(
      accountId,
      KINDS.filter((kind) => next[kind]),
    );
    const switchedOn = KINDS.filter((kind) => next[kind] && disabled.has(kind));
    const switchedOff = KINDS.filter((kind) => !next[kind] && !disabled.has(kind));
    if (switchedOn.length || switchedOff.length) {
      await deps.events.record({
        kind: 'telegram.notices_changed',
        accountId,
        ip: ctx.ip,
        detail: { switched_on: switchedOn, switched_off: switchedOff },
      });
    }
    return next;
  }

  async function noticesOf(accountId: string): Promise<Record<NoticeKind, boolean>> {
    const disabled = await preferences.disabled(accountId);
    return Object.fromEntries(KINDS.map((kind) => [kind, !disabled.has(kind)])) as Record<NoticeKind, boolean>;
  }

  /** Queues an undelivered message again and wakes the sender; another owner's or an unknown id is a 404, untouched. */
  async function sendAgain(ctx: Context): Promise<void> {
    const id = OutboxId.safeParse(pathParam(ctx, 'id'));
    if (!id.success || !(await outbox.retry(ownerOf(ctx).accountId, id.data))) {
      throw notFound('not_found', 'No undelivered message of yours has this id.');
    }
    deps.notifier.nudge();
  }

  router.get('/console/telegram', async function showTelegram(ctx) {
    if (ctx.query.done !== 'link') return page(ctx);
    // The link just made, on this one view: a reload finds the slot empty and says so.
    const kept = once.take<{ url: string; expiresAt: string }>(ctx, PAGE);
    await page(
      ctx,
      kept && { url: kept.url, expiresAt: new Date(kept.expiresAt) },
      kept
        ? { kind: 'ok', text: 'Link made. Open it within 10 minutes.' }
        : { kind: 'ok', text: 'This link was shown once and is not shown again. If you did not open it, make another.' },
    );
  });

  router.post('/console/telegram/link', ...mutate, async function makeLinkFromPage(ctx) {
    // POST, redirect, GET: the link waits in a one-time slot, so a reload never makes another.
    const { url, expiresAt } = await makeLink(ctx);
    once.put(ctx, PAGE, { url, expiresAt: expiresAt.toISOString() });
    backTo(ctx, PAGE, 'link');
  });

  router.post('/console/telegram/unlink', ...mutate, async function unlinkFromPage(ctx) {
    await unlink(ctx);
    backTo(ctx, '/console/telegram', 'unlinked');
  });

  router.post('/console/telegram/notices', ...mutate, async function saveNoticesFromPage(ctx) {
    const form = NoticeForm.safeParse(ctx.state.body);
    if (!form.success) throw new AppError('invalid_request', 400, switchesProblem(form.error));
    await switchNotices(ctx, (kind) => form.data[kind] === 'on');
    backTo(ctx, '/console/telegram', 'notices');
  });

  router.post('/console/telegram/undelivered/:id/retry', ...mutate, async function sendAgainFromPage(ctx) {
    await sendAgain(ctx);
    backTo(ctx, '/console/telegram', 'resent');
  });

  router.get('/console/api/telegram', async function describeTelegram(ctx) {
    const { accountId } = ownerOf(ctx);
    const link = await links.ofAccount(accountId);
    ctx.body = {
      available: Boolean(botUsername),
      linked: link ? linkJson(link) : null,
      notices: await noticesOf(accountId),
      undelivered: link ? (await outbox.undelivered(accountId)).map(undeliveredJson) : [],
    };
  });

  router.put('/console/api/telegram/notices', ...mutate, async function saveNoticesFromApi(ctx) {
    const body = NoticeSwitches.safeParse(ctx.state.body);
    if (!body.success) throw new AppError('invalid_request', 400, switchesProblem(body.error));
    // A kind the body leaves out keeps its setting.
    ctx.body = { notices: await switchNotices(ctx, (kind, was) => body.data[kind] ?? was) };
  });

  router.post('/console/api/telegram/undelivered/:id/retry', ...mutate, async function sendAgainFromApi(ctx) {
    await sendAgain(ctx);
    ctx.body = { queued: true };
  });

  router.post('/console/api/telegram/link', ...mutate, async function makeLinkFromApi(ctx) {
    const { url, expiresAt } = await makeLink(ctx);
    ctx.body = { url, expires_at: expiresAt.toISOString() };
  });

  router.delete('/console/api/telegram/link', ...mutate, async function unlinkFromApi(ctx) {
    ctx.body = { unlinked: await unlink(ctx) };
  });
}
