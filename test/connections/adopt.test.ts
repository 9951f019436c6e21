import { describe, expect, it } from '@jest/globals';
import type { Database } from '../../src/db/database.js';
import { ConnectionStore, type ConnectionRow } from '../../src/connections/store.js';
import type { Vault } from '../../src/vault/vault.js';

/**
 * A connection row read with a resource API call's token (one read may serve several concurrent calls of the same
 * owner) becomes each caller's own Connection: a plugin that changes its metadata changes nobody else's.
 */
describe('a connection adopted from a row read elsewhere', () => {
  // adopt() reads neither the database nor the vault.
  const store = new ConnectionStore({} as Database, {} as Vault);
  const row = (): ConnectionRow => ({
    id: 'con_1',
    account_id: 'acct_1',
    provider: 'x',
    kind: 'x.cookie',
    label: '@owner',
    status: 'active',
    sealed: 'v1.sealed',
    meta: { username: 'owner', scopes: ['tweet.read'], profile: { name: 'Owner' } },
    expires_at: null,
    last_error: null,
    created_at: new Date('2026-12-01T00:00:00Z'),
    updated_at: new Date('2026-12-02T00:00:00Z'),
    last_used_at: null,
  });

  it('has its own metadata, at every depth', () => {
    const shared = row();
    const first = store.adopt(shared);
    const second = store.adopt(shared);
    (first.meta.scopes as string[]).push('dm.read');
    (first.meta.profile as { name: string }).name = 'changed';
    expect(second.meta).toStrictEqual(row().meta);
    expect(shared.meta).toStrictEqual(row().meta);
  });

  it('has the row’s details, and no field for what is unset', () => {
    const adopted = store.adopt(row());
    expect(adopted).toStrictEqual({
      id: 'con_1',
      accountId: 'acct_1',
      provider: 'x',
      kind: 'x.cookie',
      label: '@owner',
      status: 'active',
      meta: row().meta,
      createdAt: new Date('2026-12-01T00:00:00Z'),
      updatedAt: new Date('2026-12-02T00:00:00Z'),
    });
    const used = store.adopt({
      ...row(),
      expires_at: new Date('2027-01-01T00:00:00Z'),
      last_error: 'gone',
      last_used_at: new Date('2026-12-03T00:00:00Z'),
    });
    expect(used).toMatchObject({
      expiresAt: new Date('2027-01-01T00:00:00Z'),
      lastError: 'gone',
      lastUsedAt: new Date('2026-12-03T00:00:00Z'),
    });
  });
});
