import { randomBytes } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import type { Database } from '../db/database.js';
import { AppError, notFound } from '../errors.js';
import { isPublicAddress } from '../provider/outbound-fetch.js';
import type { Vault, VaultRecord } from '../vault/vault.js';
import { UpstreamProviderConfig, type UpstreamFetch, type UpstreamProvider } from './provider-config.js';
import { isOwnProviderId, OWN_PREFIX } from './own-ids.js';

/** Host names that are never on the public internet, refused before any fetch (their addresses are checked too). */
const LOCAL_NAMES = /(^|\.)(localhost|local|internal|intranet|lan|home\.arpa|localdomain)$/;

const invalid = (message: string) => new AppError('invalid_provider', 400, message);

/** Each field as the console's form names it, so a refusal reads in the owner's words. */
const LABELS: Record<string, string> = {
  title: 'Name of the service',
  slug: 'Id',
  authorizationUrl: 'Authorization URL',
  tokenUrl: 'Token URL',
  clientId: 'Client ID',
  clientSecret: 'Client secret',
  scopes: 'Scopes',
  usePkce: 'Use PKCE',
  tokenAuthMethod: 'How the secret is sent',
  apiBaseUrl: 'API base URL',
  allowedPaths: 'Allowed API paths',
};

/** zod's first problem, named by the form's label. */
function problem(issues: readonly { path: PropertyKey[]; message: string; code: string; keys?: string[] }[]): AppError {
  const issue = issues[0]!;
  if (issue.code === 'unrecognized_keys') return invalid(`Unknown field: ${issue.keys?.join(', ')}`);
  const field = String(issue.path[0] ?? '');
  return invalid(`${LABELS[field] ?? (field || 'Form')}: ${issue.message}`);
}

/**
 * What an owner may set. The rules are UpstreamProviderConfig's (checked again below on the whole provider); fields
 * an owner does not need (revocation, profile, extra parameters) are left out to keep the form plain.
 */
export const OwnerProviderInput = z
  .object({
    title: z.string().trim().min(1, 'give the service a name').max(60),
    /** The part after `own-`; derived from the title when left out. */
    slug: z
      .string()
      .trim()
      .regex(/^[a-z0-9][a-z0-9-]{0,27}$/, 'lower-case letters, digits and dashes, at most 28')
      .optional(),
    authorizationUrl: z.string().trim().min(1, 'required'),
    tokenUrl: z.string().trim().min(1, 'required'),
    clientId: z.string().trim().min(1, 'required').max(500),
    /** A new secret; left out (or empty) keeps the one saved. */
    clientSecret: z.string().max(2000).optional(),
    /** Forget the saved secret (a public client using PKCE alone). */
    removeSecret: z.boolean().default(false),
    scopes: z.union([z.array(z.string()), z.string()]).default([]),
    usePkce: z.boolean().default(true),
    tokenAuthMethod: z.enum(['basic', 'post']).default('basic'),
    apiBaseUrl: z.string().trim().optional(),
    allowedPaths: z.union([z.array(z.string()), z.string()]).optional(),
  })
  .strict();
export type OwnerProviderInput = z.input<typeof OwnerProviderInput>;

/** What the console shows of an owner's provider: everything but the secret, of which only whether it is set. */
export interface OwnerProviderView {
  id: string;
  title: string;
  authorization_url: string;
  token_url: string;
  client_id: string;
  client_secret_set: boolean;
  scopes: string[];
  use_pkce: boolean;
  token_auth_method: 'basic' | 'post';
  api_base_url: string | null;
  allowed_paths: string[];
  created_at: string;
  updated_at: string;
}

interface Row {
  key: string;
  account_id: string;
  provider: string;
  settings: Omit<UpstreamProviderConfig, 'clientSecret'>;
  has_secret: boolean;
  sealed: string;
  created_at: Date;
  updated_at: Date;
}

/** The vault record of an owner provider's secret: bound to the owner, the provider id and the row. */
export const ownerProviderRecord = (r: { key: string; account_id: string; provider: string }): VaultRecord => ({
  accountId: r.account_id,
  provider: r.provider,
  id: r.key,
});

const list = (value: string | string[] | undefined, split: RegExp): string[] =>
  (Array.isArray(value) ? value : (value ?? '').split(split)).map((s) => s.trim()).filter(Boolean);

const slugOf = (title: string) =>
  title
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 28)
    .replace(/-+$/, '');

export interface OwnerProviderOptions {
  /** Development and tests only: `host:port` that may be private and plain http (UPSTREAM_OWN_ALLOW_HOSTS). */
  allowHosts: readonly string[];
  /** The address-checked fetch every call to an owner's provider goes through (src/provider/outbound-fetch.ts). */
  fetch: UpstreamFetch;
}

/**
 * An owner's URL, refused unless it is https on a public host (SSRF, threat model G17): a private, loopback or
 * link-local literal address or a local name is refused here with a clear message, and a name resolving to such an
 * address is refused by the guarded fetch at every call. Hosts in UPSTREAM_OWN_ALLOW_HOSTS (never in production)
 * are let through, over http too.
 */
export function checkOwnUrl(name: string, value: string, allowHosts: readonly string[]): string {
  const field = LABELS[name] ?? name;
  if (!URL.canParse(value)) throw invalid(`${field}: is not a URL (it should look like https://example.com/oauth/authorize)`);
  const url = new URL(value);
  const allowed = allowHosts.includes(`${url.hostname}:${url.port || (url.protocol === 'http:' ? '80' : '443')}`);
  if (url.protocol !== 'https:' && !(allowed && url.protocol === 'http:')) throw invalid(`${field}: must start with https://`);
  if (url.username || url.password) throw invalid(`${field}: must not contain a user name or password`);
  if (url.hash) throw invalid(`${field}: must not contain a # part`);
  if (allowed) return url.toString();
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (ipaddr.isValid(host) ? !isPublicAddress(host) : LOCAL_NAMES.test(host) || !host.includes('.'))
    throw invalid(`${field}: must be on the public internet, not a private or local address`);
  return url.toString();
}

/**
 * "Bring your own OAuth app": upstream providers an owner adds in the console (owner_providers table), usable by that
 * owner only; the client secret is sealed in the vault and never shown again. Every read is by owner: another owner's provider is "not found",
 * exactly like one that does not exist.
 */
export class OwnerProviderStore {
  constructor(
    private readonly db: Database,
    private readonly vault: Vault,
    private readonly options: OwnerProviderOptions,
  ) {}

  async list(accountId: string): Promise<OwnerProviderView[]> {
    const { rows } = await this.db.query<Row>('SELECT * FROM owner_providers WHERE account_id = $1 ORDER BY provider', [accountId]);
    return rows.map(viewOf);
  }

  async view(accountId: string, id: string): Promise<OwnerProviderView | undefined> {
    const row = await this.row(accountId, id);
    return row && viewOf(row);
  }

  /** The provider as the upstream client uses it, its secret opened; undefined for an unknown id or another owner's. */
  async find(accountId: string, id: string): Promise<UpstreamProvider | undefined> {
    if (!isOwnProviderId(id) || !accountId) return undefined;
    const row = await this.row(accountId, id);
    if (!row) return undefined;
    const { clientSecret } = this.vault.open<{ clientSecret?: string }>(ownerProviderRecord(row), row.sealed);
    return { ...row.settings, ...(clientSecret ? { clientSecret } : {}), ownerId: row.account_id, fetch: this.options.fetch };
  }

  /**
   * Adds a provider, or replaces the settings of this owner's provider `id` (its id stays). Throws 400
   * invalid_provider naming the field, 409 when the id is taken.
   */
  async save(accountId: string, raw: unknown, id?: string): Promise<OwnerProviderView> {
    const input = OwnerProviderInput.safeParse(raw);
    if (!input.success) throw problem(input.error.issues);
    const existing = id ? await this.row(accountId, id) : undefined;
    if (id && !existing) throw notFound('not_found', 'No such service of yours.');
    const provider = existing?.provider ?? `${OWN_PREFIX}${input.data.slug ?? slugOf(input.data.title)}`;
    if (!/^own-[a-z0-9][a-z0-9-]{0,27}$/.test(provider)) throw invalid('Name of the service: use at least one letter or digit');
    const settings = this.settingsOf(provider, input.data);

    const previous = existing ? this.vault.open<{ clientSecret?: string }>(ownerProviderRecord(existing), existing.sealed) : {};
    const fresh = input.data.clientSecret?.trim();
    const clientSecret = input.data.removeSecret ? undefined : fresh || previous.clientSecret;
    if (!clientSecret && !settings.usePkce)
      throw invalid('Client secret: an app without a client secret must use PKCE (tick "Use PKCE", or enter the secret)');

    const key = existing?.key ?? `opr_${randomBytes(16).toString('base64url')}`;
    const sealed = this.vault.seal(ownerProviderRecord({ key, account_id: accountId, provider }), clientSecret ? { clientSecret } : {});
    const values = [key, accountId, provider, JSON.stringify(settings), Boolean(clientSecret), sealed];
    const { rows } = existing
      ? await this.db.query<Row>(
          `UPDATE owner_providers SET settings = $4, has_secret = $5, sealed = $6, updated_at = now()
           WHERE key = $1 AND account_id = $2 AND provider = $3 RETURNING *`,
          values,
        )
      : await this.db.query<Row>(
          `INSERT INTO owner_providers (key, account_id, provider, settings, has_secret, sealed) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (account_id, provider) DO NOTHING RETURNING *`,
          values,
        );
    if (!rows[0])
      throw new AppError('provider_exists', 409, `You already have a service named ${provider}: edit it, or choose another name.`);
    return viewOf(rows[0]);
  }

  async remove(accountId: string, id: string): Promise<boolean> {
    const { rowCount } = await this.db.query('DELETE FROM owner_providers WHERE account_id = $1 AND provider = $2', [accountId, id]);
    return rowCount > 0;
  }

  private async row(accountId: string, id: string): Promise<Row | undefined> {
    const { rows } = await this.db.query<Row>('SELECT * FROM owner_providers WHERE account_id = $1 AND provider = $2', [accountId, id]);
    return rows[0];
  }

  /** The settings as UpstreamProviderConfig reads them (the operator's rules), each URL checked for SSRF. */
  private settingsOf(provider: string, input: z.output<typeof OwnerProviderInput>): Omit<UpstreamProviderConfig, 'clientSecret'> {
    const { allowHosts } = this.options;
    const apiBaseUrl = input.apiBaseUrl ? checkOwnUrl('apiBaseUrl', input.apiBaseUrl, allowHosts) : undefined;
    const allowedPaths = list(input.allowedPaths, /[\s,]+/);
    const parsed = UpstreamProviderConfig.safeParse({
      id: provider,
      title: input.title,
      authorizationUrl: checkOwnUrl('authorizationUrl', input.authorizationUrl, allowHosts),
      tokenUrl: checkOwnUrl('tokenUrl', input.tokenUrl, allowHosts),
      clientId: input.clientId,
      scopes: list(input.scopes, /[\s,]+/),
      usePkce: input.usePkce,
      tokenAuthMethod: input.tokenAuthMethod,
      ...(apiBaseUrl ? { apiBaseUrl, allowedPaths: allowedPaths.length ? allowedPaths : ['/'] } : {}),
    });
    if (!parsed.success) throw problem(parsed.error.issues);
    const { clientSecret: _none, ...settings } = parsed.data;
    return settings;
  }
}

function viewOf(row: Row): OwnerProviderView {
  const s = row.settings;
  return {
    id: row.provider,
    title: s.title ?? row.provider,
    authorization_url: s.authorizationUrl,
    token_url: s.tokenUrl,
    client_id: s.clientId,
    client_secret_set: row.has_secret,
    scopes: s.scopes,
    use_pkce: s.usePkce,
    token_auth_method: s.tokenAuthMethod,
    api_base_url: s.apiBaseUrl ?? null,
    allowed_paths: s.apiBaseUrl ? s.allowedPaths : [],
    created_at: new Date(row.created_at).toISOString(),
    updated_at: new Date(row.updated_at).toISOString(),
  };
}
