import * as oidc from 'openid-client';
import { authorize, type AuthorizeOptions, type TestBrowser } from './browser.js';

/** What an authorization request asks for; `redirect_uri` and `scope` always, anything else (prompt, resource) as given. */
export type CodeRequest = { redirect_uri: string; scope: string } & Record<string, string>;

/** An authorization code + PKCE request as openid-client builds it (S256, fresh state), with what redeems its code. */
export async function authorizationRequest(
  config: oidc.Configuration,
  request: CodeRequest,
): Promise<{ url: string; verifier: string; state: string }> {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    state,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...request,
  });
  return { url: url.href, verifier, state };
}

/**
 * The whole round trip through the real pages: the request, sign-in and consent in the test browser (`options`), and
 * the code redeemed by openid-client, which checks state, PKCE and `iss`. `grant` goes to the redemption (a DPoP
 * handle, which binds the tokens to its key).
 */
export async function codeFlow(
  config: oidc.Configuration,
  browser: TestBrowser,
  request: CodeRequest,
  options: AuthorizeOptions = {},
  grant: oidc.AuthorizationCodeGrantOptions = {},
) {
  const { url, verifier, state } = await authorizationRequest(config, request);
  const callback = await authorize(browser, url, options);
  return oidc.authorizationCodeGrant(config, new URL(callback), { pkceCodeVerifier: verifier, expectedState: state }, undefined, grant);
}
