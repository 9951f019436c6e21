import Provider, { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { PrivateJwk } from '../keys/keystore.js';
import type { ScopeCatalog } from '../../scopes/catalog.js';
import { secretMatches } from '../clients/secrets.js';
import type { AccountStore } from '../accounts/accounts.js';
import { errorPage } from '../web/error-page.js';
import { fetchConfiguration, isForeignClient, registrationFeatures, validateForeignClient } from './registration.js';
import { acceptResourceTokensAtUserinfo } from './userinfo.js';
import { DPOP_SIGNING_ALGS } from './dpop-algorithms.js';
import { exactly, onlyFor } from '../http/paths.js';
import { PROVIDER_ROUTES } from './routes.js';
import type { Database } from '../db/database.js';
import { registerTokenExchange } from './token-exchange.js';
import { revokeDescendants } from '../grants/revoke.js';
import { audienceOf } from './audience.js';

export interface ProviderDeps {
  config: Config;
  logger: Logger;
  /** Storage; undefined means oidc-provider's in-memory adapter, which only the benchmark's baseline uses. */
  adapter: Configuration['adapter'];
  signingKeys: PrivateJwk[];
  cookieKeys: string[];
  accounts: AccountStore;
  /** The scopes this server knows (scopes/catalog.ts). */
  scopes: ScopeCatalog;
  /** Clients defined in code (the first-party ones; the benchmark's baseline); registered clients live in the database. */
  clients?: Configuration['clients'];
  /** Whether this request may make oauth3 fetch an uncached client metadata document (rate limit per address). */
  allowMetadataFetch?: (ctx: KoaContextWithOIDC) => Promise<boolean>;
  /**
   * The pages oidc-provider renders itself (RP-initiated logout's confirmation, the device flow's code entry,
   * confirmation and outcome), from the interaction pages; none: oidc-provider's own (the benchmark's baseline).
   */
  pages?: ProviderPages;
  /** The newest live grant an owner gave a client, so consent is remembered across browser sessions. */
  findGrantId?: (accountId: string, clientId: string) => Promise<string | undefined>;
  /**
   * The database, for token exchange (RFC 8693, token-exchange.ts) and revoking exchanged grants along with theirs;
   * without it (the benchmark's baseline) there is no token exchange.
   */
  db?: Database;
}

type Features = NonNullable<Configuration['features']>;
type DeviceFlow = NonNullable<Features['deviceFlow']>;

/** The pages of oidc-provider's own routes, rendered by oauth3's interaction pages (interactions/). */
export interface ProviderPages {
  logoutSource: NonNullable<NonNullable<Features['rpInitiatedLogout']>['logoutSource']>;
  deviceFlow: Pick<DeviceFlow, 'userCodeInputSource' | 'userCodeConfirmSource' | 'successSource'>;
}

const ASYMMETRIC = ['ES256', 'RS256', 'PS256', 'EdDSA'];

/**
 * One of our protected resources as oidc-provider's resource server (RFC 8707): its audience, token format and scopes.
 * The resource API (RESOURCE_URL) unless `audience` names the MCP server (MCP_URL); both take the same scopes.
 */
export function resourceServerInfo(
  config: Pick<Config, 'RESOURCE_URL' | 'ACCESS_TOKEN_TTL'>,
  scopes: ScopeCatalog,
  accessTokenTTL = config.ACCESS_TOKEN_TTL,
  audience = config.RESOURCE_URL,
) {
  return { audience, accessTokenTTL, accessTokenFormat: 'opaque' as const, scope: scopes.resourceScopes().join(' ') };
}

/**
 * Client metadata `resource_server: true` marks a confidential client that runs a resource server: it may
 * introspect any access token for our resource API, which is how it checks a bearer token it was sent.
 */
export const RESOURCE_SERVER_METADATA = 'resource_server';

/** The models that are access tokens for the resource API (RFC 7662 §2.2 "access_token"). */
const ACCESS_TOKEN_KINDS = new Set(['AccessToken', 'ClientCredentials']);
/** oidc-provider's error_description when a client asks for a grant type it did not register. */
const GRANT_NOT_ALLOWED = 'requested grant type is not allowed for this client';
/** Its error_description at the device authorization endpoint for a client not registered for the device grant. */
const DEVICE_GRANT_NOT_ALLOWED = 'urn:ietf:params:oauth:grant-type:device_code is not allowed for this client';
/** oidc-provider's routes where an owner approves a device's request (RFC 8628 §3.3). */
const DEVICE_ROUTES = new Set(['code_verification', 'device_resume']);

/**
 * oidc-provider is the protocol engine: everything here is configuration, never a re-implementation.
 * OAuth 2.1 profile: code flow only, PKCE S256 for every client, rotating refresh tokens, RFC 8707 audiences.
 */
export function createProvider({
  config,
  logger,
  adapter,
  signingKeys,
  cookieKeys,
  accounts,
  clients = [],
  findGrantId,
  allowMetadataFetch,
  pages,
  scopes,
  db,
}: ProviderDeps): Provider {
  const secureCookies = new URL(config.ISSUER).protocol === 'https:';

  const configuration: Configuration = {
    adapter,
    clients,
    routes: PROVIDER_ROUTES,
    jwks: { keys: signingKeys },
    cookies: {
      keys: cookieKeys,
      long: { httpOnly: true, sameSite: 'lax', signed: true, secure: secureCookies },
      short: { httpOnly: true, sameSite: 'lax', signed: true, secure: secureCookies },
    },
    scopes: [...scopes.oidcScopes(), ...scopes.resourceScopes()],
    claims: { openid: ['sub'], profile: ['name'] },
    responseTypes: ['code'],
    pkce: { required: () => true },
    rotateRefreshToken: true,
    issueRefreshToken: async (_ctx, client, source) => client.grantTypeAllowed('refresh_token') && source.scopes.has('offline_access'),
    // An exchanged token's `act` and parent client (token-exchange.ts), set when it is made, stay in its payload, where
    // introspection prints them; other tokens have none.
    extraTokenClaims: async (_ctx, token) => (token as { extra?: Record<string, unknown> }).extra,
    clientAuthMethods: ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    extraClientMetadata: {
      properties: [RESOURCE_SERVER_METADATA],
      validator: (ctx, key, value, metadata) => {
        // Once per client (the validator runs for each extra property): a client registering itself (RFC 7591/7592)
        // or described by a metadata document meets the developer portal's rules (registration.ts).
        const extra = configuration.extraClientMetadata?.properties ?? [];
        if (key === extra[0] && isForeignClient(ctx, metadata)) validateForeignClient(metadata, extra, scopes);
        if (key !== RESOURCE_SERVER_METADATA || value === undefined) return;
        if (typeof value !== 'boolean') throw new errors.InvalidClientMetadata(`${key} must be a boolean`);
        // Introspection needs client authentication worth the name: a public client cannot be a resource server.
        if (value && metadata.token_endpoint_auth_method === 'none')
          throw new errors.InvalidClientMetadata(`${key} needs a confidential client`);
      },
    },
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
    },
    enabledJWA: {
      idTokenSigningAlgValues: ['ES256', 'RS256'],
      userinfoSigningAlgValues: ['ES256', 'RS256'],
      introspectionSigningAlgValues: ['ES256', 'RS256'],
      authorizationSigningAlgValues: ['ES256', 'RS256'],
      requestObjectSigningAlgValues: ASYMMETRIC as never,
      clientAuthSigningAlgValues: ASYMMETRIC as never,
      // The proofs the token endpoint binds tokens with are the ones the resource API accepts (threat model J5).
      dPoPSigningAlgValues: DPOP_SIGNING_ALGS as never,
    },
    ttl: {
      AccessToken: config.ACCESS_TOKEN_TTL,
      ClientCredentials: config.ACCESS_TOKEN_TTL,
      AuthorizationCode: config.AUTHORIZATION_CODE_TTL,
      IdToken: config.ID_TOKEN_TTL,
      RefreshToken: config.REFRESH_TOKEN_TTL,
      Grant: config.GRANT_TTL,
      Session: config.SESSION_TTL,
      Interaction: config.INTERACTION_TTL,
      DeviceCode: config.DEVICE_CODE_TTL,
    },
    features: {
      devInteractions: { enabled: false },
      // A client may introspect or revoke only tokens issued to it (RFC 7662 §4, RFC 7009 §2.1).
      revocation: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      // A resource server (RESOURCE_SERVER_METADATA) may also introspect every access token whose audience is our API:
      // an owner's (AccessToken) and a machine's or agent service's (ClientCredentials), never a refresh token
      // (threat model G7).
      introspection: {
        enabled: true,
        allowedPolicy: async (_ctx, client, token) =>
          token.clientId === client.clientId ||
          (client[RESOURCE_SERVER_METADATA] === true &&
            ACCESS_TOKEN_KINDS.has(token.kind) &&
            audienceOf((token as { aud?: string | string[] }).aud).includes(config.RESOURCE_URL)),
      },
      clientCredentials: { enabled: true },
      // RFC 7591/7592 dynamic registration (REGISTRATION) and client ID metadata documents: registration.ts.
      ...registrationFeatures(config, allowMetadataFetch),
      // RFC 8628 for headless agents and CLIs; its pages are interactions/device-flow.ts.
      // User codes are eight letters from a 20-letter alphabet without vowels or look-alikes (BCDF-GHJK): easy to
      // type, about 34 bits (RFC 8628 §6.1), which with the guess limit at the verification page leaves brute force
      // no chance within a code's lifetime.
      deviceFlow: { enabled: true, charset: 'base-20', mask: '****-****', ...pages?.deviceFlow },
      userinfo: { enabled: true },
      rpInitiatedLogout: { enabled: true, ...(pages ? { logoutSource: pages.logoutSource } : {}) },
      resourceIndicators: {
        enabled: true,
        // A request for resource scopes without `resource` means our resource API (RFC 8707 §2).
        defaultResource: async (ctx, _client, oneOf) => {
          if (oneOf) return oneOf;
          const scope = ctx.oidc.params?.scope;
          const requested = typeof scope === 'string' ? scope.split(' ') : [];
          return requested.some((scope) => scopes.isResourceScope(scope)) ? config.RESOURCE_URL : undefined;
        },
        useGrantedResource: async () => true,
        // Our two protected resources and nothing else: the resource API and the MCP server.
        getResourceServerInfo: async (_ctx, indicator) => {
          if (indicator !== config.RESOURCE_URL && indicator !== config.MCP_URL) throw new errors.InvalidTarget();
          return resourceServerInfo(config, scopes, config.ACCESS_TOKEN_TTL, indicator);
        },
      },
    },
    // Browsers may call the token endpoints only from the origin of one of the client's redirect URIs.
    clientBasedCORS: (_ctx, origin, client) =>
      client.redirectUris?.some((uri) => URL.canParse(uri) && new URL(uri).origin === origin) ?? false,
    // oidc-provider's default looks the grant up only through the browser session; an owner who signs in on a new
    // device has still consented, so fall back to the stored grant for this owner and app.
    loadExistingGrant: async (ctx) => {
      const { client, session, result } = ctx.oidc;
      if (!client || !session?.accountId) return undefined;
      // A device request is always approved afresh on the consent page, never by an earlier grant: whoever opens a
      // link with someone else's user code must see what they would hand over (RFC 8628 §5.4, remote phishing).
      if (DEVICE_ROUTES.has(ctx.oidc.route)) {
        return result?.consent?.grantId ? ctx.oidc.provider.Grant.find(result.consent.grantId) : undefined;
      }
      const grantId =
        result?.consent?.grantId ?? session.grantIdFor(client.clientId) ?? (await findGrantId?.(session.accountId, client.clientId));
      return grantId ? ctx.oidc.provider.Grant.find(grantId) : undefined;
    },
    interactions: { url: async (_ctx, interaction) => `/interaction/${interaction.uid}` },
    // Client metadata documents and client key sets are fetched from public https addresses only (SSRF, G3).
    ...fetchConfiguration(config),
    findAccount: async (ctx, sub) => {
      const account = await accounts.find(sub, ctx);
      if (!account || account.disabledAt) return undefined;
      return { accountId: account.id, claims: async () => ({ sub: account.id }) };
    },
    renderError: async (ctx: KoaContextWithOIDC, out) => {
      ctx.type = 'html';
      ctx.body = errorPage({
        title: 'This request cannot continue',
        message: out.error_description ? `${out.error}: ${out.error_description}` : out.error,
        requestId: ctx.state.requestId as string | undefined,
      });
    },
  };

  const provider = new Provider(config.ISSUER, configuration);
  // A mixed `openid … tweet.read` request's token (audience: the resource API) works at userinfo too (G8).
  acceptResourceTokensAtUserinfo(provider, config);

  // Stored client secrets are digests (docs/architecture.md#tokens): compare the presented secret's digest in
  // constant time.
  // `clientSecret` holds every live digest of the client, space-separated (adapters/clients.ts): any one matches (F3).
  provider.Client.prototype.compareClientSecret = function compareClientSecret(this: { clientSecret?: string }, actual: string) {
    return secretMatches(this.clientSecret, actual);
  };

  // RFC 6749 §5.2: failed client authentication is 401 invalid_client, with a Basic challenge when Basic was tried.
  // oidc-provider throws its 400 InvalidClient for an expired secret; make it the 401 every other failure gets (B6).
  const checkSecretExpiration = provider.Client.prototype.checkClientSecretExpiration as (message: string, errorOverride?: string) => void;
  provider.Client.prototype.checkClientSecretExpiration = function checkClientSecretExpiration(
    this: unknown,
    message: string,
    errorOverride?: string,
  ) {
    try {
      checkSecretExpiration.call(this, message, errorOverride);
    } catch (error) {
      if (errorOverride || !(error instanceof errors.InvalidClient) || !message.startsWith('could not authenticate the client'))
        throw error;
      throw new errors.InvalidClientAuth(message);
    }
  };

  // RFC 6749 §5.2 names the error for a grant type the client did not register: unauthorized_client. oidc-provider v9
  // answers invalid_request; rename it on the way out so a client can tell "not allowed" from "malformed" (B7).
  provider.use(
    onlyFor(exactly(PROVIDER_ROUTES.token, PROVIDER_ROUTES.device_authorization), async function unauthorizedGrantType(ctx, next) {
      await next();
      const body = ctx.body as { error?: unknown; error_description?: unknown } | undefined;
      if (
        ctx.status === 400 &&
        body?.error === 'invalid_request' &&
        (body.error_description === GRANT_NOT_ALLOWED || body.error_description === DEVICE_GRANT_NOT_ALLOWED)
      ) {
        body.error = 'unauthorized_client';
      }
    }),
  );

  if (db) {
    // RFC 8693 token exchange for clients that register it (grant_types), listed in discovery.
    registerTokenExchange(provider, {
      config,
      db,
      scopes,
      logger,
      resourceServer: (lifetime, audience) => resourceServerInfo(config, scopes, lifetime, audience),
    });
    // oidc-provider revokes grants itself (a replayed refresh token or code, the revocation endpoint): the grants
    // exchanged from one go with it. They are refused at once anyway (every ancestor must exist, src/resource/tokens.ts);
    // this removes their tokens for introspection too.
    provider.on('grant.revoked', (ctx, grantId: string) => {
      revokeDescendants(provider, db, grantId).catch((err: unknown) =>
        logger.error({ err, requestId: ctx.state.requestId, grantId }, 'could not revoke the grants exchanged from a revoked grant'),
      );
    });
  }

  provider.on('server_error', (ctx, error) => {
    logger.error({ err: error, requestId: ctx.state.requestId, route: ctx.oidc?.route }, 'oidc-provider server error');
  });
  provider.on('grant.revoked', (ctx, grantId) => {
    logger.info({ requestId: ctx.state.requestId, grantId }, 'grant revoked');
  });
  return provider;
}
