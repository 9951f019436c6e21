import type { Database, Queryable } from '../db/database.js';

/** RFC 8693 §4.1: who acts, and on whose behalf the one before acted (nested, the outermost the current actor). */
export interface Act {
  sub: string;
  client_id?: string;
  act?: Act;
}

/** One exchanged token's grant and where it sits in its tree. */
export interface Delegation {
  grantId: string;
  parentGrantId: string;
  rootGrantId: string;
  /** Every grant above, the root first and the parent last. */
  ancestors: string[];
  depth: number;
  accountId: string;
  clientId: string;
  parentClientId: string;
  act: Act;
  scopes: string[];
  audience: string;
  createdAt: Date;
  expiresAt: Date;
}

interface Row {
  grant_id: string;
  parent_grant_id: string;
  root_grant_id: string;
  ancestors: string[];
  depth: number;
  account_id: string;
  client_id: string;
  parent_client_id: string;
  act: Act;
  scopes: string[];
  audience: string;
  created_at: Date | string;
  expires_at: Date | string;
}

const fromRow = (r: Row): Delegation => ({
  grantId: r.grant_id,
  parentGrantId: r.parent_grant_id,
  rootGrantId: r.root_grant_id,
  ancestors: r.ancestors,
  depth: r.depth,
  accountId: r.account_id,
  clientId: r.client_id,
  parentClientId: r.parent_client_id,
  act: r.act,
  scopes: r.scopes,
  audience: r.audience,
  createdAt: new Date(r.created_at),
  expiresAt: new Date(r.expires_at),
});

/**
 * grant_delegations: which grant each exchanged token's grant was narrowed from (docs/architecture.md#token-exchange).
 * An original grant (consent, agent token, agent service) has no row; its children name it as parent and root.
 */
export class GrantDelegations {
  constructor(private readonly db: Database) {}

  /** Records `child` as narrowed from `parent` (undefined parent row: `parentGrantId` is an original grant). */
  async record(
    input: Omit<Delegation, 'rootGrantId' | 'ancestors' | 'depth' | 'createdAt'>,
    parent: Delegation | undefined,
    db: Queryable = this.db,
  ): Promise<Delegation> {
    const ancestors = parent ? [...parent.ancestors, parent.grantId] : [input.parentGrantId];
    const { rows } = await db.query<Row>(
      `INSERT INTO grant_delegations (grant_id, parent_grant_id, root_grant_id, ancestors, depth, account_id, client_id,
                                      parent_client_id, act, scopes, audience, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING *`,
      [
        input.grantId,
        input.parentGrantId,
        ancestors[0],
        ancestors,
        ancestors.length,
        input.accountId,
        input.clientId,
        input.parentClientId,
        JSON.stringify(input.act),
        input.scopes,
        input.audience,
        input.expiresAt,
      ],
    );
    return fromRow(rows[0]!);
  }

  /** The delegation row of an exchanged token's grant; undefined for an original grant. */
  async of(grantId: string): Promise<Delegation | undefined> {
    const { rows } = await this.db.query<Row>('SELECT * FROM grant_delegations WHERE grant_id = $1', [grantId]);
    return rows[0] && fromRow(rows[0]);
  }

  /** Every grant below `grantId`, at any depth (what revoking it must take along). */
  async descendants(grantId: string, db: Queryable = this.db): Promise<string[]> {
    const { rows } = await db.query<{ grant_id: string }>('SELECT grant_id FROM grant_delegations WHERE $1 = ANY (ancestors)', [grantId]);
    return rows.map((r) => r.grant_id);
  }

  /** The owner's exchanged grants, for the console's tree (newest first). */
  async ofAccount(accountId: string): Promise<Delegation[]> {
    const { rows } = await this.db.query<Row>('SELECT * FROM grant_delegations WHERE account_id = $1 ORDER BY created_at DESC LIMIT 500', [
      accountId,
    ]);
    return rows.map(fromRow);
  }

  /** Forgets the rows of grants that are gone (revoked or expired). */
  async remove(grantIds: string[], db: Queryable = this.db): Promise<void> {
    if (grantIds.length) await db.query('DELETE FROM grant_delegations WHERE grant_id = ANY ($1::text[])', [grantIds]);
  }
}
