import type { AuditEvent, EventLog } from '../accounts/events.js';
import type { Database } from '../db/database.js';
import { appNames } from '../grants/app-names.js';
import type { Notice } from './kinds.js';
import { approvalNotice } from './approval-notice.js';
import type { Notifier } from './notifier.js';

export interface EventNoticeDeps {
  db: Database;
  /** The server's public address, for links back to the console. */
  issuer: string;
}

/** The name the owner knows an app by (the event's grant and client), or its client id. */
export async function appNameOf(db: Database, event: AuditEvent): Promise<string> {
  if (!event.accountId || !event.clientId) return event.clientId ?? 'An app';
  if (!event.grantId) return event.clientId;
  const names = await appNames(db, event.accountId, [{ grantId: event.grantId, clientId: event.clientId }]);
  return names.get(event.grantId) ?? event.clientId;
}

type NoticeFor = (event: AuditEvent & { accountId: string }, deps: EventNoticeDeps) => Promise<Notice | undefined>;

const text = (value: unknown) => (typeof value === 'string' ? value : '');

/**
 * Which access-log events the owner is also told of in Telegram, and in what words. The events are written where they
 * happen (consent, the token endpoint, the upstream callback, …); this only reads them, so a notice never changes
 * what the request that caused it does.
 */
export const EVENT_NOTICES: Record<string, NoticeFor> = {
  'token.reused': async (event, deps) => ({
    kind: 'token_theft',
    text:
      `⚠️ ${await appNameOf(deps.db, event)} presented a token that had already been used. Someone else may hold a copy, ` +
      `so oauth3 revoked that app's access. If the app needs access again, connect it again; see ${deps.issuer}/console/apps`,
  }),
  'connection.added': async (event) => {
    const provider = text(event.detail?.provider);
    const label = text(event.detail?.label);
    return { kind: 'connections', text: `✓ Connected ${provider || 'an account'}${label ? ` as ${label}` : ''}` };
  },
  'action.held': approvalNotice,
};

/** Sends the notices of EVENT_NOTICES as their events are recorded. */
export function followEvents(events: EventLog, notifier: Notifier, deps: EventNoticeDeps): void {
  events.subscribe(async (event) => {
    const noticeFor =
      EVENT_NOTICES[
        event.outcome && event.outcome !== 'ok' && event.outcome !== 'security' ? `${event.kind}:${event.outcome}` : event.kind
      ];
    if (!noticeFor || !event.accountId) return;
    const notice = await noticeFor({ ...event, accountId: event.accountId }, deps);
    if (notice) await notifier.send(event.accountId, notice);
  });
}
