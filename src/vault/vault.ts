import { open, seal, SealError, type MasterKeyRing } from '../keys/sealing.js';

/** The row a sealed credential belongs to: its identity is authenticated data, so a ciphertext cannot change rows. */
export interface VaultRecord {
  accountId: string;
  provider: string;
  id: string;
}

const aadOf = (record: VaultRecord) => `vault|${record.accountId}|${record.provider}|${record.id}`;

/**
 * Upstream credentials at rest (DESIGN.md, Vault): AES-256-GCM under a per-record data key wrapped by the master
 * key, bound to (owner, provider, record id). Values are JSON objects; nothing here logs or returns them.
 */
export class Vault {
  constructor(private readonly ring: MasterKeyRing) {}

  seal(record: VaultRecord, value: Record<string, unknown>): string {
    return seal(this.ring, JSON.stringify(value), aadOf(record));
  }

  /** Throws SealError when the value was sealed for another record or under a master key no longer configured. */
  open<T extends Record<string, unknown> = Record<string, unknown>>(record: VaultRecord, sealed: string): T {
    return JSON.parse(open(this.ring, sealed, aadOf(record)).toString('utf8')) as T;
  }

  /** Authenticated data of a record, for the master-key rotation that re-wraps every sealed value. */
  static aad(record: VaultRecord): string {
    return aadOf(record);
  }
}

export { SealError };
