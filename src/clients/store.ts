import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Database, Queryable } from '../db/database.js';
import { newClientSecret } from './secrets.js';
import { ClientSecrets, insertSecret } from './secrets.js';
import { systemClock, type Clock } from '../clock.js';
import { assertThat } from '../errors.js';
import type { ScopeCatalog } from '../../scopes/catalog.js';
import { RedirectUri } from './redirect-uri.js';

/** Redirect URIs: one rule for every way in, kept normalised (./redirect-uri.ts, threat model F1, F6). */
export { RedirectUri };

/** What the portal calls a client: a confidential web app, a public app (PKCE, no secret), or an agent service. */
export const ClientKind = z.enum(['web', 'public', 'agent']);
export type ClientKind = z.infer<typeof ClientKind>;

/** The kind of a client registered without one (the CLI, or before migration 006): what its metadata says it is. */
const kindOf = (c: { public: boolean; grantTypes: readonly string[] }): ClientKind =>
  c.public ? 'public' : c.grantTypes.includes('authorization_code') ? 'web' : 'agent';

export const GRANT_TYPES = [
  'authorization_code',
  'refresh_token',
  'client_credentials',
  'urn:ietf:params:oauth:grant-type:device_code',
  'urn:ietf:params:oauth:grant-type:token-exchange',
] as const;

/** A space-separated scope list; which scopes exist is the store's catalog's to say (ClientStore.add). */
export const ScopeList = z.string().trim().max(2000).optional();

export const NewClient = z
  .object({
    name: z.string().trim().min(1).max(100),
    redirectUris: z.array(RedirectUri).max(20).default([]),
    public: z.boolean().default(false),
    grantTypes: z.array(z.enum(GRANT_TYPES)).min(1).default(['authorization_code', 'refresh_token']),
    scope: ScopeList,
    logoUri: z
      .url({ protocol: /^https$/ })
      .max(2000)
      .optional(),
    idTokenAlg: z.enum(['ES256', 'RS256']).default('ES256'),
    /** A resource server may introspect every access token for the resource API (provider.ts, RESOURCE_SERVER_METADATA). */
    resourceServer: z.boolean().default(false),
    /** The developer (an owner account) who registered it in the portal; unset for the CLI. */
    accountId: z.string().min(1).max(200).optional(),
    /** Derived from `public` and the grant types when unset. */
    kind: ClientKind.optional(),
    description: z.string().trim().max(1000).optional(),
    /** The app's home page (`client_uri`, RFC 7591 §2). */
    homepage: z
      .url({ protocol: /^https$/ })
      .max(2000)
      .optional(),
  })
  .refine((c) => !c.grantTypes.includes('authorization_code') || c.redirectUris.length > 0, {
    message: 'an app that signs owners in needs at least one --redirect-uri',
    path: ['redirectUris'],
  })
  .refine((c) => !(c.public && c.grantTypes.includes('client_credentials')), {
    message: 'a public client has no secret, so it cannot use client_credentials',
    path: ['grantTypes'],
  })
  .refine((c) => !(c.public && c.resourceServer), {
    message: 'a resource server must authenticate to introspect tokens, so it cannot be public',
    path: ['resourceServer'],
  });
export type NewClient = z.input<typeof NewClient>;

/** What a developer may change after registration; the kind (and so the authentication method) stays. */
export const ClientChanges = z.object({
  name: z.string().trim().min(1).max(100),
  description: z.string().trim().max(1000).optional(),
  logoUri: z
    .url({ protocol: /^https$/ })
    .max(2000)
    .optional(),
  homepage: z
    .url({ protocol: /^https$/ })
    .max(2000)
    .optional(),
  redirectUris: z.array(RedirectUri).max(20),
  scope: ScopeList,
  /** Replaces the grant types when given (the portal's token exchange choice); the caller keeps the kind's own. */
  grantTypes: z.array(z.enum(GRANT_TYPES)).min(1).optional(),
});
export type ClientChanges = z.input<typeof ClientChanges>;

export interface ClientSummary {
  clientId: string;
  name: string;
  public: boolean;
  redirectUris: string[];
  grantTypes: string[];
  scope?: string;
  resourceServer?: true;
  createdAt: string;
}

/** A client as its developer sees it in the portal. */
export interface ClientRecord extends ClientSummary {
  kind: ClientKind;
  accountId: string | null;
  description?: string;
  logoUri?: string;
  homepage?: string;
  disabledAt: string | null;
  updatedAt: string | null;
}

interface Row {
  client_id: string;
  metadata: Record<string, unknown>;
  account_id: string | null;
  kind: string | null;
  created_at: Date;
  updated_at: Date | null;
  disabled_at: Date | null;
}

/** A check run inside the insert's transaction; it throws to refuse. */
export type Guard = (tx: Queryable) => Promise<void>;

const COLUMNS = 'client_id, metadata, account_id, kind, created_at, updated_at, disabled_at';
export const newClientId = () => `c_${randomBytes(12).toString('base64url')}`;

/** Registered clients; the secret is returned once, at creation, and only its digest is kept (F2). */
export class ClientStore {
  constructor(
    private readonly db: Database,
    private readonly clock: Clock = systemClock,
    /** The scopes clients may be registered for; a store without one registers no client with a scope. */
    private readonly scopes?: ScopeCatalog,
    /** Told of every client this store changed, once the change is committed (the process's client cache). */
    private readonly changed: (clientId: string) => void = () => undefined,
  ) {}

  /**
   * A refusal names each unknown scope and lists the known ones, so a typo is fixed without reading the source; as a
   * schema error on `scope`, so the command line names its flag and the portal its field.
   */
  private checkScopes(scope: string | undefined): void {
    if (!scope) return;
    const problem = this.scopes ? this.scopes.problemWith(scope.split(/\s+/)) : 'this server knows no scopes here';
    if (problem) throw new z.ZodError([{ code: 'custom', path: ['scope'], message: problem, input: scope }]);
  }

  /**
   * `guard` runs first, in the same transaction as the insert: the portal's registration limits lock and count there,
   * so two registrations at once cannot both pass the last free place.
   */
  async add(input: NewClient, guard?: Guard): Promise<{ client: ClientRecord; clientSecret?: string }> {
    const c = NewClient.parse(input);
    this.checkScopes(c.scope);
    const clientSecret = c.public ? undefined : newClientSecret();
    const metadata = {
      client_name: c.name,
      redirect_uris: c.redirectUris,
      grant_types: c.grantTypes,
      response_types: c.grantTypes.includes('authorization_code') ? ['code'] : [],
      token_endpoint_auth_method: c.public ? 'none' : 'client_secret_basic',
      id_token_signed_response_alg: c.idTokenAlg,
      ...(c.scope ? { scope: c.scope.split(/\s+/).join(' ') } : {}),
      ...(c.logoUri ? { logo_uri: c.logoUri } : {}),
      ...(c.homepage ? { client_uri: c.homepage } : {}),
      ...(c.description ? { description: c.description } : {}),
      ...(c.resourceServer ? { resource_server: true } : {}),
    };
    const kind = c.kind ?? kindOf(c);
    const client = await this.addRegistered({ clientId: newClientId(), metadata, clientSecret, accountId: c.accountId, kind }, guard);
    return { client, clientSecret };
  }

  /**
   * Stores a client whose metadata is already validated (by oidc-provider for RFC 7591 registration, or by `add`),
   * with its plain secret, which is kept only as a digest. `metadata` must not hold `client_secret`.
   */
  async addRegistered(
    input: {
      clientId: string;
      metadata: Record<string, unknown>;
      clientSecret?: string;
      accountId?: string | null;
      kind?: ClientKind | null;
    },
    guard?: Guard,
  ): Promise<ClientRecord> {
    const { client_secret: _dropped, client_secret_expires_at: _alsoDropped, ...metadata } = input.metadata;
    const now = this.clock.now();
    return this.db.transaction(async (tx) => {
      await guard?.(tx);
      const { rows } = await tx.query<Row>(
        `INSERT INTO clients (client_id, metadata, account_id, kind, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING ${COLUMNS}`,
        [input.clientId, metadata, input.accountId ?? null, input.kind ?? null, now],
      );
      if (input.clientSecret) {
        await insertSecret(tx, input.clientId, input.clientSecret, now);
      }
      return record(rows[0]!);
    });
  }

  /**
   * RFC 7592 update: replaces the metadata of a client that registered itself (already validated by oidc-provider).
   * A plain `clientSecret` (a public client turned confidential) is added as a digest; the existing secrets stay.
   */
  async replaceRegistered(input: { clientId: string; metadata: Record<string, unknown>; clientSecret?: string }): Promise<boolean> {
    const { client_secret: _dropped, client_secret_expires_at: _alsoDropped, ...metadata } = input.metadata;
    const now = this.clock.now();
    const replaced = await this.db.transaction(async (tx) => {
      const { rowCount } = await tx.query('UPDATE clients SET metadata = $2, updated_at = $3 WHERE client_id = $1', [
        input.clientId,
        metadata,
        now,
      ]);
      if (rowCount && input.clientSecret) {
        await insertSecret(tx, input.clientId, input.clientSecret, now);
      }
      return rowCount === 1;
    });
    this.changed(input.clientId);
    return replaced;
  }

  async list(): Promise<ClientSummary[]> {
    const { rows } = await this.db.query<Row>(`SELECT ${COLUMNS} FROM clients ORDER BY created_at, client_id`);
    return rows.map((r) => summary(r.client_id, r.metadata, r.created_at));
  }

  /** Any client by id, enabled or not (the portal checks ownership with `findOwned`). */
  async find(clientId: string): Promise<ClientRecord | undefined> {
    const { rows } = await this.db.query<Row>(`SELECT ${COLUMNS} FROM clients WHERE client_id = $1`, [clientId]);
    return rows[0] && record(rows[0]);
  }

  /** The client if this developer registered it; another developer's client is answered like an unknown one (F4). */
  async findOwned(accountId: string, clientId: string): Promise<ClientRecord | undefined> {
    const { rows } = await this.db.query<Row>(`SELECT ${COLUMNS} FROM clients WHERE client_id = $1 AND account_id = $2`, [
      clientId,
      accountId,
    ]);
    return rows[0] && record(rows[0]);
  }

  async listOwned(accountId: string): Promise<ClientRecord[]> {
    const { rows } = await this.db.query<Row>(`SELECT ${COLUMNS} FROM clients WHERE account_id = $1 ORDER BY created_at DESC, client_id`, [
      accountId,
    ]);
    return rows.map(record);
  }

  /** Applies a developer's changes to the metadata oidc-provider reads; the next lookup sees them. */
  async update(clientId: string, input: ClientChanges): Promise<ClientRecord | undefined> {
    const c = ClientChanges.parse(input);
    this.checkScopes(c.scope);
    const current = await this.find(clientId);
    if (!current) return undefined;
    assertThat(
      !current.grantTypes.includes('authorization_code') || c.redirectUris.length > 0,
      'invalid_request',
      400,
      'redirect_uris: an app that signs owners in needs at least one redirect URI',
    );
    const { rows } = await this.db.query<Row>(
      `UPDATE clients SET metadata = metadata - 'scope' - 'logo_uri' - 'client_uri' - 'description' || $2::jsonb, updated_at = $3
       WHERE client_id = $1 RETURNING ${COLUMNS}`,
      [
        clientId,
        JSON.stringify({
          client_name: c.name,
          redirect_uris: c.redirectUris,
          ...(c.grantTypes ? { grant_types: c.grantTypes } : {}),
          ...(c.scope ? { scope: c.scope.split(/\s+/).join(' ') } : {}),
          ...(c.logoUri ? { logo_uri: c.logoUri } : {}),
          ...(c.homepage ? { client_uri: c.homepage } : {}),
          ...(c.description ? { description: c.description } : {}),
        }),
        this.clock.now(),
      ],
    );
    this.changed(clientId);
    return rows[0] && record(rows[0]);
  }

  /**
   * Disables or enables a client. A disabled client is not found by oidc-provider, so it can start no flow and
   * authenticate nowhere (invalid_client); its grants and tokens are revoked by the caller (src/developers).
   */
  async setDisabled(clientId: string, disabled: boolean): Promise<boolean> {
    const now = this.clock.now();
    const { rowCount } = await this.db.query('UPDATE clients SET disabled_at = $2, updated_at = $3 WHERE client_id = $1', [
      clientId,
      disabled ? now : null,
      now,
    ]);
    this.changed(clientId);
    return rowCount === 1;
  }

  /**
   * Deletes every grant, token and code issued to the client that lives in SQL (Grants always do:
   * docs/architecture.md#storage).
   */
  async revokeTokens(clientId: string): Promise<number> {
    const { rowCount } = await this.db.query(`DELETE FROM oidc_models WHERE payload->>'clientId' = $1`, [clientId]);
    return rowCount;
  }

  /** Removes the client and every grant, token and code issued to it. */
  async remove(clientId: string): Promise<boolean> {
    const removed = await this.db.transaction(async (tx) => {
      const { rowCount } = await tx.query('DELETE FROM clients WHERE client_id = $1', [clientId]);
      if (rowCount) await tx.query(`DELETE FROM oidc_models WHERE payload->>'clientId' = $1`, [clientId]);
      return rowCount === 1;
    });
    this.changed(clientId);
    return removed;
  }

  /** Its secrets, which tell this store's listener of every change as the client's own changes do. */
  secrets(): ClientSecrets {
    return new ClientSecrets(this.db, this.clock, this.changed);
  }
}

function record(r: Row): ClientRecord {
  const m = r.metadata;
  const s = summary(r.client_id, m, r.created_at);
  return {
    ...s,
    kind: ClientKind.safeParse(r.kind).data ?? kindOf(s),
    accountId: r.account_id,
    ...(typeof m.description === 'string' ? { description: m.description } : {}),
    ...(typeof m.logo_uri === 'string' ? { logoUri: m.logo_uri } : {}),
    ...(typeof m.client_uri === 'string' ? { homepage: m.client_uri } : {}),
    disabledAt: r.disabled_at ? new Date(r.disabled_at).toISOString() : null,
    updatedAt: r.updated_at ? new Date(r.updated_at).toISOString() : null,
  };
}

function summary(clientId: string, m: Record<string, unknown>, createdAt: Date): ClientSummary {
  return {
    clientId,
    name: typeof m.client_name === 'string' ? m.client_name : clientId,
    public: m.token_endpoint_auth_method === 'none',
    redirectUris: (m.redirect_uris as string[]) ?? [],
    grantTypes: (m.grant_types as string[]) ?? [],
    ...(typeof m.scope === 'string' && m.scope ? { scope: m.scope } : {}),
    ...(m.resource_server === true ? { resourceServer: true as const } : {}),
    createdAt: new Date(createdAt).toISOString(),
  };
}
