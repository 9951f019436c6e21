import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { EventLog } from '../accounts/events.js';
import type { Notifier } from '../notices/notifier.js';
import type { HeldAction } from '../policies/held.js';
import { runApproved } from './run-approved.js';
import type { ResourceServices } from './services.js';

export interface HeldDecisionDeps {
  resource: ResourceServices;
  events: EventLog;
  logger: Logger;
  /** Whether the app's grant still exists (an app revoked meanwhile gets nothing sent on its behalf). */
  grantExists(grantId: string): Promise<boolean>;
  /** Updates the approval message in Telegram, wherever the decision was made. */
  notifier: Notifier;
}

/** Where the owner decided: the console (with the browser's address) or the chat with oauth3's bot. */
export type DecidedVia = { via: 'console'; ip: string } | { via: 'telegram' };

export interface Decided {
  held: HeldAction;
  /** Approved, but sending failed: the decision stands, the row says "failed" with the error code. */
  failure?: AppError;
}

/** The line an approval message in Telegram gets once its action is decided. */
export function outcomeLine({ held, failure }: Decided): string {
  if (held.status === 'rejected') return '❌ Rejected. It will not be sent.';
  if (held.status === 'expired') return '⏹ Not sent: the app no longer has access.';
  if (failure) return `⚠️ Approved, but sending failed (${failure.code}). The app may try again.`;
  return '✅ Approved and sent.';
}

/**
 * Approves or rejects a held action, once, from the console or the Telegram chat alike: the store hands the pending
 * row to one decision only, so a double press, a press after the console decided, or two replicas never send it
 * twice. Approving runs it with the owner's connection; a failure to send is returned, not thrown. Throws
 * `already_decided` (409) for an action decided before, `app_revoked` (409) when the app lost its access meanwhile.
 */
export async function decideHeld(
  deps: HeldDecisionDeps,
  held: HeldAction,
  decision: 'approved' | 'rejected',
  who: DecidedVia,
): Promise<Decided> {
  const { held: store } = deps.resource;
  const audit = (kind: string, outcome: 'ok' | 'failure', detail: Record<string, unknown> = {}) =>
    deps.events.record({
      kind,
      outcome,
      accountId: held.accountId,
      clientId: held.clientId,
      grantId: held.grantId,
      ip: who.via === 'console' ? who.ip : null,
      detail: { held_id: held.id, action: held.action, via: who.via, ...detail },
    });
  const settled = async (decided: Decided): Promise<Decided> => {
    await deps.notifier.settleApproval(held.id, outcomeLine(decided));
    return decided;
  };

  if (decision === 'approved' && !(await deps.grantExists(held.grantId))) {
    const expired = await store.decide(held.accountId, held.id, 'expired');
    if (expired) await settled({ held: expired });
    throw new AppError('app_revoked', 409, 'The app that asked for this no longer has access, so it was not sent.');
  }
  const decided = await store.decide(held.accountId, held.id, decision);
  if (!decided) throw new AppError('already_decided', 409, 'This was already approved or rejected.');
  if (decision === 'rejected') {
    await audit('action.rejected', 'ok');
    return settled({ held: decided });
  }
  try {
    const result = await runApproved(deps.resource, decided, deps.logger);
    await store.settle(decided.id, 'approved', result);
    await audit('action.approved', 'ok');
    return await settled({ held: { ...decided, result } });
  } catch (caught) {
    // Plugins translate their upstream's errors; anything else is logged by name only, since a foreign error's
    // message may quote an upstream URL holding a credential (threat model G2).
    if (!(caught instanceof AppError))
      deps.logger.error({ action: decided.action, error: caught instanceof Error ? caught.name : typeof caught }, 'approved action failed');
    const failure = caught instanceof AppError ? caught : new AppError('server_error', 500, 'Sending failed on our side.');
    await store.settle(decided.id, 'failed', { error: failure.code });
    await audit('action.approved', 'failure', { error: failure.code });
    return settled({ held: { ...decided, status: 'failed', result: { error: failure.code } }, failure });
  }
}
