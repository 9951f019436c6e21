import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { Owner } from '../helpers/owner.js';
import { CONSOLE_CLIENT_ID, consentImplied } from '../../src/provider/first-party.js';

/**
 * First-party clients get nothing a third-party client would need consent for (docs/threat-model.md J6): any page on
 * the web can send a signed-in owner's browser to /auth as the console's client, so that client may ask for the
 * owner's identity and nothing else, and the console's callback leaves no code alive for someone else to redeem.
 */
describe("the console's own client (J6)", () => {
  let server: TestServer;
  let owner: Owner;
  beforeAll(async () => {
    server = await startTestServer();
    owner = await Owner.signUp(server);
  });
  afterAll(async () => {
    await server?.stop();
  });

  /** An authorization request as the console's client, built by a stranger who keeps the PKCE verifier. */
  const strangersRequest = (params: Record<string, string>) => {
    const verifier = randomBytes(32).toString('base64url');
    const query = new URLSearchParams({
      client_id: CONSOLE_CLIENT_ID,
      response_type: 'code',
      redirect_uri: `${server.url}/console/callback`,
      state: randomBytes(8).toString('hex'),
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      ...params,
    });
    return { url: `/auth?${query}`, verifier };
  };

  it.each([
    ['tweet.post beside openid', { scope: 'openid tweet.post' }],
    ['tweet.post with the resource API as the resource', { scope: 'openid tweet.post', resource: '' }],
    ['the profile', { scope: 'openid profile' }],
  ])("refuses %s to a signed-in owner's browser, with no code and no consent page skipped", async (_name, params) => {
    const { url } = strangersRequest('resource' in params ? { ...params, resource: server.config.RESOURCE_URL } : params);
    const res = await owner.browser.request(url);
    await res.arrayBuffer();
    expect([302, 303]).toContain(res.status);
    const location = new URL(res.headers.get('location')!, server.url);
    expect(location.pathname).toBe('/console/callback');
    expect(location.searchParams.get('error')).toBe('invalid_scope');
    expect(location.searchParams.has('code')).toBe(false);
  });

  it('burns the code its callback receives for a flow this browser did not start', async () => {
    const { url, verifier } = strangersRequest({ scope: 'openid' });
    // The owner's browser goes through without a page (the console's sign-in needs no consent) and lands on the
    // callback, which refuses the unknown state.
    const { url: landed, response } = await owner.browser.navigate(url);
    await response.arrayBuffer();
    const callback = new URL(landed);
    expect(callback.pathname).toBe('/console/callback');
    expect(response.status).toBe(400);
    const code = callback.searchParams.get('code');
    expect(code).toEqual(expect.any(String));
    // Whoever learns that code, with the verifier in hand, gets nothing for it.
    const redeemed = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: code!,
        redirect_uri: `${server.url}/console/callback`,
        code_verifier: verifier,
        client_id: CONSOLE_CLIENT_ID,
      }),
    });
    expect(redeemed.status).toBe(400);
    expect(((await redeemed.json()) as { error: string }).error).toBe('invalid_grant');
  });

  it('still signs the owner in to the console, burning its own code too', async () => {
    const res = await owner.browser.request('/console/login');
    const { url: landed, response } = await owner.browser.navigate(res.headers.get('location')!);
    expect(response.status).toBe(200);
    expect(new URL(landed).pathname).toBe('/console');
    await response.arrayBuffer();
  });

  it("implies consent only for what the console's page needs", () => {
    expect(consentImplied(CONSOLE_CLIENT_ID, { oidcScopes: ['openid'] })).toBe(true);
    expect(consentImplied(CONSOLE_CLIENT_ID, { oidcScopes: ['openid', 'profile'] })).toBe(false);
    expect(
      consentImplied(CONSOLE_CLIENT_ID, { oidcScopes: ['openid'], resourceScopes: { [server.config.RESOURCE_URL]: ['tweet.post'] } }),
    ).toBe(false);
    expect(consentImplied(CONSOLE_CLIENT_ID, { oidcScopes: ['openid'], claims: ['email'] })).toBe(false);
    expect(consentImplied('oauth3-playground', { oidcScopes: ['openid'] })).toBe(false);
  });
});
