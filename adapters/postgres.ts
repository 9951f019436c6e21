import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type { Database } from '../src/db/database.js';
import { clientFromRow, type ClientRow } from './clients.js';

/**
 * oidc-provider's storage contract on Postgres (pg or PGlite, same SQL). Each instance serves one model; rows are
 * keyed by (model, id), and the columns beside the JSON payload are the ones lookups use.
 */
export class PostgresAdapter implements Adapter {
  constructor(
    private readonly model: string,
    private readonly db: Database,
  ) {}

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    if (this.model === 'Client') throw new Error('clients are managed by the clients store, not through the adapter');
    await this.db.query(
      `INSERT INTO oidc_models (model, id, payload, grant_id, user_code, uid, expires_at, consumed_at)
       VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $7::int IS NULL THEN NULL ELSE now() + make_interval(secs => $7::int) END, NULL)
       ON CONFLICT (model, id) DO UPDATE SET payload = excluded.payload, grant_id = excluded.grant_id,
         user_code = excluded.user_code, uid = excluded.uid, expires_at = excluded.expires_at`,
      [this.model, id, payload, payload.grantId ?? null, payload.userCode ?? null, payload.uid ?? null, expiresIn ?? null],
    );
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    if (this.model === 'Client') {
      const { rows } = await this.db.query<ClientRow>('SELECT * FROM clients WHERE client_id = $1', [id]);
      return rows[0] && clientFromRow(rows[0]);
    }
    return this.findWhere('id = $2', id);
  }

  findByUid(uid: string): Promise<AdapterPayload | undefined> {
    return this.findWhere('uid = $2', uid);
  }

  findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    return this.findWhere('user_code = $2', userCode);
  }

  /**
   * Marks a code or refresh token used. The UPDATE is conditional, so of two parallel redemptions exactly one
   * changes the row; the other is refused as a reused grant (SECURITY.md B2, C2).
   */
  async consume(id: string): Promise<void> {
    const { rowCount } = await this.db.query(
      'UPDATE oidc_models SET consumed_at = now() WHERE model = $1 AND id = $2 AND consumed_at IS NULL',
      [this.model, id],
    );
    if (rowCount !== 1) throw new errors.InvalidGrant('grant request is invalid (already used)');
  }

  async destroy(id: string): Promise<void> {
    await this.db.query('DELETE FROM oidc_models WHERE model = $1 AND id = $2', [this.model, id]);
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    await this.db.query('DELETE FROM oidc_models WHERE model = $1 AND grant_id = $2', [this.model, grantId]);
  }

  private async findWhere(condition: string, value: string): Promise<AdapterPayload | undefined> {
    const { rows } = await this.db.query<{ payload: AdapterPayload; consumed_at: Date | null }>(
      `SELECT payload, consumed_at FROM oidc_models
       WHERE model = $1 AND ${condition} AND (expires_at IS NULL OR expires_at > now())`,
      [this.model, value],
    );
    const row = rows[0];
    if (!row) return undefined;
    return row.consumed_at ? { ...row.payload, consumed: Math.floor(new Date(row.consumed_at).getTime() / 1000) } : row.payload;
  }
}

/** The newest unexpired grant an owner gave a client (migration 002 indexes this lookup). */
export async function latestGrantId(db: Database, accountId: string, clientId: string): Promise<string | undefined> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM oidc_models
     WHERE model = 'Grant' AND payload->>'accountId' = $1 AND payload->>'clientId' = $2
       AND (expires_at IS NULL OR expires_at > now())
     ORDER BY (payload->>'iat')::bigint DESC LIMIT 1`,
    [accountId, clientId],
  );
  return rows[0]?.id;
}

/** Deletes rows whose lifetime has passed; run periodically by the server and by `oauth3 cleanup`. */
export async function deleteExpired(db: Database): Promise<number> {
  const results = await Promise.all([
    db.query('DELETE FROM oidc_models WHERE expires_at < now()'),
    db.query('DELETE FROM webauthn_challenges WHERE expires_at < now()'),
    db.query('DELETE FROM rate_limits WHERE expires_at < now()'),
    db.query('DELETE FROM interaction_decisions WHERE expires_at < now()'),
    db.query('DELETE FROM keys WHERE remove_after < now()'),
  ]);
  return results.reduce((sum, r) => sum + r.rowCount, 0);
}
