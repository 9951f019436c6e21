import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Database } from '../db/database.js';
import { hashSecret, newClientSecret } from '../../adapters/clients.js';
import { resourceScopes, oidcScopes } from '../../scopes/catalog.js';

const loopback = (u: URL) => ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname);

/** Redirect URIs must be exact, https (or loopback http for native apps), without fragments or wildcards (F1). */
export const RedirectUri = z.string().max(2000).refine((value) => {
  if (!URL.canParse(value) || value.includes('*')) return false;
  const u = new URL(value);
  if (u.hash || value.includes('#')) return false;
  if (u.protocol === 'https:') return true;
  if (u.protocol === 'http:') return loopback(u);
  // Private-use schemes for native apps (RFC 8252 §7.1) need a reverse-domain name; never script or data URLs.
  return /^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/.test(u.protocol) && !['javascript:', 'data:', 'file:', 'vbscript:'].includes(u.protocol);
}, 'must be an exact https URL (or http on localhost), without a fragment or wildcard');

export const NewClient = z.object({
  name: z.string().trim().min(1).max(100),
  redirectUris: z.array(RedirectUri).max(20).default([]),
  public: z.boolean().default(false),
  grantTypes: z.array(z.enum(['authorization_code', 'refresh_token', 'client_credentials'])).min(1).default(['authorization_code', 'refresh_token']),
  scope: z.string().optional().refine((s) => !s || s.split(' ').every((x) => [...oidcScopes(), ...resourceScopes()].includes(x)), 'unknown scope'),
  logoUri: z.url({ protocol: /^https$/ }).optional(),
  idTokenAlg: z.enum(['ES256', 'RS256']).default('ES256'),
  /** A resource server may introspect every access token for the resource API (provider.ts, RESOURCE_SERVER_METADATA). */
  resourceServer: z.boolean().default(false),
}).refine((c) => !c.grantTypes.includes('authorization_code') || c.redirectUris.length > 0, {
  message: 'an app that signs owners in needs at least one --redirect-uri', path: ['redirectUris'],
}).refine((c) => !(c.public && c.grantTypes.includes('client_credentials')), {
  message: 'a public client has no secret, so it cannot use client_credentials', path: ['grantTypes'],
}).refine((c) => !(c.public && c.resourceServer), {
  message: 'a resource server must authenticate to introspect tokens, so it cannot be public', path: ['resourceServer'],
});
export type NewClient = z.input<typeof NewClient>;

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

/** Registered clients; the secret is returned once, at creation, and only its digest is kept (F2). */
export class ClientStore {
  constructor(private readonly db: Database) {}

  async add(input: NewClient): Promise<{ client: ClientSummary; clientSecret?: string }> {
    const c = NewClient.parse(input);
    const clientId = `c_${randomBytes(12).toString('base64url')}`;
    const clientSecret = c.public ? undefined : newClientSecret();
    const metadata = {
      client_name: c.name,
      redirect_uris: c.redirectUris,
      grant_types: c.grantTypes,
      response_types: c.grantTypes.includes('authorization_code') ? ['code'] : [],
      token_endpoint_auth_method: c.public ? 'none' : 'client_secret_basic',
      id_token_signed_response_alg: c.idTokenAlg,
      ...(c.scope ? { scope: c.scope } : {}),
      ...(c.logoUri ? { logo_uri: c.logoUri } : {}),
      ...(c.resourceServer ? { resource_server: true } : {}),
    };
    const { rows } = await this.db.query<{ created_at: Date }>(
      'INSERT INTO clients (client_id, metadata, secret_hash) VALUES ($1, $2, $3) RETURNING created_at',
      [clientId, metadata, clientSecret ? hashSecret(clientSecret) : null],
    );
    return { client: summary(clientId, metadata, rows[0]!.created_at), clientSecret };
  }

  async list(): Promise<ClientSummary[]> {
    const { rows } = await this.db.query<{ client_id: string; metadata: Record<string, unknown>; created_at: Date }>(
      'SELECT client_id, metadata, created_at FROM clients ORDER BY created_at, client_id',
    );
    return rows.map((r) => summary(r.client_id, r.metadata, r.created_at));
  }

  /** Removes the client and every grant, token and code issued to it. */
  async remove(clientId: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const { rowCount } = await tx.query('DELETE FROM clients WHERE client_id = $1', [clientId]);
      if (rowCount) await tx.query(`DELETE FROM oidc_models WHERE payload->>'clientId' = $1`, [clientId]);
      return rowCount === 1;
    });
  }
}

function summary(clientId: string, m: Record<string, unknown>, createdAt: Date): ClientSummary {
  return {
    clientId,
    name: String(m.client_name ?? clientId),
    public: m.token_endpoint_auth_method === 'none',
    redirectUris: (m.redirect_uris as string[]) ?? [],
    grantTypes: (m.grant_types as string[]) ?? [],
    ...(m.scope ? { scope: String(m.scope) } : {}),
    ...(m.resource_server === true ? { resourceServer: true as const } : {}),
    createdAt: new Date(createdAt).toISOString(),
  };
}
