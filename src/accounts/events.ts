import type { Database } from '../db/database.js';
import type { Logger } from '../logger.js';
import { coalesce } from '../db/coalesce.js';
import { refusedData } from '../db/errors.js';

/** The audit trail every owner will read in the console's access log; security events land here too. */
export interface AuditEvent {
  kind: string;
  outcome?: 'ok' | 'failure' | 'security';
  accountId?: string | null;
  clientId?: string | null;
  /** The oidc-provider Grant the event is about (consent, tokens, revocation), so an app's history can be found. */
  grantId?: string | null;
  ip?: string | null;
  detail?: Record<string, unknown>;
}

/** Told of every event after it is written (notices); a listener's failure is logged, never the caller's. */
export type EventListener = (event: AuditEvent) => Promise<void> | void;

/** One row of `events`, as jsonb_to_recordset reads it from a batch. */
interface EventRow {
  account_id: string | null;
  client_id: string | null;
  kind: string;
  outcome: string;
  detail: Record<string, unknown>;
  ip: string | null;
  grant_id: string | null;
}

export class EventLog {
  private readonly listeners: EventListener[] = [];
  // Events recorded at the same moment (every token a busy endpoint issues) share one INSERT (src/db/coalesce.ts);
  // each caller's promise settles once its row is committed, and a row the database refuses fails only its own call.
  private readonly write = coalesce((rows: EventRow[]) => this.insertMany(rows), { isolate: refusedData });

  /**
   * The audit line names four fields, none of which the redaction paths cover (src/logger.ts), so it is written by a
   * child logger that skips redaction: on a refresh, redaction cost as much as the rest of the line.
   */
  private readonly lines: Logger;

  constructor(
    private readonly db: Database,
    private readonly logger: Logger,
  ) {
    this.lines = logger.child({}, { redact: [] });
  }

  subscribe(listener: EventListener): void {
    this.listeners.push(listener);
  }

  /** Never throws: failing to write an audit row must not turn a completed action into an error. */
  async record(event: AuditEvent): Promise<void> {
    const outcome = event.outcome ?? 'ok';
    const line = { event: event.kind, outcome, accountId: event.accountId, clientId: event.clientId };
    if (outcome === 'security') this.lines.warn(line, 'audit event');
    else this.lines.info(line, 'audit event');
    try {
      await this.write({
        account_id: event.accountId ?? null,
        client_id: event.clientId ?? null,
        kind: event.kind,
        outcome,
        detail: event.detail ?? {},
        ip: event.ip ?? null,
        grant_id: event.grantId ?? null,
      });
    } catch (err) {
      this.logger.error({ err, event: event.kind }, 'could not write audit event');
    }
    for (const listener of this.listeners) {
      try {
        await listener(event);
      } catch (err) {
        this.logger.error(
          { err: { message: err instanceof Error ? err.message : String(err) }, event: event.kind },
          'an event listener failed',
        );
      }
    }
  }

  private async insertMany(rows: EventRow[]): Promise<void[]> {
    await this.db.query(
      `INSERT INTO events (account_id, client_id, kind, outcome, detail, ip, grant_id)
       SELECT r.account_id, r.client_id, r.kind, r.outcome, r.detail, r.ip, r.grant_id
       FROM jsonb_to_recordset($1::jsonb)
         AS r(account_id text, client_id text, kind text, outcome text, detail jsonb, ip text, grant_id text)`,
      [JSON.stringify(rows)],
    );
    return rows.map(() => undefined);
  }
}
