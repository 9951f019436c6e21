import { open, seal, SealError, type MasterKeyRing } from '../keys/sealing.js';
import type { VaultObserver } from '../metrics/metrics.js';

/** The row a sealed credential belongs to: its identity is authenticated data, so a ciphertext cannot change rows. */
export interface VaultRecord {
  accountId: string;
  provider: string;
  id: string;
}

const aadOf = (record: VaultRecord) => `vault|${record.accountId}|${record.provider}|${record.id}`;

/**
 * Upstream credentials at rest (docs/architecture.md#the-vault): AES-256-GCM under a per-record data key wrapped by the
 * master key, bound to (owner, provider, record id). Values are JSON objects; nothing here logs or returns them.
 */
export class Vault {
  /** `observe` counts seals and opens for the metrics (never with the values or the records). */
  constructor(
    private readonly ring: MasterKeyRing,
    private readonly observe: VaultObserver = () => {},
  ) {}

  seal(record: VaultRecord, value: Record<string, unknown>): string {
    return this.counted('seal', () => seal(this.ring, JSON.stringify(value), aadOf(record)));
  }

  /** Throws SealError when the value was sealed for another record or under a master key no longer configured. */
  open<T extends Record<string, unknown> = Record<string, unknown>>(record: VaultRecord, sealed: string): T {
    return this.counted('open', () => JSON.parse(open(this.ring, sealed, aadOf(record)).toString('utf8')) as T);
  }

  private counted<T>(operation: 'seal' | 'open', run: () => T): T {
    try {
      const result = run();
      this.observe(operation, 'ok');
      return result;
    } catch (error) {
      this.observe(operation, 'error');
      throw error;
    }
  }

  /** Authenticated data of a record, for the master-key rotation that re-wraps every sealed value. */
  static aad(record: VaultRecord): string {
    return aadOf(record);
  }
}

export { SealError };
