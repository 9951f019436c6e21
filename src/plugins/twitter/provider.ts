import type { Config } from '../../config.js';
import type { UpstreamProviderInput } from '../../upstream/provider-config.js';

/**
 * X as an upstream OAuth 2.0 provider, for the generic client (src/upstream/). Offered only when the operator has an
 * X developer app. X wants PKCE for every client; `offline.access` is what makes it issue a refresh token.
 */
export function xProvider(config: Config): UpstreamProviderInput[] {
  if (!config.X_CLIENT_ID) return [];
  return [
    {
      id: 'x',
      title: 'X',
      authorizationUrl: config.X_OAUTH_AUTHORIZE_URL,
      tokenUrl: config.X_OAUTH_TOKEN_URL,
      revocationUrl: `${config.X_API_URL}/2/oauth2/revoke`,
      clientId: config.X_CLIENT_ID,
      ...(config.X_CLIENT_SECRET ? { clientSecret: config.X_CLIENT_SECRET } : {}),
      scopes: ['tweet.read', 'tweet.write', 'users.read', 'offline.access'],
      usePkce: true,
      // Confidential X apps authenticate with HTTP Basic; public ones send client_id in the body.
      tokenAuthMethod: config.X_CLIENT_SECRET ? 'basic' : 'post',
      scopeSeparator: ' ',
      profileUrl: `${config.X_API_URL}/2/users/me`,
      // X nests the user: { data: { id, username, name } }.
      profileLabelField: 'data.username',
    },
  ];
}
