import { randomBytes } from 'node:crypto';
import type { EventLog } from '../accounts/events.js';
import type { Database, Queryable } from '../db/database.js';
import { coalesce } from '../db/coalesce.js';
import { copyJson } from '../db/json-copy.js';
import { Vault } from '../vault/vault.js';

/** An upstream account an owner connected, as the console shows it. The secret stays sealed. */
export interface Connection {
  id: string;
  accountId: string;
  provider: string;
  kind: string;
  label: string;
  status: 'active' | 'needs_relink';
  meta: Record<string, unknown>;
  expiresAt?: Date;
  lastError?: string;
  createdAt: Date;
  updatedAt: Date;
  lastUsedAt?: Date;
}

export interface NewConnection {
  provider: string;
  kind: string;
  label: string;
  secret: Record<string, unknown>;
  meta?: Record<string, unknown>;
  expiresAt?: Date;
}

/** A connections row as stored (the sealed secret included): only storage and the resource API's call snapshot see it. */
export interface ConnectionRow {
  id: string;
  account_id: string;
  provider: string;
  kind: string;
  label: string;
  status: 'active' | 'needs_relink';
  sealed: string;
  meta: Record<string, unknown>;
  expires_at: Date | null;
  last_error: string | null;
  created_at: Date;
  updated_at: Date;
  last_used_at: Date | null;
}

type Row = ConnectionRow;

function fromRow(r: Row): Connection {
  const connection: Connection = {
    id: r.id,
    accountId: r.account_id,
    provider: r.provider,
    kind: r.kind,
    label: r.label,
    status: r.status,
    meta: r.meta,
    createdAt: new Date(r.created_at),
    updatedAt: new Date(r.updated_at),
  };
  // Absent rather than undefined when unset, as the console's JSON shows them.
  if (r.expires_at) connection.expiresAt = new Date(r.expires_at);
  if (r.last_error) connection.lastError = r.last_error;
  if (r.last_used_at) connection.lastUsedAt = new Date(r.last_used_at);
  return connection;
}

const recordOf = (c: Pick<Connection, 'id' | 'accountId' | 'provider'>) => ({ id: c.id, accountId: c.accountId, provider: c.provider });

/**
 * Connected upstream accounts (connections table). Secrets go in and come out only through the vault; every read
 * that returns a Connection leaves the ciphertext behind.
 */
export class ConnectionStore {
  /** The sealed value read together with each Connection `find` returned, so opening it costs no second read. */
  private readonly sealedOf = new WeakMap<Connection, string>();
  /** Concurrent lookups (every resource API call makes one) share one round trip (src/db/coalesce.ts; not a cache). */
  private readonly lookup = coalesce((keys: { accountId: string; provider: string }[]) => this.findMany(keys));

  constructor(
    private readonly db: Database,
    readonly vault: Vault,
    /** Where a connection that needs linking again is recorded (the owner's access log and Telegram notice). */
    private readonly events?: EventLog,
  ) {}

  /** Saves a connection, replacing the owner's earlier one for the same provider (a new id, so a new seal). */
  async save(accountId: string, input: NewConnection): Promise<Connection> {
    const id = `con_${randomBytes(16).toString('base64url')}`;
    const sealed = this.vault.seal({ accountId, provider: input.provider, id }, input.secret);
    const { rows } = await this.db.query<Row>(
      `INSERT INTO connections (id, account_id, provider, kind, label, sealed, meta, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (account_id, provider) DO UPDATE SET id = EXCLUDED.id, kind = EXCLUDED.kind, label = EXCLUDED.label,
         status = 'active', sealed = EXCLUDED.sealed, meta = EXCLUDED.meta, expires_at = EXCLUDED.expires_at,
         last_error = NULL, created_at = now(), updated_at = now(), last_used_at = NULL
       RETURNING *`,
      [id, accountId, input.provider, input.kind, input.label, sealed, JSON.stringify(input.meta ?? {}), input.expiresAt ?? null],
    );
    return fromRow(rows[0]!);
  }

  async list(accountId: string): Promise<Connection[]> {
    const { rows } = await this.db.query<Row>('SELECT * FROM connections WHERE account_id = $1 ORDER BY provider', [accountId]);
    return rows.map(fromRow);
  }

  async find(accountId: string, provider: string): Promise<Connection | undefined> {
    const row = await this.lookup({ accountId, provider });
    return row && this.adopt(row);
  }

  /**
   * A Connection from a row read elsewhere in the same request (the resource API reads the owner's connections with
   * the token); its secret then opens from that same read. Each caller gets its own copy of the row's details.
   */
  adopt(row: ConnectionRow): Connection {
    const connection = fromRow({ ...row, meta: copyJson(row.meta) });
    this.sealedOf.set(connection, row.sealed);
    return connection;
  }

  private async findMany(keys: { accountId: string; provider: string }[]): Promise<(Row | undefined)[]> {
    const { rows } = await this.db.query<Row>(
      'SELECT c.* FROM connections c JOIN unnest($1::text[], $2::text[]) AS k (account_id, provider) USING (account_id, provider)',
      [keys.map((k) => k.accountId), keys.map((k) => k.provider)],
    );
    const byKey = new Map(rows.map((r) => [`${r.account_id}\u0000${r.provider}`, r]));
    return keys.map((k) => byKey.get(`${k.accountId}\u0000${k.provider}`));
  }

  /** This owner's connection by id, or undefined for an unknown id or another owner's (never told apart). */
  async findById(accountId: string, id: string): Promise<Connection | undefined> {
    const { rows } = await this.db.query<Row>('SELECT * FROM connections WHERE id = $1 AND account_id = $2', [id, accountId]);
    return rows[0] && fromRow(rows[0]);
  }

  /**
   * Opens the connection's secret: the one read with the Connection when `find` returned it (one row, one moment,
   * so `expiresAt` and the secret agree), else the row read again, in the caller's transaction when given.
   */
  async secret<T extends Record<string, unknown> = Record<string, unknown>>(connection: Connection, db: Queryable = this.db): Promise<T> {
    const sealed = db === this.db ? this.sealedOf.get(connection) : undefined;
    if (sealed) return this.vault.open<T>(recordOf(connection), sealed);
    const { rows } = await db.query<Pick<Row, 'sealed'>>('SELECT sealed FROM connections WHERE id = $1 AND account_id = $2', [
      connection.id,
      connection.accountId,
    ]);
    if (!rows[0]) throw new Error('connection no longer exists');
    return this.vault.open<T>(recordOf(connection), rows[0].sealed);
  }

  /**
   * Replaces the secret of an existing connection (an upstream refresh), in the caller's transaction when given,
   * so the new refresh token is committed before anything uses it (threat model G5).
   */
  async updateSecret(
    connection: Connection,
    secret: Record<string, unknown>,
    expiresAt: Date | undefined,
    db: Queryable = this.db,
  ): Promise<void> {
    await db.query(
      `UPDATE connections SET sealed = $3, expires_at = $4, status = 'active', last_error = NULL, updated_at = now()
       WHERE id = $1 AND account_id = $2`,
      [connection.id, connection.accountId, this.vault.seal(recordOf(connection), secret), expiresAt ?? null],
    );
  }

  /**
   * The upstream said the credential is gone (threat model G6): the owner must connect again. The secret is kept.
   * Only the change from active is recorded ('connection.needs_relink'), so calls that keep failing tell the owner
   * once. In a caller's transaction the event is written without waiting: it must not hold that transaction (and
   * the row it locked) open while it takes a second connection.
   */
  async markNeedsRelink(connection: Connection, reason: string, db: Queryable = this.db): Promise<void> {
    const { rows } = await db.query<Pick<Row, 'provider' | 'label'>>(
      `UPDATE connections SET status = 'needs_relink', last_error = $3, updated_at = now()
        WHERE id = $1 AND account_id = $2 AND status <> 'needs_relink' RETURNING provider, label`,
      [connection.id, connection.accountId, reason.slice(0, 200)],
    );
    const changed = rows[0];
    if (!changed || !this.events) return;
    const recorded = this.events.record({
      kind: 'connection.needs_relink',
      accountId: connection.accountId,
      detail: { provider: changed.provider, label: changed.label, connection_id: connection.id },
    });
    if (db === this.db) await recorded;
  }

  async touch(connection: Connection): Promise<void> {
    await this.db.query('UPDATE connections SET last_used_at = now() WHERE id = $1', [connection.id]);
  }

  async remove(accountId: string, id: string): Promise<boolean> {
    const { rowCount } = await this.db.query('DELETE FROM connections WHERE id = $1 AND account_id = $2', [id, accountId]);
    return rowCount > 0;
  }
}
