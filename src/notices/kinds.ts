/**
 * What oauth3's bot tells an owner, each switchable in the console (/console/telegram). Every kind is on until the
 * owner turns it off; 'edit' (changing a message sent earlier, such as an approval once decided) is not a notice of
 * its own and always follows the message it changes.
 */
export const NOTICE_KINDS = {
  approvals: 'A post waits for your approval (with Approve and Reject buttons)',
  new_access: 'A new app or agent was given access',
  new_signin: 'Someone signed in to your account from a new browser',
  token_theft: 'A token was used twice and the access was revoked (possible theft)',
  connections: 'An account was connected, or needs linking again',
  daily_limit: 'An app reached its daily limit',
} as const;

export type NoticeKind = keyof typeof NOTICE_KINDS;

export const isNoticeKind = (kind: string): kind is NoticeKind => Object.hasOwn(NOTICE_KINDS, kind);

/** One inline-keyboard button: `data` comes back in the press (Telegram allows 1–64 bytes). */
export interface NoticeButton {
  text: string;
  data: string;
}

/** A message for one owner's linked chat. */
export interface Notice {
  kind: NoticeKind;
  /** Plain text, sent as it is (no markup), so an app's words arrive exactly as written. */
  text: string;
  buttons?: NoticeButton[][];
  /** An approval: the held action it shows. */
  heldId?: string;
  /** Sent at most once per key (the daily limit: once per app and day). */
  dedupeKey?: string;
}
