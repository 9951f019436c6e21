import type { AuditEvent, EventLog } from '../accounts/events.js';
import type { Database } from '../db/database.js';
import { appNames } from '../grants/app-names.js';
import { AGENT_CLIENT_ID } from '../provider/first-party.js';
import type { ScopeCatalog } from '../../scopes/catalog.js';
import type { Notice } from './kinds.js';
import { approvalNotice } from './approval-notice.js';
import type { Notifier } from './notifier.js';

export interface EventNoticeDeps {
  db: Database;
  /** The server's public address, for links back to the console. */
  issuer: string;
  /** The scopes' titles, so permissions are told in words; scope names without it. */
  scopes?: ScopeCatalog;
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

/** The registered name of a client, for an event that names no grant (consent), or its id. */
async function clientNameOf(db: Database, clientId: string): Promise<string> {
  const { rows } = await db.query<{ name: string | null }>("SELECT metadata->>'client_name' AS name FROM clients WHERE client_id = $1", [
    clientId,
  ]);
  return rows[0]?.name || clientId;
}

/** The permissions of an event's `detail.scopes`, in the consent screen's words. */
function permissionsOf(detail: Record<string, unknown> | undefined, scopes: ScopeCatalog | undefined): string {
  const names = Array.isArray(detail?.scopes) ? detail.scopes.filter((s): s is string => typeof s === 'string') : [];
  if (!names.length) return 'no permissions';
  return names.map((name) => scopes?.get(name)?.title ?? name).join('; ');
}

/** A moment as owners read it anywhere: "6 Dec 2026, 14:05 UTC". */
const when = (date: Date) =>
  `${new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' }).format(date)} UTC`;

const revokeAt = (deps: EventNoticeDeps) => `If this wasn't you, or you no longer want it, revoke it at ${deps.issuer}/console/apps`;

/**
 * Which access-log events the owner is also told of in Telegram, and in what words. The events are written where they
 * happen (consent, the token endpoint, the upstream callback, …); this only reads them, so a notice never changes
 * what the request that caused it does.
 */
export const EVENT_NOTICES: Record<string, NoticeFor> = {
  'consent.granted': async (event, deps) => ({
    kind: 'new_access',
    text:
      `🔑 You gave ${event.clientId ? await clientNameOf(deps.db, event.clientId) : 'an app'} access to your account: ` +
      `${permissionsOf(event.detail, deps.scopes)}.\n${revokeAt(deps)}`,
  }),
  // Only the agent tokens an owner makes in the console (Agent tokens, MCP); the token endpoint writes token.minted
  // for every code an app redeems, which its consent already announced.
  'token.minted': async (event, deps) => {
    if (event.clientId !== AGENT_CLIENT_ID || event.detail?.grant_type !== 'agent_token') return undefined;
    const expires = new Date(text(event.detail.expires_at));
    return {
      kind: 'new_access',
      text:
        `🔑 An agent token "${text(event.detail.name)}" was made for your account: ${permissionsOf(event.detail, deps.scopes)}.` +
        `${Number.isNaN(expires.getTime()) ? '' : ` It works until ${when(expires)}.`}\n${revokeAt(deps)}`,
    };
  },
  'agent.registered': async (event, deps) => ({
    kind: 'new_access',
    text:
      `🔑 An agent service "${text(event.detail?.name)}" was registered for your account: ${permissionsOf(event.detail, deps.scopes)}.` +
      `\n${revokeAt(deps)}`,
  }),
  signin: async (event, deps) => {
    if (event.detail?.new_browser !== true) return undefined;
    const browser = text(event.detail.browser);
    return {
      kind: 'new_signin',
      text:
        `New sign-in to your oauth3 account from ${!browser || browser === 'Unknown device' ? 'an unknown browser' : browser}, ` +
        `${when(new Date())}. If this wasn't you, sign out other browsers at ${deps.issuer}/console/sessions and check your passkeys.`,
    };
  },
  'connection.needs_relink': async (event, deps) => {
    const provider = text(event.detail?.provider) || 'upstream';
    const label = text(event.detail?.label);
    return {
      kind: 'connections',
      text:
        `Your ${provider} account${label ? ` ${label}` : ''} needs linking again: ${provider} no longer accepts the stored ` +
        `credential. Apps cannot use it until you reconnect at ${deps.issuer}/console/connections`,
    };
  },
  'limit.daily_reached': async (event, deps) => {
    const limit = typeof event.detail?.limit === 'number' ? event.detail.limit : undefined;
    const day = text(event.detail?.day) || new Date().toISOString().slice(0, 10);
    return {
      kind: 'daily_limit',
      text:
        `${await appNameOf(deps.db, event)} reached its daily limit${limit === undefined ? '' : ` of ${limit} post(s)`}: ` +
        `oauth3 refuses its posts until midnight UTC. You can change the limit at ${deps.issuer}/console/apps`,
      // Once per app and day, however many events: the outbox ignores a key it has seen.
      ...(event.grantId ? { dedupeKey: `daily:${event.grantId}:${day}` } : {}),
    };
  },
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
