import type { AuditEvent } from '../accounts/events.js';
import type { Database } from '../db/database.js';
import { HeldActions, type HeldAction } from '../policies/held.js';
import { appNames } from '../grants/app-names.js';
import type { Notice, NoticeButton } from './kinds.js';

/**
 * What an approval button sends back: `held:approve:<held id>` or `held:reject:<held id>`. Telegram allows 1–64
 * bytes of callback data; a held id is `held_` and 16 characters (src/policies/held.ts), and this pattern allows
 * no more than fits.
 */
export const APPROVAL_CALLBACK = /^held:(approve|reject):(held_[A-Za-z0-9_-]{1,40})$/;

export const APPROVE_BUTTON = '✅ Approve';
export const REJECT_BUTTON = '❌ Reject';

/** The one row of buttons under an approval message. */
export function approvalButtons(heldId: string): NoticeButton[][] {
  return [
    [
      { text: APPROVE_BUTTON, data: `held:approve:${heldId}` },
      { text: REJECT_BUTTON, data: `held:reject:${heldId}` },
    ],
  ];
}

/** What the built-in actions do, in the owner's words; another plugin's action is named by its id. */
const DOING: Record<string, string> = {
  'tweet.post': 'post on X',
  'telegram.send': 'send a Telegram message',
};

const providerName = (provider: string) => (provider === 'x' ? 'X' : provider.charAt(0).toUpperCase() + provider.slice(1));

/** "about 3 hours", "about 20 minutes": how long until `expiresAt`. */
export function waitsFor(expiresAt: Date, now: Date): string {
  const minutes = Math.max(1, Math.round((expiresAt.getTime() - now.getTime()) / 60_000));
  if (minutes < 90) return `about ${minutes} minute${minutes === 1 ? '' : 's'}`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `about ${hours} hours`;
  return `about ${Math.round(hours / 24)} days`;
}

export interface ApprovalText {
  /** The name the owner knows the app by. */
  app: string;
  /** The action's id (`tweet.post`). */
  action: string;
  /** The upstream the action uses (`x`), when known. */
  provider?: string;
  /** The owner's connection to it as the console labels it (`@alice`), or undefined when none is connected now. */
  account?: { label: string; needsRelink: boolean };
  /** The post itself, exactly as it would go out. */
  text: string;
  /** When the held action stops waiting, if it does. */
  expiresAt?: Date;
  now?: Date;
}

/** The approval message: who asks, to do what, on which account; then the post word for word; then how long it waits. */
export function approvalText(input: ApprovalText): string {
  const doing = DOING[input.action] ?? `do "${input.action}"`;
  const provider = input.provider ? `${providerName(input.provider)} ` : '';
  const where = input.account
    ? ` using your ${provider}account ${input.account.label}${input.account.needsRelink ? ' (it must be connected again in your oauth3 console before this can be sent)' : ''}`
    : input.provider
      ? ` with your ${provider}account, but none is connected now: connect one in your oauth3 console first, or it cannot be sent`
      : '';
  const waits = input.expiresAt
    ? `It waits ${waitsFor(input.expiresAt, input.now ?? new Date())} for your answer; after that it is not sent.`
    : 'It waits until you decide, here or in your oauth3 console. Nothing is sent unless you approve.';
  return [`⏸ ${input.app} wants to ${doing}${where}.`, '', 'The post, exactly as it would go out:', '', input.text, '', waits].join('\n');
}

/** The owner's connection to `provider` as the console lists it: its label and status, never the sealed credential. */
async function connectionOf(db: Database, accountId: string, provider: string): Promise<ApprovalText['account']> {
  const { rows } = await db.query<{ label: string; status: string }>(
    'SELECT label, status FROM connections WHERE account_id = $1 AND provider = $2',
    [accountId, provider],
  );
  return rows[0] && { label: rows[0].label, needsRelink: rows[0].status === 'needs_relink' };
}

/**
 * `action.held` (detail: held_id, action, provider) → the approval message, with Approve and Reject buttons. The
 * held action is read again (the event names it only), so the text is the stored one the owner's decision will send;
 * one that is no longer pending (the owner already decided in the console) is not announced.
 */
export async function approvalNotice(event: AuditEvent & { accountId: string }, deps: { db: Database }): Promise<Notice | undefined> {
  const heldId = event.detail?.held_id;
  if (typeof heldId !== 'string' || !APPROVAL_CALLBACK.test(`held:approve:${heldId}`)) return undefined;
  const held: HeldAction | undefined = await new HeldActions(deps.db).find(event.accountId, heldId);
  if (!held || held.status !== 'pending') return undefined;
  const provider = typeof event.detail?.provider === 'string' ? event.detail.provider : undefined;
  const [names, account] = await Promise.all([
    appNames(deps.db, held.accountId, [held]),
    provider ? connectionOf(deps.db, held.accountId, provider) : Promise.resolve(undefined),
  ]);
  return {
    kind: 'approvals',
    // Held actions do not expire today: the text says it waits until the owner decides.
    text: approvalText({
      app: names.get(held.grantId) ?? held.clientId,
      action: held.action,
      ...(provider ? { provider } : {}),
      ...(account ? { account } : {}),
      text: held.summary,
    }),
    buttons: approvalButtons(held.id),
    heldId: held.id,
    dedupeKey: `approval:${held.id}`,
  };
}
