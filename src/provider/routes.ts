import type { Configuration } from 'oidc-provider';

/**
 * oidc-provider's endpoints, given to it explicitly (they are its defaults) so that every guard of ours names the
 * same paths its router serves.
 */
export const PROVIDER_ROUTES = {
  authorization: '/auth',
  backchannel_authentication: '/backchannel',
  code_verification: '/device',
  challenge: '/challenge',
  device_authorization: '/device/auth',
  end_session: '/session/end',
  introspection: '/token/introspection',
  jwks: '/jwks',
  pushed_authorization_request: '/request',
  registration: '/reg',
  revocation: '/token/revocation',
  token: '/token',
  userinfo: '/me',
  credential: '/credential',
} as const satisfies NonNullable<Configuration['routes']>;

/**
 * Every fixed path oidc-provider's router matches, case-insensitively: the routes above, the ones it derives from
 * them (lib/helpers/initialize_app.js) and its discovery documents. The front door restores their case
 * (src/http/canonical-path.ts), so a guard comparing exactly sees what the router dispatches on.
 */
export const PROVIDER_FIXED_PATHS: readonly string[] = [
  ...Object.values(PROVIDER_ROUTES),
  `${PROVIDER_ROUTES.end_session}/confirm`,
  `${PROVIDER_ROUTES.end_session}/success`,
  '/.well-known/openid-configuration',
  '/.well-known/oauth-authorization-server',
  '/.well-known/openid-credential-issuer',
];

/**
 * oidc-provider's endpoints that only API clients call, which answer their own errors and which none of our pages,
 * routers or guards act on: src/app.ts sends them past all of those with one check. Compared with the canonical path.
 */
export const PROVIDER_API_PATHS: readonly string[] = [
  PROVIDER_ROUTES.token,
  PROVIDER_ROUTES.introspection,
  PROVIDER_ROUTES.revocation,
  PROVIDER_ROUTES.userinfo,
  PROVIDER_ROUTES.jwks,
  '/.well-known/openid-configuration',
];
