import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { Owner } from '../helpers/owner.js';
import { basic, redirectUri, type Client } from '../helpers/token-flow.js';
import { echoPlugin } from '../resource/echo-plugin.js';
import { TestBrowser } from '../helpers/browser.js';
import { eventually } from '../helpers/console-api.js';

/**
 * A resource server (a client registered with `resource_server: true`, CLI `--resource-server`) checks the tokens it is
 * sent at the introspection endpoint (RFC 7662). It must see every access token for the resource API, whoever it was
 * issued to and by which grant, and nothing else (threat model G7).
 */
describe.each(backends())('introspection by a resource server on %s storage (threat model G7)', (backend) => {
  let server: TestServer;
  let owner: Owner;
  let resourceServer: Client;
  let app: Client;

  function introspection(client: Client, token: string): Promise<Response> {
    return fetch(`${server.url}/token/introspection`, {
      method: 'POST',
      headers: { authorization: basic(client.clientId, client.clientSecret!), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }),
    });
  }

  async function introspect(client: Client, token: string): Promise<Record<string, unknown>> {
    const res = await introspection(client, token);
    expect(res.status).toBe(200);
    return (await res.json()) as Record<string, unknown>;
  }

  async function clientCredentials(client: { clientId: string; clientSecret?: string }, scope?: string): Promise<string> {
    const res = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: { authorization: basic(client.clientId, client.clientSecret!), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', ...(scope ? { scope } : {}) }),
    });
    const body = (await res.json()) as Record<string, string>;
    expect({ status: res.status, error: body.error }).toEqual({ status: 200, error: undefined });
    return body.access_token!;
  }

  beforeAll(async () => {
    server = await startTestServer({ backend, plugins: [echoPlugin(() => 'http://127.0.0.1:9')] });
    owner = await Owner.signUp(server);
    resourceServer = await server.addClient({ name: 'Resource server', grantTypes: ['client_credentials'], resourceServer: true });
    app = await server.addClient({ name: 'App', redirectUris: [redirectUri] });
  });
  afterAll(() => server?.stop());

  it("sees an administrator's machine client's client-credentials token for the API", async () => {
    const machine = await server.addClient({ name: 'Machine', grantTypes: ['client_credentials'], scope: 'echo.read' });
    const token = await clientCredentials(machine, 'echo.read');
    expect(await introspect(resourceServer, token)).toMatchObject({
      active: true,
      client_id: machine.clientId,
      scope: 'echo.read',
      aud: server.config.RESOURCE_URL,
      token_type: 'Bearer',
    });
  });

  it("sees an owner's agent service's client-credentials token", async () => {
    const res = await owner.api.send('POST', '/console/api/agents', { name: 'Agent', scopes: ['echo.read'] });
    expect(res.status).toBe(201);
    const agent = (await res.json()) as { client_id: string; client_secret: string };
    const token = await clientCredentials({ clientId: agent.client_id, clientSecret: agent.client_secret }, 'echo.read');
    expect(await introspect(resourceServer, token)).toMatchObject({
      active: true,
      client_id: agent.client_id,
      scope: 'echo.read',
      aud: server.config.RESOURCE_URL,
    });
    // Once the owner revokes the agent, the resource server learns it as the resource API does: at once.
    expect((await owner.api.send('DELETE', `/console/api/agents/${agent.client_id}`)).status).toBeLessThan(300);
    expect(await introspect(resourceServer, token)).toEqual({ active: false });
  });

  it("sees an app's access token from consent and an agent token the owner minted", async () => {
    const fromConsent = await owner.appToken(app, 'openid echo.read');
    expect(await introspect(resourceServer, fromConsent.accessToken)).toMatchObject({
      active: true,
      sub: owner.accountId,
      client_id: app.clientId,
      aud: server.config.RESOURCE_URL,
    });
    expect(await introspect(resourceServer, await owner.agentToken(['echo.read']))).toMatchObject({ active: true, sub: owner.accountId });
  });

  it('reads an access token that ends with its sign-in together with that session, and sees it inactive once that browser is signed out', async () => {
    const phone = await Owner.signIn(server, new TestBrowser(server.url, owner.browser.authenticator));
    const { accessToken } = await phone.appToken(app, 'openid echo.read');
    await introspect(resourceServer, accessToken);
    // The token, its grant and its session: one statement where sessions are stored in the database, as with Redis
    // (which holds the session there).
    const before = server.db.statementsSent();
    expect(await introspect(resourceServer, accessToken)).toMatchObject({ active: true, sub: owner.accountId });
    expect(server.db.statementsSent() - before).toBe(1);

    // The console learns of a browser's session in the background: sign the others out once it has.
    const signedOut = await eventually(
      async () => (await (await owner.api.send('POST', '/console/api/sessions/sign-out-others', {})).json()) as { signed_out: number },
      (body) => body.signed_out > 0,
    );
    expect(signedOut.signed_out).toBeGreaterThan(0);
    expect(await introspect(resourceServer, accessToken)).toEqual({ active: false });
  });

  it('never sees another kind of token: refresh tokens and ID tokens of other clients', async () => {
    const offline = await owner.appToken(app, 'openid offline_access echo.read');
    expect(offline.refreshToken).toEqual(expect.any(String));
    expect(await introspect(resourceServer, offline.refreshToken!)).toEqual({ active: false });
    // A JWT is not introspected at all (oidc-provider answers 400 invalid_request), by anyone.
    const idToken = await introspection(resourceServer, String(offline.body.id_token));
    expect({ status: idToken.status, active: ((await idToken.json()) as { active?: boolean }).active }).toEqual({
      status: 400,
      active: undefined,
    });
    // The app itself still sees its own refresh token: the refusal is about who asks.
    expect(await introspect(app, offline.refreshToken!)).toMatchObject({ active: true });
  });

  it('never sees a token for another audience: the userinfo endpoint token, a client-credentials token without the API', async () => {
    const userinfoOnly = await owner.appToken(app, 'openid');
    const machine = await server.addClient({ name: 'No-API machine', grantTypes: ['client_credentials'] });
    const noAudience = await clientCredentials(machine);
    for (const token of [userinfoOnly.accessToken, noAudience]) expect(await introspect(resourceServer, token)).toEqual({ active: false });
    expect(await introspect(machine, noAudience)).toMatchObject({ active: true, client_id: machine.clientId });
  });

  it("does not let an ordinary client see another client's client-credentials token", async () => {
    const machine = await server.addClient({ name: 'Machine 2', grantTypes: ['client_credentials'], scope: 'echo.read' });
    const other = await server.addClient({ name: 'Nosy machine', grantTypes: ['client_credentials'], scope: 'echo.read' });
    const token = await clientCredentials(machine, 'echo.read');
    expect(await introspect(other, token)).toEqual({ active: false });
  });
});
