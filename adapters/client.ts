import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { Database } from '../src/db/database.js';
import { coalesce } from '../src/db/coalesce.js';
import { refusedData } from '../src/db/errors.js';
import { systemClock, type Clock } from '../src/clock.js';
import { ClientStore } from '../src/clients/store.js';
import { isStoredForm } from '../src/clients/secrets.js';
import { clientFromRow, selectClients, type ClientRow } from './clients.js';
import type { ClientCache } from './client-cache.js';

/**
 * oidc-provider's Client model on our `clients` and `client_secrets` tables: every token request finds its client
 * here, from rows kept while the database announces their changes (adapters/client-cache.ts). Only dynamic
 * registration (RFC 7591 create, RFC 7592 update and delete) writes through it; the portal and the command line use
 * the client store directly. A secret is stored only as a digest (docs/threat-model.md F2).
 */
export class ClientAdapter implements Adapter {
  // Concurrent lookups share one statement (src/db/coalesce.ts: not a cache).
  private readonly findRows = coalesce((ids: string[]) => this.findClients(ids), { isolate: refusedData });
  private readonly store: ClientStore;

  constructor(
    private readonly db: Database,
    /** Decides which client secrets are still live (threat model F3); tests move it. */
    private readonly clock: Clock = systemClock,
    /** Client rows kept while their changes are heard; none: every lookup reads. */
    private readonly cache?: ClientCache,
  ) {
    // A registration update or delete (RFC 7592) is heard by this process at once, not when the database's
    // announcement arrives: a deleted client must not authenticate here a moment longer (threat model F5).
    this.store = new ClientStore(db, clock, undefined, (clientId) => cache?.forget(clientId));
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    const row = this.cache?.get(id) ?? (await this.findRows(id));
    return row && clientFromRow(row, this.clock.now());
  }

  /** RFC 7591 create, RFC 7592 update: the metadata in `clients`, a new plain secret only as its digest. */
  async upsert(clientId: string, payload: AdapterPayload): Promise<void> {
    const { client_secret: secret, ...metadata } = payload as AdapterPayload & { client_secret?: unknown };
    // oidc-provider writes back what find() gave it (the stored digests) unless it made a new secret.
    const clientSecret = typeof secret === 'string' && secret && !isStoredForm(secret) ? secret : undefined;
    if (await this.store.replaceRegistered({ clientId, metadata, clientSecret })) return;
    await this.store.addRegistered({ clientId, metadata, clientSecret });
  }

  /** RFC 7592 delete: the client goes, with every grant and token issued to it (threat model F5). */
  async destroy(clientId: string): Promise<void> {
    await this.store.remove(clientId);
  }

  async findByUid(): Promise<undefined> {
    return undefined;
  }

  async findByUserCode(): Promise<undefined> {
    return undefined;
  }

  async consume(): Promise<void> {
    throw new Error('clients are never consumed');
  }

  async revokeByGrantId(): Promise<void> {
    // Clients belong to no grant.
  }

  private async findClients(ids: string[]): Promise<(ClientRow | undefined)[]> {
    const since = this.cache?.begin();
    // Text cannot hold NUL, so no stored client has such an id; sending one would only make the statement fail.
    const rows = await selectClients(
      this.db,
      [...new Set(ids)].filter((id) => !id.includes('\0')),
    );
    if (since !== undefined) this.cache!.keep(rows, since);
    const found = new Map(rows.map((row) => [row.client_id, row]));
    return ids.map((id) => found.get(id));
  }
}
