import type { Database, Queryable } from '../db/database.js';
import type { EventLog } from '../accounts/events.js';
import type { Clock } from '../clock.js';
import { AppError } from '../errors.js';
import { ClientStore, type ClientKind, type ClientRecord, type NewClient } from '../clients/store.js';
import { ClientSecrets, GRACE_PERIODS, type GracePeriod, type LiveSecret } from '../clients/secrets.js';
import type { AppFields, NewApp } from './input.js';

const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';
/** RFC 8693 token exchange (src/provider/token-exchange.ts): an app's own choice, on top of its kind's grant types. */
export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';

/** The app's grant types with token exchange added or taken away; a public app cannot have it (no client authentication). */
function withExchange(kind: ClientKind, grantTypes: readonly string[], exchange: boolean): NewClient['grantTypes'] {
  if (exchange && kind === 'public') {
    throw new AppError('invalid_request', 400, 'token_exchange: a public app has no secret, so it cannot exchange tokens');
  }
  const others = grantTypes.filter((g) => g !== TOKEN_EXCHANGE);
  return [...others, ...(exchange ? [TOKEN_EXCHANGE] : [])] as NewClient['grantTypes'];
}

/** How each kind of app signs in and gets tokens. */
const KINDS: Record<ClientKind, Pick<NewClient, 'public' | 'grantTypes'>> = {
  // Confidential web app: authorization code (+ PKCE, required for all) and refresh tokens, with a secret.
  web: { public: false, grantTypes: ['authorization_code', 'refresh_token'] },
  // Single-page or native app: the same flow without a secret (token_endpoint_auth_method none).
  public: { public: true, grantTypes: ['authorization_code', 'refresh_token'] },
  // Headless agent service: device flow (the owner approves in a browser), refresh, and client credentials.
  agent: { public: false, grantTypes: [DEVICE_CODE, 'refresh_token', 'client_credentials'] },
};

export interface DeveloperLimits {
  perHour: number;
  max: number;
}

/** Who did it and from where, for the audit trail. */
export interface Actor {
  accountId: string;
  ip?: string;
}

/**
 * The developer portal's operations on a developer's own apps. Every method takes the developer's account id and
 * answers "not found" for an app of someone else, exactly as for an unknown one, and changes nothing (F4).
 */
export class DeveloperApps {
  readonly secrets: ClientSecrets;

  constructor(
    private readonly db: Database,
    private readonly events: EventLog,
    private readonly clock: Clock,
    private readonly limits: DeveloperLimits,
    readonly clients: ClientStore,
  ) {
    this.secrets = clients.secrets();
  }

  list(accountId: string): Promise<ClientRecord[]> {
    return this.clients.listOwned(accountId);
  }

  async get(accountId: string, clientId: string): Promise<{ app: ClientRecord; secrets: LiveSecret[] }> {
    const app = await this.owned(accountId, clientId);
    return { app, secrets: app.public ? [] : await this.secrets.live(clientId) };
  }

  /** Registers an app; its secret (confidential kinds) is returned this once and stored only as a digest (F2). */
  async register(actor: Actor, input: NewApp): Promise<{ app: ClientRecord; clientSecret?: string }> {
    if (input.kind === 'agent' && input.redirect_uris.length) {
      throw new AppError(
        'invalid_request',
        400,
        'redirect_uris: an agent service signs in with the device flow or client credentials and has no redirect URIs',
      );
    }
    if (input.kind !== 'agent' && !input.redirect_uris.length) {
      throw new AppError('invalid_request', 400, 'redirect_uris: an app that signs owners in needs at least one redirect URI');
    }
    const { client, clientSecret } = await this.clients.add(
      {
        ...KINDS[input.kind],
        grantTypes: withExchange(input.kind, KINDS[input.kind].grantTypes!, input.token_exchange ?? false),
        ...this.common(input),
        kind: input.kind,
        accountId: actor.accountId,
        redirectUris: input.kind === 'agent' ? [] : input.redirect_uris,
      },
      (tx) => this.withinLimits(tx, actor.accountId),
    );
    await this.record(actor, 'developer.app.created', client.clientId, {
      name: client.name,
      kind: client.kind,
      token_exchange: client.grantTypes.includes(TOKEN_EXCHANGE),
    });
    return { app: client, clientSecret };
  }

  async update(actor: Actor, clientId: string, input: AppFields): Promise<ClientRecord> {
    const app = await this.owned(actor.accountId, clientId);
    if (app.kind === 'agent' && input.redirect_uris.length) {
      throw new AppError('invalid_request', 400, 'redirect_uris: an agent service has no redirect URIs');
    }
    const grantTypes = input.token_exchange === undefined ? undefined : withExchange(app.kind, app.grantTypes, input.token_exchange);
    const updated = await this.clients.update(clientId, { ...this.common(input), redirectUris: input.redirect_uris, grantTypes });
    if (!updated) throw notFoundApp();
    await this.record(actor, 'developer.app.updated', clientId, {
      name: updated.name,
      token_exchange: updated.grantTypes.includes(TOKEN_EXCHANGE),
    });
    return updated;
  }

  /**
   * Deactivating stops the app at once: it is no longer found (invalid_client for new flows and client
   * authentication), and every grant and token it holds is revoked, so its tokens stop working on the resource API
   * as well. Owners approve it again after reactivation. Reactivating only lets it start flows again.
   */
  async setActive(actor: Actor, clientId: string, active: boolean): Promise<ClientRecord> {
    await this.owned(actor.accountId, clientId);
    await this.clients.setDisabled(clientId, !active);
    if (!active) await this.clients.revokeTokens(clientId);
    await this.record(actor, active ? 'developer.app.reactivated' : 'developer.app.deactivated', clientId);
    return this.owned(actor.accountId, clientId);
  }

  /** Deletes the app with every grant and token issued to it (F5); its secrets go with it. */
  async remove(actor: Actor, clientId: string): Promise<void> {
    await this.owned(actor.accountId, clientId);
    await this.clients.remove(clientId);
    await this.record(actor, 'developer.app.deleted', clientId);
  }

  /** A new secret, shown once; the old ones keep working until the grace period ends (F3). */
  async rotate(actor: Actor, clientId: string, grace: GracePeriod): Promise<{ clientSecret: string; oldWorksUntil: Date }> {
    await this.confidential(actor.accountId, clientId);
    const { clientSecret, expiresOldAt } = await this.secrets.rotate(clientId, GRACE_PERIODS[grace]);
    await this.record(actor, 'developer.secret.rotated', clientId, { grace, old_works_until: expiresOldAt.toISOString() });
    return { clientSecret, oldWorksUntil: expiresOldAt };
  }

  /** Emergency: every secret dies now, grace or not; one fresh secret is issued and shown once. */
  async revokeSecrets(actor: Actor, clientId: string): Promise<{ clientSecret: string }> {
    await this.confidential(actor.accountId, clientId);
    const { clientSecret, revoked } = await this.secrets.revokeAll(clientId);
    await this.record(actor, 'developer.secret.revoked', clientId, { revoked }, 'security');
    return { clientSecret };
  }

  private async owned(accountId: string, clientId: string): Promise<ClientRecord> {
    const app = await this.clients.findOwned(accountId, clientId);
    if (!app) throw notFoundApp();
    return app;
  }

  private async confidential(accountId: string, clientId: string): Promise<ClientRecord> {
    const app = await this.owned(accountId, clientId);
    if (app.public) throw new AppError('invalid_request', 400, 'A public app has no secret to rotate.');
    return app;
  }

  private common(input: AppFields) {
    return {
      name: input.name,
      description: input.description,
      logoUri: input.logo_uri,
      homepage: input.homepage,
      scope: input.scopes.join(' '),
    };
  }

  /**
   * Registration limits per developer: at most `max` apps at a time and `perHour` registrations an hour.
   * A per-developer advisory lock makes count-then-insert safe against parallel registrations.
   */
  private async withinLimits(tx: Queryable, accountId: string): Promise<void> {
    await tx.query('SELECT pg_advisory_xact_lock(7330006, hashtext($1))', [accountId]);
    const { rows } = await tx.query<{ total: string }>('SELECT count(*) AS total FROM clients WHERE account_id = $1', [accountId]);
    if (Number(rows[0]?.total ?? 0) >= this.limits.max) {
      throw new AppError(
        'too_many_apps',
        409,
        `You have ${this.limits.max} apps, the most allowed. Delete one you no longer use to register another.`,
      );
    }
    // Registrations, not apps: deleting an app does not give back its place in this hour (the audit trail counts;
    // apps created in the hour count too, for a registration whose event is still being written). Both rows are
    // stamped by the database, so the hour is the database's too.
    const recent = await tx.query<{ n: string }>(
      `SELECT greatest(
         (SELECT count(*) FROM events WHERE account_id = $1 AND kind = 'developer.app.created' AND created_at > now() - interval '1 hour'),
         (SELECT count(*) FROM clients WHERE account_id = $1 AND created_at > now() - interval '1 hour')) AS n`,
      [accountId],
    );
    if (Number(recent.rows[0]?.n ?? 0) >= this.limits.perHour) {
      throw new AppError(
        'too_many_registrations',
        429,
        `You registered ${this.limits.perHour} apps in the last hour, the most allowed. Try again later.`,
      );
    }
  }

  private record(actor: Actor, kind: string, clientId: string, detail?: Record<string, unknown>, outcome?: 'ok' | 'security') {
    return this.events.record({ kind, accountId: actor.accountId, clientId, ip: actor.ip, detail, ...(outcome ? { outcome } : {}) });
  }
}

export const notFoundApp = () => new AppError('not_found', 404, 'No such app.');
