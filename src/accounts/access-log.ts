import type { Database } from '../db/database.js';
import { displayAddress } from '../http/client-address.js';
import { AppError } from '../errors.js';
import { actorChain, eventSummary, type ActorNames } from './event-kinds.js';

/** One line of an owner's access log, as the console API and exports show it. */
export interface LogEntry {
  id: number;
  at: string;
  kind: string;
  outcome: string;
  client_id: string | null;
  client_name: string | null;
  scope?: string;
  ip: string | null;
  detail: Record<string, unknown>;
  /** What the event means for the owner, in plain words, where its label is not enough (a possible theft). */
  summary?: string;
}

export interface LogFilter {
  clientId?: string;
  kind?: string;
}

export interface LogPage {
  events: LogEntry[];
  /** Pass as `before` to read the next (older) page; null on the last page. */
  next_before: number | null;
}

export interface DayCount {
  day: string;
  client_id: string;
  client_name: string | null;
  count: number;
}

export interface Chart {
  /** 'api.call' once the resource server logs calls; until then every event that names an app. */
  counting: 'api.call' | 'app events';
  from: string;
  to: string;
  counts: DayCount[];
}

interface EventRow {
  id: number | string;
  created_at: Date | string;
  kind: string;
  outcome: string;
  client_id: string | null;
  client_name: string | null;
  detail: Record<string, unknown> | null;
  ip: string | null;
  grant_id?: string | null;
}

/** The scope an event was about: API calls carry `scope`, consents the list of `scopes`. */
function scopeOf(detail: Record<string, unknown>): string | undefined {
  if (typeof detail.scope === 'string') return detail.scope;
  if (Array.isArray(detail.scopes)) return detail.scopes.filter((s) => typeof s === 'string').join(' ');
  return undefined;
}

const EXPORT_BATCH = 500;

/**
 * Reads the events table for one owner. Every query is bound to `account_id`, so nothing here can return another
 * owner's events whatever ids or filters the caller passes.
 */
export class AccessLog {
  /** `knownApps`: names of clients that live in configuration rather than in the clients table (the console). */
  constructor(
    private readonly db: Database,
    private readonly knownApps: Record<string, string> = {},
  ) {}

  private toEntry = (r: EventRow, actors: ActorNames = {}): LogEntry => {
    const detail = r.detail ?? {};
    const scope = scopeOf(detail);
    const entry: LogEntry = {
      id: Number(r.id),
      at: new Date(r.created_at).toISOString(),
      kind: r.kind,
      outcome: r.outcome,
      client_id: r.client_id,
      client_name: r.client_name ?? (r.client_id ? (this.knownApps[r.client_id] ?? null) : null),
      ...(scope ? { scope } : {}),
      ip: displayAddress(r.ip),
      detail,
    };
    const summary = eventSummary(entry, actors);
    return summary ? { ...entry, summary } : entry;
  };

  /** Newest first, `limit` at a time; `before` is the id of the last event already shown (keyset pagination). */
  async page(accountId: string, filter: LogFilter, limit: number, before?: number): Promise<LogPage> {
    if (before !== undefined) {
      // A cursor is an event id: one that is not this owner's is treated like any unknown id.
      const { rows } = await this.db.query('SELECT 1 FROM events WHERE id = $1 AND account_id = $2', [before, accountId]);
      if (!rows.length) throw new AppError('not_found', 404, 'No such event in your log.');
    }
    const { rows } = await this.db.query<EventRow>(
      `SELECT e.id, e.created_at, e.kind, e.outcome, e.client_id, c.metadata->>'client_name' AS client_name, e.detail, e.ip, e.grant_id
       FROM events e LEFT JOIN clients c ON c.client_id = e.client_id
       WHERE e.account_id = $1
         AND ($2::text IS NULL OR e.client_id = $2)
         AND ($3::text IS NULL OR e.kind = $3)
         AND ($4::bigint IS NULL OR (e.created_at, e.id) < (SELECT created_at, id FROM events WHERE id = $4 AND account_id = $1))
       ORDER BY e.created_at DESC, e.id DESC
       LIMIT $5`,
      [accountId, filter.clientId ?? null, filter.kind ?? null, before ?? null, limit + 1],
    );
    const shown = rows.slice(0, limit);
    const actors = await this.actorsOf(accountId, shown);
    const events = shown.map((r) => this.toEntry(r, actors.get(r) ?? {}));
    return { events, next_before: rows.length > limit ? events[events.length - 1]!.id : null };
  }

  /**
   * Security warnings since `since`, newest first: a spent token presented again (possible theft), a passkey whose
   * counter went backwards, a refused account deletion. The console's overview lists them as needing attention.
   */
  async securityWarnings(accountId: string, since: Date, limit = 5): Promise<LogEntry[]> {
    const { rows } = await this.db.query<EventRow>(
      `SELECT e.id, e.created_at, e.kind, e.outcome, e.client_id, c.metadata->>'client_name' AS client_name, e.detail, e.ip
       FROM events e LEFT JOIN clients c ON c.client_id = e.client_id
       WHERE e.account_id = $1 AND e.outcome = 'security' AND e.created_at >= $2
       ORDER BY e.created_at DESC, e.id DESC
       LIMIT $3`,
      [accountId, since, limit],
    );
    return rows.map((r) => this.toEntry(r));
  }

  /** The newest successful sign-in, or the sign-up when there was none since (its detail names the browser). */
  async lastSignIn(accountId: string): Promise<LogEntry | undefined> {
    const { rows } = await this.db.query<EventRow>(
      `SELECT e.id, e.created_at, e.kind, e.outcome, e.client_id, NULL AS client_name, e.detail, e.ip
       FROM events e
       WHERE e.account_id = $1 AND e.kind IN ('signin', 'account.created') AND e.outcome = 'ok'
       ORDER BY e.created_at DESC, e.id DESC
       LIMIT 1`,
      [accountId],
    );
    return rows[0] && this.toEntry(rows[0]);
  }

  /**
   * For calls made with an exchanged token (detail.act): the names of the clients in the actor chain, and the app at
   * the root of the token's tree, in two queries for the whole page.
   */
  private async actorsOf(accountId: string, rows: EventRow[]): Promise<Map<EventRow, ActorNames>> {
    const acting = rows.filter((r) => r.kind === 'api.call' && actorChain(r.detail ?? {}).length);
    if (!acting.length) return new Map();
    const grants = [...new Set(acting.map((r) => r.grant_id).filter((g): g is string => Boolean(g)))];
    const roots = await this.db.query<{ grant_id: string; root_client_id: string | null }>(
      `SELECT d.grant_id, CASE WHEN d.depth = 1 THEN d.parent_client_id
                               ELSE (SELECT r.parent_client_id FROM grant_delegations r WHERE r.grant_id = d.ancestors[2]) END AS root_client_id
       FROM grant_delegations d WHERE d.account_id = $1 AND d.grant_id = ANY ($2::text[])`,
      [accountId, grants],
    );
    const rootOf = new Map(roots.rows.map((r) => [r.grant_id, r.root_client_id]));
    const ids = new Set(acting.flatMap((r) => actorChain(r.detail ?? {})));
    for (const id of rootOf.values()) if (id) ids.add(id);
    const named = await this.db.query<{ client_id: string; client_name: string | null }>(
      `SELECT client_id, metadata->>'client_name' AS client_name FROM clients WHERE client_id = ANY ($1::text[])`,
      [[...ids]],
    );
    const names: Record<string, string> = { ...this.knownApps };
    for (const r of named.rows) if (r.client_name) names[r.client_id] = r.client_name;
    return new Map(
      acting.map((r) => {
        const root = r.grant_id ? rootOf.get(r.grant_id) : undefined;
        return [r, { names, ...(root ? { rootClientId: root } : {}) }];
      }),
    );
  }

  /** Every matching event, newest first, read in batches so an export never holds the whole log at once. */
  async *all(accountId: string, filter: LogFilter): AsyncGenerator<LogEntry> {
    let before: number | undefined;
    do {
      const page = await this.page(accountId, filter, EXPORT_BATCH, before);
      yield* page.events;
      before = page.next_before ?? undefined;
    } while (before !== undefined);
  }

  /** What the filters can choose from: the apps and kinds that appear in this owner's log. */
  async facets(accountId: string): Promise<{ apps: Array<{ client_id: string; client_name: string | null }>; kinds: string[] }> {
    const apps = await this.db.query<{ client_id: string; client_name: string | null }>(
      `SELECT DISTINCT e.client_id, c.metadata->>'client_name' AS client_name
       FROM events e LEFT JOIN clients c ON c.client_id = e.client_id
       WHERE e.account_id = $1 AND e.client_id IS NOT NULL ORDER BY e.client_id`,
      [accountId],
    );
    const kinds = await this.db.query<{ kind: string }>('SELECT DISTINCT kind FROM events WHERE account_id = $1 ORDER BY kind', [
      accountId,
    ]);
    return {
      apps: apps.rows.map((r) => ({ client_id: r.client_id, client_name: r.client_name ?? this.knownApps[r.client_id] ?? null })),
      kinds: kinds.rows.map((r) => r.kind),
    };
  }

  /** Events per UTC day per app over the last `days` days (today included). */
  async chart(accountId: string, days: number): Promise<Chart> {
    const range = await this.db.query<{ from: string; to: string }>(
      `SELECT to_char((now() AT TIME ZONE 'UTC')::date - ($1::int - 1), 'YYYY-MM-DD') AS "from",
              to_char((now() AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS "to"`,
      [days],
    );
    const { from, to } = range.rows[0]!;
    const calls = await this.countPerDay(accountId, from, 'api.call');
    if (calls.length) return { counting: 'api.call', from, to, counts: calls };
    return { counting: 'app events', from, to, counts: await this.countPerDay(accountId, from) };
  }

  private async countPerDay(accountId: string, from: string, kind?: string): Promise<DayCount[]> {
    const { rows } = await this.db.query<{ day: string; client_id: string; client_name: string | null; count: number | string }>(
      `SELECT to_char(e.day, 'YYYY-MM-DD') AS day, e.client_id, c.metadata->>'client_name' AS client_name, count(*) AS count
       FROM (SELECT client_id, (created_at AT TIME ZONE 'UTC')::date AS day FROM events
             WHERE account_id = $1 AND client_id IS NOT NULL AND ($3::text IS NULL OR kind = $3)
               AND created_at >= $2::date::timestamp AT TIME ZONE 'UTC') e
       LEFT JOIN clients c ON c.client_id = e.client_id
       GROUP BY e.day, e.client_id, c.metadata->>'client_name'
       ORDER BY e.day, e.client_id`,
      [accountId, from, kind ?? null],
    );
    return rows.map((r) => ({
      day: r.day,
      client_id: r.client_id,
      client_name: r.client_name ?? this.knownApps[r.client_id] ?? null,
      count: Number(r.count),
    }));
  }
}
