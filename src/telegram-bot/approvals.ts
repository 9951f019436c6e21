import { Composer, type Context } from 'grammy';
import { z } from 'zod';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import { APPROVAL_CALLBACK } from '../notices/approval-notice.js';
import { linkedOwner, type LinkedOwnerDeps } from './linked-owner.js';
import { decideHeld, type Decided, type HeldDecisionDeps } from '../plugins/decide-held.js';

export const REFUSED_TEXT = 'Only the oauth3 owner who linked this chat can approve or reject this post.';
export const ALREADY_DECIDED_TEXT = 'Already decided.';
export const APP_REVOKED_TEXT = 'The app no longer has access, so it was not sent.';
export const FAILED_TEXT = 'Something went wrong. Try again, or decide in your oauth3 console.';

/** Telegram shows at most 200 characters of a callback answer. */
const ANSWER_MAX = 200;

/** A press on an approval button: what was pressed, parsed from the callback data (anything else is not ours). */
const Press = z
  .string()
  .regex(APPROVAL_CALLBACK)
  .transform((data) => {
    const [, verb, heldId] = APPROVAL_CALLBACK.exec(data)!;
    return { decision: verb === 'approve' ? ('approved' as const) : ('rejected' as const), heldId: heldId! };
  });

export interface ApprovalHandlerDeps extends LinkedOwnerDeps {
  /** What deciding needs: the same as the console's Approvals page, so both decide through decideHeld. */
  decisions: HeldDecisionDeps;
  logger: Logger;
}

/** What the owner is told in the small pop-up after a decision went through. */
export function answerFor({ held, failure }: Decided): string {
  if (held.status === 'rejected') return 'Rejected.';
  if (failure) return `Approved, but sending failed: ${failure.description}`.slice(0, ANSWER_MAX);
  return 'Approved and sent.';
}

/**
 * The Approve and Reject buttons of approval messages (src/notices/approval-notice.ts). A press counts only for the
 * linked owner (linked-owner.ts) and a held action of that owner; anything else
 * is refused and changes nothing. The decision is decideHeld's, the one transition the console uses too, so a double
 * press, a press after the console decided, or two replicas send the post at most once. The message itself is edited
 * through the outbox (Notifier.settleApproval); here only the press is answered.
 */
export function approvalHandlers(deps: ApprovalHandlerDeps): Composer<Context> {
  const composer = new Composer<Context>();
  composer.on('callback_query:data', async (ctx, next) => {
    const { decisions, logger } = deps;
    const press = Press.safeParse(ctx.callbackQuery.data);
    if (!press.success) return next();
    const answer = (text: string, alert = false) =>
      ctx.answerCallbackQuery({ text, ...(alert ? { show_alert: true } : {}) }).catch((error: unknown) => {
        logger.warn({ error: error instanceof Error ? error.name : typeof error }, 'telegram bot: answering a button press failed');
      });
    try {
      const link = await linkedOwner(ctx, deps);
      const held = link ? await decisions.resource.held.find(link.accountId, press.data.heldId) : undefined;
      if (!held) return void (await answer(REFUSED_TEXT, true));
      if (held.status !== 'pending') return void (await answer(ALREADY_DECIDED_TEXT));
      const decided = await decideHeld(decisions, held, press.data.decision, { via: 'telegram' });
      await answer(answerFor(decided));
    } catch (error) {
      if (error instanceof AppError && error.code === 'already_decided') return void (await answer(ALREADY_DECIDED_TEXT));
      if (error instanceof AppError && error.code === 'app_revoked') return void (await answer(APP_REVOKED_TEXT, true));
      logger.error({ error: error instanceof Error ? error.name : typeof error }, 'telegram bot: deciding a held post failed');
      await answer(FAILED_TEXT, true);
    }
  });
  return composer;
}
