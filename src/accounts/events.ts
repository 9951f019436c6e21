import type { Database } from '../db/database.js';
import type { Logger } from '../logger.js';

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

export class EventLog {
  private readonly listeners: EventListener[] = [];

  constructor(
    private readonly db: Database,
    private readonly logger: Logger,
  ) {}

  subscribe(listener: EventListener): void {
    this.listeners.push(listener);
  }

  /** Never throws: failing to write an audit row must not turn a completed action into an error. */
  async record(event: AuditEvent): Promise<void> {
    const outcome = event.outcome ?? 'ok';
    const log = outcome === 'security' ? this.logger.warn.bind(this.logger) : this.logger.info.bind(this.logger);
    log({ event: event.kind, outcome, accountId: event.accountId, clientId: event.clientId }, 'audit event');
    try {
      await this.db.query(
        'INSERT INTO events (account_id, client_id, kind, outcome, detail, ip, grant_id) VALUES ($1, $2, $3, $4, $5, $6, $7)',
        [
          event.accountId ?? null,
          event.clientId ?? null,
          event.kind,
          outcome,
          JSON.stringify(event.detail ?? {}),
          event.ip ?? null,
          event.grantId ?? null,
        ],
      );
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
}
