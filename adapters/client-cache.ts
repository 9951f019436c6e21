import type { Database } from '../src/db/database.js';
import type { ClientRow } from './clients.js';

/** The channel migration 008's triggers announce every change of a client or of its secrets on. */
export const CLIENT_CHANNEL = 'oauth3_clients';
/** A bound on how long a row is kept even while no change is heard of it. */
const KEEP_MS = 60_000;
/** More than this many clients kept at once: start again rather than grow. */
const MAX_KEPT = 10_000;

/**
 * The client rows this process read, kept only while it listens on CLIENT_CHANNEL: every token request needs its
 * client, and clients change rarely. Whatever changes one — the portal, the CLI, dynamic registration, a deleted
 * account's cascade, on any replica — the database's triggers announce it (migration 008) and the row is dropped here
 * when the change commits. Rows hold every secret not revoked with its end, so a grace period ends at its time
 * without any change (adapters/clients.ts clientFromRow).
 *
 * Nothing stale is kept: when the connection that listens is lost, everything is dropped and nothing is kept until
 * it listens again; a lookup that began before a change (or before listening began) is not kept, even if its answer
 * comes after (`since`). Unknown ids are never kept, so no request can fill the memory.
 */
export class ClientCache {
  private readonly rows = new Map<string, { row: ClientRow; at: number }>();
  private isListening = false;
  /** Moves on every change heard and every change of listening state. */
  private generation = 0;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Starts listening on `db`; the subscription ends when the database closes. */
  follow(db: Database): this {
    db.listen(CLIENT_CHANNEL, {
      message: (clientId) => {
        this.generation++;
        this.rows.delete(clientId);
      },
      state: (listening) => {
        this.isListening = listening;
        this.generation++;
        this.rows.clear();
      },
    });
    return this;
  }

  /**
   * A change this process made to a client, heard at once: the database's announcement of it arrives on the listening
   * connection a moment after the commit, and until then this process must not serve the row it kept (a client its
   * owner just deactivated would still get tokens here). Other replicas hear of it from the database.
   */
  forget(clientId: string): void {
    this.generation++;
    this.rows.delete(clientId);
  }

  /** Whether changes are being heard, so rows are kept. */
  get listening(): boolean {
    return this.isListening;
  }

  get(clientId: string): ClientRow | undefined {
    if (!this.isListening) return undefined;
    const kept = this.rows.get(clientId);
    if (!kept) return undefined;
    if (this.now() - kept.at <= KEEP_MS) return kept.row;
    this.rows.delete(clientId);
    return undefined;
  }

  /** Call before a lookup; pass the result to keep() with what it found. */
  begin(): number {
    return this.generation;
  }

  keep(found: ClientRow[], since: number): void {
    if (!this.isListening || since !== this.generation) return;
    if (this.rows.size + found.length > MAX_KEPT) this.rows.clear();
    const at = this.now();
    for (const row of found) this.rows.set(row.client_id, { row, at });
  }
}
