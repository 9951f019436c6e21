import type { Database, Queryable } from '../db/database.js';
import { rewrap, type MasterKeyRing } from '../keys/sealing.js';
import { Vault } from '../vault/vault.js';
import { authRequestRecord } from '../upstream/auth-requests.js';
import { ownerProviderRecord } from '../upstream/owner-providers.js';

/** Rows re-wrapped per transaction: short transactions, so servers keep working while the rotation runs. */
const BATCH = 200;

/** One table holding sealed values: how to page through it and the authenticated data each row was sealed with. */
interface SealedTable {
  name: string;
  key: string;
  columns: string;
  aad(row: Record<string, string>): string;
}

const TABLES: SealedTable[] = [
  {
    name: 'connections',
    key: 'id',
    columns: 'id, account_id, provider, sealed',
    aad: (r) => Vault.aad({ accountId: r.account_id!, provider: r.provider!, id: r.id! }),
  },
  {
    name: 'upstream_auth_requests',
    key: 'state',
    columns: 'state, account_id, provider, sealed',
    aad: (r) => Vault.aad(authRequestRecord({ state: r.state!, account_id: r.account_id!, provider: r.provider! })),
  },
  {
    name: 'owner_providers',
    key: 'key',
    columns: 'key, account_id, provider, sealed',
    aad: (r) => Vault.aad(ownerProviderRecord({ key: r.key!, account_id: r.account_id!, provider: r.provider! })),
  },
  // Signing and cookie keys (src/keys/keystore.ts): `key|sig|<kid>`, `key|cookie|<kid>`.
  { name: 'keys', key: 'kid', columns: 'kid, use, sealed', aad: (r) => `key|${r.use}|${r.kid}` },
];

export interface RewrapCount {
  table: string;
  rewrapped: number;
  current: number;
  /** Row keys (never values) that could not be opened: sealed under a key not configured, or tampered with. */
  failed: string[];
}

async function rewrapBatch(
  tx: Queryable,
  ring: MasterKeyRing,
  table: SealedTable,
  after: string,
  count: RewrapCount,
): Promise<string | undefined> {
  // FOR UPDATE: a refresh writing a connection's secret at the same moment waits, rather than being overwritten.
  const { rows } = await tx.query<Record<string, string>>(
    `SELECT ${table.columns} FROM ${table.name} WHERE ${table.key} > $1 ORDER BY ${table.key} LIMIT ${BATCH} FOR UPDATE`,
    [after],
  );
  for (const row of rows) {
    let next: string;
    try {
      next = rewrap(ring, row.sealed!, table.aad(row));
    } catch {
      count.failed.push(row[table.key]!);
      continue;
    }
    if (next === row.sealed) count.current++;
    else {
      await tx.query(`UPDATE ${table.name} SET sealed = $2 WHERE ${table.key} = $1`, [row[table.key], next]);
      count.rewrapped++;
    }
  }
  return rows.length === BATCH ? rows.at(-1)![table.key] : undefined;
}

/**
 * Re-wraps every sealed value under the ring's current master key (threat model G4): each record's data key is
 * decrypted with the key that wrapped it and wrapped again, the record's ciphertext untouched. Idempotent: values
 * already under the current key are counted and left alone, so an interrupted run is finished by running it again.
 */
export async function rewrapAll(db: Database, ring: MasterKeyRing): Promise<RewrapCount[]> {
  // Connects abandoned at the provider hold nothing worth keeping.
  await db.query('DELETE FROM upstream_auth_requests WHERE expires_at <= now()');
  const counts: RewrapCount[] = [];
  for (const table of TABLES) {
    const count: RewrapCount = { table: table.name, rewrapped: 0, current: 0, failed: [] };
    let after: string | undefined = '';
    while (after !== undefined) {
      const from: string = after;
      after = await db.transaction((tx) => rewrapBatch(tx, ring, table, from, count));
    }
    counts.push(count);
  }
  return counts;
}
