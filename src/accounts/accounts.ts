import { randomBytes } from 'node:crypto';
import type { Database, Queryable } from '../db/database.js';
import { coalesce } from '../db/coalesce.js';
import { refusedData } from '../db/errors.js';
import { AHEAD, takeAhead } from '../db/read-ahead.js';

export interface Account {
  id: string;
  createdAt: Date;
  disabledAt: Date | null;
  /** What pages call the owner ("Signed in as Ada"); optional, not unique (src/accounts/display-name.ts). */
  displayName: string | null;
  username: string | null;
  email: string | null;
  phone: string | null;
  walletAddress: string | null;
}

interface AccountRow {
  id: string;
  created_at: Date;
  disabled_at: Date | null;
  display_name: string | null;
  username: string | null;
  email: string | null;
  phone: string | null;
  wallet_address: string | null;
}

export interface Passkey {
  id: string;
  accountId: string;
  publicKey: Uint8Array;
  counter: number;
  transports: string[];
  deviceType: string;
  backedUp: boolean;
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
}

interface PasskeyRow {
  id: string;
  account_id: string;
  public_key: string;
  counter: string | number;
  transports: string[];
  device_type: string;
  backed_up: boolean;
  name: string;
  created_at: Date;
  last_used_at: Date | null;
}

const toPasskey = (r: PasskeyRow): Passkey => ({
  id: r.id,
  accountId: r.account_id,
  publicKey: new Uint8Array(Buffer.from(r.public_key, 'base64url')),
  counter: Number(r.counter),
  transports: r.transports,
  deviceType: r.device_type,
  backedUp: r.backed_up,
  name: r.name,
  createdAt: new Date(r.created_at),
  lastUsedAt: r.last_used_at && new Date(r.last_used_at),
});

/** Owners and their passkeys. The account id doubles as the WebAuthn user handle (random, no personal data). */
export class AccountStore {
  // Every token request of an owner's app finds the owner (findAccount): concurrent lookups share one statement
  // (src/db/coalesce.ts: not a cache, so a disabled or deleted account is seen by the next request).
  private readonly findRows = coalesce((ids: string[]) => this.findMany(ids), { isolate: refusedData });

  constructor(private readonly db: Database) {}

  static newAccountId(): string {
    return randomBytes(16).toString('base64url');
  }

  /**
   * `request`: oidc-provider's context of the request asking (`findAccount`), whose token was found with its owner's
   * row in the same statement (src/db/read-ahead.ts); otherwise, or once that row is taken, the database.
   */
  async find(id: string, request?: object): Promise<Account | undefined> {
    const ahead = takeAhead<string>(request, AHEAD.owners, id);
    // Read ahead as JSON: its times are text, which `new Date` reads as it reads a Date.
    const row = ahead ? (JSON.parse(ahead) as AccountRow) : await this.findRows(id);
    return (
      row && {
        id: row.id,
        createdAt: new Date(row.created_at),
        disabledAt: row.disabled_at && new Date(row.disabled_at),
        displayName: row.display_name,
        username: row.username,
        email: row.email,
        phone: row.phone,
        walletAddress: row.wallet_address,
      }
    );
  }

  /** The rows of the ids asked for at the same moment, in one statement; each caller makes its own Account of its row. */
  private async findMany(ids: string[]): Promise<(AccountRow | undefined)[]> {
    const { rows } = await this.db.query<AccountRow>(
      `SELECT id, created_at, disabled_at, display_name, username, email, phone, wallet_address FROM accounts
       WHERE id = ANY($1::text[])`,
      // A NUL character cannot be in a stored id: such an id finds nothing rather than failing the batch.
      [[...new Set(ids)].filter((id) => !id.includes('\0'))],
    );
    const byId = new Map(rows.map((row) => [row.id, row]));
    return ids.map((id) => byId.get(id));
  }

  /**
   * Creates the account and its first passkey together: an account never exists without a way in. `displayName` is
   * the optional name asked for at sign-up, already checked (src/accounts/display-name.ts).
   */
  async createWithPasskey(
    accountId: string,
    passkey: Omit<Passkey, 'accountId' | 'createdAt' | 'lastUsedAt'>,
    displayName: string | null = null,
  ): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query('INSERT INTO accounts (id, display_name) VALUES ($1, $2)', [accountId, displayName]);
      await insertPasskey(tx, accountId, passkey);
    });
  }

  async findPasskey(credentialId: string): Promise<Passkey | undefined> {
    const { rows } = await this.db.query<PasskeyRow>('SELECT * FROM passkeys WHERE id = $1', [credentialId]);
    return rows[0] && toPasskey(rows[0]);
  }

  /**
   * Records a successful use. The counter only moves forward: a concurrent use that already stored a higher value
   * wins, and this one reports false (WebAuthn §6.1.1, signature counter).
   */
  async recordUse(credentialId: string, newCounter: number): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `UPDATE passkeys SET counter = $2, last_used_at = now()
       WHERE id = $1 AND (counter < $2 OR (counter = 0 AND $2 = 0))`,
      [credentialId, newCounter],
    );
    return rowCount === 1;
  }

  /** An owner's passkeys, oldest first (the console lists them). */
  async listPasskeys(accountId: string): Promise<Passkey[]> {
    const { rows } = await this.db.query<PasskeyRow>('SELECT * FROM passkeys WHERE account_id = $1 ORDER BY created_at, id', [accountId]);
    return rows.map(toPasskey);
  }

  /** Adds a passkey to an existing account; false when that credential is already registered (to anyone). */
  async addPasskey(accountId: string, passkey: Omit<Passkey, 'accountId' | 'createdAt' | 'lastUsedAt'>): Promise<boolean> {
    return (await insertPasskey(this.db, accountId, passkey, { skipExisting: true })) === 1;
  }

  /** Renames one of the owner's passkeys; undefined when the owner has no passkey with that id. */
  async renamePasskey(accountId: string, credentialId: string, name: string): Promise<Passkey | undefined> {
    const { rows } = await this.db.query<PasskeyRow>('UPDATE passkeys SET name = $3 WHERE id = $1 AND account_id = $2 RETURNING *', [
      credentialId,
      accountId,
      name,
    ]);
    return rows[0] && toPasskey(rows[0]);
  }

  /**
   * Removes one of the owner's passkeys, never the last one: an account without a passkey has no way in. The
   * account row is locked so two concurrent removals cannot each leave the other as the "remaining" one.
   */
  async removePasskey(accountId: string, credentialId: string): Promise<'removed' | 'not_found' | 'last'> {
    return this.db.transaction(async (tx) => {
      await tx.query('SELECT id FROM accounts WHERE id = $1 FOR UPDATE', [accountId]);
      const { rows } = await tx.query<{ id: string }>('SELECT id FROM passkeys WHERE account_id = $1', [accountId]);
      if (!rows.some((r) => r.id === credentialId)) return 'not_found';
      if (rows.length <= 1) return 'last';
      await tx.query('DELETE FROM passkeys WHERE id = $1 AND account_id = $2', [credentialId, accountId]);
      return 'removed';
    });
  }

  /** Marks the account disabled: it no longer signs in, and oidc-provider finds no account to mint tokens for. */
  async disable(accountId: string): Promise<void> {
    await this.db.query('UPDATE accounts SET disabled_at = COALESCE(disabled_at, now()) WHERE id = $1', [accountId]);
  }

  /**
   * Deletes the account and everything stored for it here (agent tokens, passkeys, signed-in browsers, pending
   * passkey challenges, its access log). Tokens and sessions held by oidc-provider are revoked by the caller first.
   */
  async deleteAccount(accountId: string): Promise<{ passkeys: number }> {
    return this.db.transaction(async (tx) => {
      await tx.query('DELETE FROM agent_tokens WHERE account_id = $1', [accountId]);
      const { rowCount: passkeys } = await tx.query('DELETE FROM passkeys WHERE account_id = $1', [accountId]);
      await tx.query('DELETE FROM browser_sessions WHERE account_id = $1', [accountId]);
      await tx.query('DELETE FROM webauthn_challenges WHERE subject = $1', [accountId]);
      await tx.query('DELETE FROM events WHERE account_id = $1', [accountId]);
      await tx.query('DELETE FROM accounts WHERE id = $1', [accountId]);
      return { passkeys };
    });
  }
}

/** Inserts a passkey; with `skipExisting` a credential id already registered is left alone (returns 0 rows). */
async function insertPasskey(
  tx: Queryable,
  accountId: string,
  p: Omit<Passkey, 'accountId' | 'createdAt' | 'lastUsedAt'>,
  options: { skipExisting?: boolean } = {},
): Promise<number> {
  const { rowCount } = await tx.query(
    `INSERT INTO passkeys (id, account_id, public_key, counter, transports, device_type, backed_up, name)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)${options.skipExisting ? ' ON CONFLICT (id) DO NOTHING' : ''}`,
    [
      p.id,
      accountId,
      Buffer.from(p.publicKey).toString('base64url'),
      p.counter,
      JSON.stringify(p.transports),
      p.deviceType,
      p.backedUp,
      p.name,
    ],
  );
  return rowCount;
}
