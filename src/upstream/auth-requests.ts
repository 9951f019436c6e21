import { randomBytes } from 'node:crypto';
import type { Database } from '../db/database.js';
import type { Vault, VaultRecord } from '../vault/vault.js';

/** An upstream OAuth connect in progress (upstream_auth_requests): whose it is, and what to check when it returns. */
export interface AuthRequest {
  state: string;
  accountId: string;
  provider: string;
  /** The PKCE code verifier (RFC 7636), opened from the vault; absent for providers without PKCE. */
  verifier?: string;
  returnTo?: string;
}

interface Row {
  state: string;
  account_id: string;
  provider: string;
  sealed: string;
  return_to: string | null;
  expires_at: Date;
}

/**
 * The vault record of a request: the state is its id, so a sealed verifier copied to another request (or to a
 * connection) does not open. Master-key rotation re-wraps these rows with the same record (src/cli/rotate-master.ts).
 */
export const authRequestRecord = (r: { state: string; account_id: string; provider: string }): VaultRecord => ({
  accountId: r.account_id,
  provider: r.provider,
  id: `state:${r.state}`,
});

/** How long the owner has to finish at the provider (RFC 9700 §4.7: state is single use and short-lived). */
export const AUTH_REQUEST_TTL_SECONDS = 600;

/**
 * State and PKCE verifier are kept server-side, never in a cookie or the URL (RFC 9700 §2.1.1): the browser carries
 * only the random state, which the callback exchanges once for the stored request.
 */
export class AuthRequests {
  constructor(
    private readonly db: Database,
    private readonly vault: Vault,
  ) {}

  async create(input: { accountId: string; provider: string; verifier?: string; returnTo?: string }): Promise<string> {
    const state = randomBytes(32).toString('base64url');
    const record = authRequestRecord({ state, account_id: input.accountId, provider: input.provider });
    await this.db.query(
      `INSERT INTO upstream_auth_requests (state, account_id, provider, sealed, return_to, expires_at)
       VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6::int))`,
      [
        state,
        input.accountId,
        input.provider,
        this.vault.seal(record, input.verifier ? { verifier: input.verifier } : {}),
        input.returnTo ?? null,
        AUTH_REQUEST_TTL_SECONDS,
      ],
    );
    return state;
  }

  /**
   * Takes this owner's request for this state, once (DELETE ... RETURNING: of two callbacks with one state only
   * one gets it). An expired one is taken but not returned; another owner's is left alone, so a leaked state cannot
   * be used by someone else nor spent to break the owner's own connect.
   */
  async take(state: string, accountId: string): Promise<AuthRequest | undefined> {
    const { rows } = await this.db.query<Row & { live: boolean }>(
      'DELETE FROM upstream_auth_requests WHERE state = $1 AND account_id = $2 RETURNING *, expires_at > now() AS live',
      [state, accountId],
    );
    const row = rows[0];
    if (!row?.live) return undefined;
    const { verifier } = this.vault.open<{ verifier?: string }>(authRequestRecord(row), row.sealed);
    return {
      state: row.state,
      accountId: row.account_id,
      provider: row.provider,
      ...(verifier ? { verifier } : {}),
      ...(row.return_to ? { returnTo: row.return_to } : {}),
    };
  }

  async deleteExpired(): Promise<number> {
    const { rowCount } = await this.db.query('DELETE FROM upstream_auth_requests WHERE expires_at <= now()');
    return rowCount;
  }
}
