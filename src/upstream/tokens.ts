import type { Database, Queryable } from '../db/database.js';
import type { Logger } from '../logger.js';
import { AppError } from '../errors.js';
import type { Connection, ConnectionStore } from '../connections/store.js';
import type { UpstreamTokens } from '../connections/access.js';
import type { ProviderLookup } from './provider-config.js';
import { callTokenEndpoint, GrantRevoked, reconnectRequired, secretOf, type OAuthSecret } from './token-endpoint.js';
import type { RefreshObserver } from '../metrics/metrics.js';

/** Refresh this long before the stored access token expires, so a call never leaves with one about to die. */
const EXPIRY_MARGIN_MS = 60_000;

interface LockedRow {
  status: Connection['status'];
  expires_at: Date | null;
  sealed: string;
}

const fresh = (expiresAt: Date | null | undefined) => !expiresAt || new Date(expiresAt).getTime() - Date.now() > EXPIRY_MARGIN_MS;

export interface TokenServiceDeps {
  db: Database;
  logger: Logger;
  connections: ConnectionStore;
  provider: ProviderLookup;
  timeoutMs: number;
  onRefresh?: RefreshObserver;
}

/**
 * Valid upstream access tokens for `oauth2` connections (threat model G5, G6). The stored token is used while it has
 * more than a minute left; otherwise exactly one refresh runs per connection: one promise per connection in this
 * process, and the connection row locked (SELECT ... FOR UPDATE) across processes, re-read under the lock, so a
 * process that waited uses the tokens the other one saved instead of spending the refresh token again.
 */
export class UpstreamTokenService implements UpstreamTokens {
  private readonly inflight = new Map<string, Promise<string>>();

  constructor(private readonly deps: TokenServiceDeps) {}

  /**
   * `rejected`: the upstream refused this access token (401) although it looked fresh; refresh unless another call
   * already replaced it.
   */
  async accessToken(connection: Connection, options: { rejected?: string } = {}): Promise<string> {
    if (connection.status === 'needs_relink') throw reconnectRequired();
    if (!options.rejected && fresh(connection.expiresAt)) {
      const secret = await this.deps.connections.secret<OAuthSecret>(connection);
      if (secret.access_token) return secret.access_token;
    }
    let flight = this.inflight.get(connection.id);
    if (!flight) {
      flight = this.refresh(connection, options.rejected).finally(() => this.inflight.delete(connection.id));
      this.inflight.set(connection.id, flight);
    }
    return flight;
  }

  private async refresh(connection: Connection, rejected: string | undefined): Promise<string> {
    const outcome = await this.locked(connection, async (db, row) => {
      if (row.status === 'needs_relink') return { relink: true as const };
      const secret = this.deps.connections.vault.open<OAuthSecret>(connection, row.sealed);
      // Another process (or an earlier flight here) refreshed while we waited for the lock: use its tokens.
      if (fresh(row.expires_at) && secret.access_token !== rejected) return { token: secret.access_token };
      const provider = await this.deps.provider(connection.provider, connection.accountId);
      if (!provider) throw new AppError('upstream_unavailable', 502, 'This upstream provider is no longer configured on the server.');
      if (!secret.refresh_token) {
        this.deps.onRefresh?.(connection.provider, 'no_refresh_token');
        await this.deps.connections.markNeedsRelink(connection, 'access token expired and no refresh token was issued', db);
        return { relink: true as const };
      }
      try {
        const tokens = await callTokenEndpoint(
          provider,
          { grant_type: 'refresh_token', refresh_token: secret.refresh_token },
          this.deps.timeoutMs,
        );
        const next = secretOf(tokens, secret);
        // Saved (and, on Postgres, committed below) before the new token is used: a crash now loses nothing (G5).
        await this.deps.connections.updateSecret(connection, next.secret, next.expiresAt, db);
        this.deps.onRefresh?.(connection.provider, 'ok');
        return { token: next.secret.access_token };
      } catch (error) {
        this.deps.onRefresh?.(connection.provider, error instanceof GrantRevoked ? 'revoked' : 'failed');
        if (!(error instanceof GrantRevoked)) throw error; // network trouble: the connection and its refresh token stay as they were
        await this.deps.connections.markNeedsRelink(connection, `refresh refused by the provider (${error.upstreamError})`, db);
        return { relink: true as const };
      }
    });
    if ('relink' in outcome) {
      this.deps.logger.warn({ connectionId: connection.id, provider: connection.provider }, 'upstream connection needs re-linking');
      throw reconnectRequired();
    }
    return outcome.token;
  }

  /**
   * Runs `fn` with the connection row locked against other processes. Postgres: one transaction holding the row
   * lock, committed only once the new tokens are written. Embedded PGlite is one process by construction (its data
   * directory is locked), and a PGlite transaction blocks every other query of the server, so there the in-process
   * single flight is the lock and no transaction is held open during the upstream call.
   */
  private async locked<T>(connection: Connection, fn: (db: Queryable, row: LockedRow) => Promise<T>): Promise<T> {
    const select = 'SELECT status, expires_at, sealed FROM connections WHERE id = $1 AND account_id = $2';
    const run = async (db: Queryable, sql: string) => {
      const { rows } = await db.query<LockedRow>(sql, [connection.id, connection.accountId]);
      if (!rows[0]) throw new AppError('not_connected', 409, 'This upstream account was disconnected.');
      return fn(db, rows[0]);
    };
    if (this.deps.db.kind === 'pglite') return run(this.deps.db, select);
    return this.deps.db.transaction((tx) => run(tx, `${select} FOR UPDATE`));
  }
}
