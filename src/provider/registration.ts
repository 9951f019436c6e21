import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { Config } from '../config.js';
import { checkRedirectUri } from '../clients/redirect-uri.js';
import { newClientSecret } from '../clients/secrets.js';
import type { ScopeCatalog } from '../../scopes/catalog.js';
import { outboundFetch } from './outbound-fetch.js';

type Features = NonNullable<Configuration['features']>;
type Metadata = Record<string, unknown>;

/**
 * The grant types a client may give itself: those oauth3 serves where an owner approves. client_credentials is not
 * among them: its tokens act for no owner (src/resource/tokens.ts, machine callers), so only an administrator (CLI) or
 * the portal's agent services, bound to their developer, hand it out.
 */
const GRANT_TYPES = new Set([
  'authorization_code',
  'refresh_token',
  'urn:ietf:params:oauth:grant-type:device_code',
  // RFC 8693: trades one of the client's own tokens for a narrower one (src/provider/token-exchange.ts); it acts for the
  // same owner under a grant they already gave, so a client may give it itself.
  'urn:ietf:params:oauth:grant-type:token-exchange',
]);
const AUTH_METHODS = new Set(['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt']);
/** Client metadata URLs a browser or our server opens: https only, as in the developer portal (threat model D6). */
const HTTPS_URIS = ['logo_uri', 'client_uri', 'policy_uri', 'tos_uri', 'jwks_uri', 'initiate_login_uri'];
/** oidc-provider's names for the RFC 7591/7592 endpoints that create or change a client. */
const REGISTERING_ROUTES = new Set(['registration', 'client_update']);

/** The experimental draft of client ID metadata documents oidc-provider 9.13 implements; an upgrade must re-check it. */
const CIMD_DRAFT = 'draft-02';

/**
 * RFC 7591/7592 and client ID metadata documents. Registration is `off`, behind initial access tokens (`token`,
 * stored by the adapter as the InitialAccessToken model: src/registration/initial-access-tokens.ts) or `open`.
 * Registered clients get ids and secrets shaped like the CLI's; the adapter keeps only the secret's digest.
 */
export function registrationFeatures(
  config: Config,
  /** Whether this request may make oauth3 fetch a metadata document it has not cached (a per-address limit). */
  allowFetch?: (ctx: KoaContextWithOIDC) => Promise<boolean>,
): Pick<Features, 'registration' | 'registrationManagement' | 'clientIdMetadataDocument'> {
  const enabled = config.REGISTRATION !== 'off';
  return {
    registration: {
      enabled,
      initialAccessToken: config.REGISTRATION === 'token',
      idFactory: () => `c_${randomBytes(12).toString('base64url')}`,
      secretFactory: () => newClientSecret(),
      issueRegistrationAccessToken: true,
    },
    // RFC 7592 read, update and delete with the registration access token; it rotates on every update.
    registrationManagement: { enabled, rotateRegistrationAccessToken: true },
    clientIdMetadataDocument: { enabled: config.CLIENT_METADATA_DOCUMENTS, ack: CIMD_DRAFT, ...(allowFetch ? { allowFetch } : {}) },
  };
}

/** oidc-provider's outbound fetch and body limits for client metadata documents and client key sets (SSRF: G3). */
export function fetchConfiguration(config: Config): Pick<Configuration, 'fetch' | 'fetchResponseBodyLimits'> {
  return {
    fetch: outboundFetch({
      timeoutMs: config.CLIENT_METADATA_TIMEOUT_MS,
      allowHosts: config.CLIENT_METADATA_ALLOW_HOSTS,
      devCa: config.CLIENT_METADATA_DEV_CA_FILE ? readFileSync(config.CLIENT_METADATA_DEV_CA_FILE, 'utf8') : undefined,
    }) as unknown as Configuration['fetch'],
    fetchResponseBodyLimits: {
      'client_id metadata document': config.CLIENT_METADATA_MAX_BYTES,
      jwks_uri: config.CLIENT_METADATA_MAX_BYTES * 8,
      sector_identifier_uri: config.CLIENT_METADATA_MAX_BYTES * 8,
    },
  };
}

/** A client that came from outside: registered through RFC 7591/7592 now, or described by a metadata document. */
export function isForeignClient(ctx: KoaContextWithOIDC | undefined, metadata: Metadata): boolean {
  return (
    REGISTERING_ROUTES.has(String(ctx?.oidc?.route)) ||
    (typeof metadata.client_id === 'string' && metadata.client_id.startsWith('https://'))
  );
}

/**
 * The developer portal's rules for a client that registers itself, on top of oidc-provider's own
 * schema and its PKCE/OAuth 2.1 rules. `invalid_redirect_uri` for redirect URIs, `invalid_client_metadata` otherwise
 * (RFC 7591 §3.2.2). Runs synchronously inside oidc-provider's client schema (extraClientMetadata.validator).
 */
export function validateForeignClient(metadata: Metadata, extraProperties: readonly string[], scopes: ScopeCatalog): void {
  const invalid = (description: string) => new errors.InvalidClientMetadata(description);

  // The consent screen names the app: a client must say who it is (the portal's rule, 1 to 100 characters).
  const name = metadata.client_name;
  if (typeof name !== 'string' || !name.trim() || name.length > 100) throw invalid('client_name is required (1 to 100 characters)');

  // Threat model F1 and F6: the redirect URI rule every way of registering shares, and the URIs kept in
  // their normalised form (oidc-provider keeps what this schema object holds once its validators have run).
  for (const key of ['redirect_uris', 'post_logout_redirect_uris'] as const) {
    const uris = metadata[key];
    if (uris === undefined) continue;
    if (!Array.isArray(uris) || uris.length > 20) throw invalid(`${key} must be a list of at most 20 URIs`);
    metadata[key] = uris.map((uri: unknown) => {
      const checked = checkRedirectUri(uri);
      if (!checked.ok) throw invalid(`${key}: ${String(uri).slice(0, 200)} ${checked.reason}`);
      return checked.uri;
    });
  }

  // Pages the consent screen links to and key sets our server fetches are https only.
  for (const key of HTTPS_URIS) {
    const value = metadata[key];
    if (value !== undefined && (typeof value !== 'string' || !URL.canParse(value) || new URL(value).protocol !== 'https:')) {
      throw invalid(`${key} must be an https URL`);
    }
  }
  if (metadata.sector_identifier_uri !== undefined) throw invalid('sector_identifier_uri is not supported');

  // Only scopes from the catalog.
  if (metadata.scope !== undefined) {
    if (typeof metadata.scope !== 'string') throw invalid('scope must be a string');
    const unknown = scopes.unknown(metadata.scope.split(' ').filter(Boolean));
    if (unknown.length) throw invalid(`scope contains unknown values: ${unknown.join(' ').slice(0, 200)}`);
  }

  // Only the grant types and client authentication methods oauth3 serves.
  const grants = (metadata.grant_types as unknown[] | undefined) ?? [];
  const bad = grants.find((g) => !GRANT_TYPES.has(String(g)));
  if (bad !== undefined) throw invalid(`grant_types must only contain ${[...GRANT_TYPES].join(', ')}`);
  const method = metadata.token_endpoint_auth_method ?? 'client_secret_basic';
  if (typeof method !== 'string' || !AUTH_METHODS.has(method))
    throw invalid(`token_endpoint_auth_method must be one of ${[...AUTH_METHODS].join(', ')}`);

  // Our own extra metadata (such as resource_server, which may introspect every token) is for administrators only.
  for (const key of extraProperties) {
    if (metadata[key] !== undefined) throw invalid(`${key} cannot be registered`);
  }
}
