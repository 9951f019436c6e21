import Provider from 'oidc-provider';
import type { Config } from '../config.js';
import { audienceOf } from './audience.js';

/**
 * Userinfo (OpenID Connect Core §5.3) accepts the access token of a mixed request such as `openid profile tweet.read`
 * (threat model G8). Such a token is issued for the resource API (RFC 8707: audience RESOURCE_URL, resource scopes
 * only), and oidc-provider's userinfo action takes only tokens without an audience that carry `openid` themselves, so
 * `fetchUserInfo()` of every OpenID Connect library failed with the token it was just given.
 *
 * oidc-provider still runs the whole userinfo action (sender constraint, DPoP proof, account, grant, claims); only
 * the token it finds there is seen as the userinfo token its grant entitles it to: no audience, and the grant's
 * OpenID scopes. That holds only when the token's one audience is our resource API and its grant holds `openid`
 * (the owner let this app know who they are); every other token is left exactly as stored, so a token whose grant
 * lacks `openid` (an API-only app's, an owner-minted agent token) is still refused there. Nothing changes outside the
 * userinfo route: the resource API, introspection and revocation see the token as issued.
 */
export function acceptResourceTokensAtUserinfo(provider: Provider, config: Pick<Config, 'RESOURCE_URL'>): void {
  const { AccessToken } = provider;
  const find = AccessToken.find.bind(AccessToken) as (
    value: string,
    options?: object,
  ) => Promise<InstanceType<typeof AccessToken> | undefined>;
  AccessToken.find = async function findForUserinfo(value: string, options?: object) {
    const token = await find(value, options);
    const ctx = Provider.ctx;
    if (!token || ctx?.oidc?.route !== 'userinfo') return token;
    const audience = audienceOf(token.aud);
    if (audience.length !== 1 || audience[0] !== config.RESOURCE_URL || !token.grantId) return token;
    const grant = await provider.Grant.find(token.grantId);
    // The grant must be this token's own (oidc-provider checks it again before answering).
    if (!grant || grant.clientId !== token.clientId || grant.accountId !== token.accountId) return token;
    const scope = grant.getOIDCScope();
    if (!scope.split(' ').includes('openid')) return token;
    token.aud = undefined;
    token.scope = scope;
    return token;
  } as typeof AccessToken.find;
}
