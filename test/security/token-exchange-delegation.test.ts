import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { Owner, callApi } from '../helpers/owner.js';
import { redirectUri, type Client } from '../helpers/token-flow.js';
import { ACCESS_TOKEN_TYPE, exchangeToken, expectRefused, postForm, TOKEN_EXCHANGE } from '../helpers/delegations.js';
import { echoPlugin, startEchoUpstream } from '../resource/echo-plugin.js';

const ACCESS_TOKEN = ACCESS_TOKEN_TYPE;

/**
 * Token exchange to another app: only when the owner listed that app in the delegate_to of the limits that govern the
 * subject token, and only for an app registered for the grant type. The token handed on is narrower, names who acts
 * and whose token it came from, and dies with the app it came from.
 */
describe.each(backends())('token exchange to another app on %s storage', (backend) => {
  let server: TestServer;
  let upstream: Awaited<ReturnType<typeof startEchoUpstream>>;
  let owner: Owner;
  let app: Client;
  let helper: Client;
  let noExchange: Client;

  beforeAll(async () => {
    upstream = await startEchoUpstream();
    server = await startTestServer({ backend, plugins: [echoPlugin(() => upstream.url)] });
    owner = await Owner.signUp(server);
    await server.app.connections.save(owner.accountId, {
      provider: 'echo',
      kind: 'echo.key',
      label: 'echo',
      secret: { key: 'delegation-secret-key-4321' },
    });
    app = await newApp('Orchestrating agent');
    helper = await newApp('Helper agent');
    noExchange = await newApp('Helper without token exchange', ['authorization_code', 'refresh_token']);
  });
  afterAll(async () => {
    await server?.stop();
    await upstream?.close();
  });

  function newApp(name: string, grantTypes = ['authorization_code', 'refresh_token', TOKEN_EXCHANGE]) {
    return server.addClient({ name, redirectUris: [redirectUri], grantTypes: grantTypes as never });
  }

  const post = (path: string, client: Client, form: Record<string, string>) => postForm(server, path, client, form);
  const exchange = (client: Client, subject: string, extra: Record<string, string> = {}) => exchangeToken(server, client, subject, extra);
  const grantOf = async (token: string) => (await server.app.provider.AccessToken.find(token))!.grantId;
  const me = async (token: string) => (await callApi(server, '/echo/me', token)).status;
  const setPolicy = (grantId: string, policy: Record<string, unknown>) =>
    owner.api.send('PUT', `/console/api/apps/${grantId}/policy`, policy);

  const refused = expectRefused;

  it('refuses another app’s token when the owner did not list the requesting app', async () => {
    const parent = (await owner.appToken(app, 'echo.read echo.post')).accessToken;
    refused(await exchange(helper, parent, { scope: 'echo.read' }), 'invalid_grant');
    // Listing some other app is not listing this one.
    expect((await setPolicy(await grantOf(parent), { delegate_to: [noExchange.clientId] })).status).toBe(200);
    refused(await exchange(helper, parent, { scope: 'echo.read' }), 'invalid_grant');
  });

  it('takes only registered client ids in delegate_to', async () => {
    const parent = (await owner.appToken(app, 'echo.read echo.post')).accessToken;
    const grantId = await grantOf(parent);
    const unknown = await setPolicy(grantId, { delegate_to: ['c_nosuchclient00000'] });
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { error_description: string }).error_description).toContain('no such app');
    expect((await setPolicy(grantId, { delegate_to: Array.from({ length: 21 }, (_, i) => `c_${i}`) })).status).toBe(400);
    expect((await setPolicy(grantId, { delegate_to: ['has space'] })).status).toBe(400);
  });

  it('hands a listed app a narrower token that works, names who acts, and dies with the app it came from', async () => {
    const parent = (await owner.appToken(app, 'echo.read echo.post')).accessToken;
    const rootGrant = await grantOf(parent);
    const saved = await setPolicy(rootGrant, { delegate_to: [helper.clientId] });
    expect(saved.status).toBe(200);
    expect(((await saved.json()) as { policy: { delegate_to: string[] } }).policy.delegate_to).toEqual([helper.clientId]);

    const reply = await exchange(helper, parent, { scope: 'echo.read' });
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ issued_token_type: ACCESS_TOKEN, scope: 'echo.read' });
    expect(reply.body).not.toHaveProperty('refresh_token');
    const child = String(reply.body.access_token);
    expect(await me(child)).toBe(200);
    // Narrower: it may read but not post.
    expect((await callApi(server, '/echo/posts', child, { body: { text: 'not allowed' } })).status).toBe(403);
    // Never more than the parent.
    refused(await exchange(helper, parent, { scope: 'echo.read openid' }), 'invalid_scope');

    // Its grant is the helper's, recorded under the app's.
    const childGrant = await grantOf(child);
    expect((await server.app.provider.Grant.find(childGrant))!.clientId).toBe(helper.clientId);
    const { rows } = await server.db.query<{ parent_grant_id: string; client_id: string; parent_client_id: string }>(
      'SELECT parent_grant_id, client_id, parent_client_id FROM grant_delegations WHERE grant_id = $1',
      [childGrant],
    );
    expect(rows).toEqual([{ parent_grant_id: rootGrant, client_id: helper.clientId, parent_client_id: app.clientId }]);

    expect((await post('/token/introspection', helper, { token: child })).body).toMatchObject({
      active: true,
      client_id: helper.clientId,
      sub: owner.accountId,
      act: { sub: helper.clientId, client_id: helper.clientId },
      parent_client_id: app.clientId,
    });

    // The helper's token counts against the app's limits (its governing grant is the app's).
    expect(await server.app.services.policies.governing(childGrant)).toBe(rootGrant);

    // Revoking the app in the console revokes what it handed on.
    expect((await owner.api.send('DELETE', `/console/api/apps/${rootGrant}`)).status).toBe(200);
    expect(await me(child)).toBe(401);
    expect((await post('/token/introspection', helper, { token: child })).body).toEqual({ active: false });
  });

  it('stops further exchanges when the listing is removed; tokens already handed on work until revoked', async () => {
    const parent = (await owner.appToken(app, 'echo.read echo.post')).accessToken;
    const rootGrant = await grantOf(parent);
    expect((await setPolicy(rootGrant, { delegate_to: [helper.clientId] })).status).toBe(200);
    const child = String((await exchange(helper, parent, { scope: 'echo.read' })).body.access_token);
    expect(await me(child)).toBe(200);

    expect((await setPolicy(rootGrant, { delegate_to: [] })).status).toBe(200);
    refused(await exchange(helper, parent, { scope: 'echo.read' }), 'invalid_grant');
    // The listing governs new exchanges only: the token handed on keeps its grant until the owner revokes it.
    expect(await me(child)).toBe(200);
    expect((await owner.api.send('DELETE', `/console/api/apps/${await grantOf(child)}`)).status).toBe(200);
    expect(await me(child)).toBe(401);
    expect(await me(parent)).toBe(200);
  });

  it('refuses a listed app that is not registered for token exchange with unauthorized_client', async () => {
    const parent = (await owner.appToken(app, 'echo.read echo.post')).accessToken;
    expect((await setPolicy(await grantOf(parent), { delegate_to: [noExchange.clientId, helper.clientId] })).status).toBe(200);
    const reply = await exchange(noExchange, parent, { scope: 'echo.read' });
    expect(reply.body).toMatchObject({ error: 'unauthorized_client' });
    expect(reply.body).not.toHaveProperty('access_token');
  });

  it('offers the field on the limits form of the console page, and saves it from there', async () => {
    const parent = (await owner.appToken(app, 'echo.read echo.post')).accessToken;
    const grantId = await grantOf(parent);
    const page = await (await owner.browser.request(`/console/apps?limits=${grantId}`)).text();
    expect(page).toContain('May hand narrower access to these apps (client ids, one per line)');
    expect(page).toContain(`name="delegate_to"`);
    const saved = await owner.browser.postForm(`/console/apps/${grantId}/policy`, {
      csrf: owner.csrf,
      delegate_to: `${helper.clientId}\n`,
    });
    expect(saved.status).toBe(303);
    expect((await server.app.services.policies.get(grantId)).delegate_to).toEqual([helper.clientId]);
    const bad = await owner.browser.postForm(`/console/apps/${grantId}/policy`, { csrf: owner.csrf, delegate_to: 'c_nosuchclient00000' });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('no such app');
    expect((await server.app.services.policies.get(grantId)).delegate_to).toEqual([helper.clientId]);
  });

  it('offers an app that only reads just this field, and saving it keeps its other limits', async () => {
    const reader = await newApp('Reading agent');
    const parent = (await owner.appToken(reader, 'echo.read')).accessToken;
    const grantId = await grantOf(parent);
    expect((await setPolicy(grantId, { posts_per_day: 3 })).status).toBe(200);
    const page = await (await owner.browser.request(`/console/apps?limits=${grantId}`)).text();
    const form = page.slice(page.indexOf(`id="limits-${grantId}"`));
    const own = form.slice(0, form.indexOf('</details>'));
    expect(own).toContain(`name="delegate_to"`);
    expect(own).not.toContain('name="posts_per_day"');
    const saved = await owner.browser.postForm(`/console/apps/${grantId}/policy`, {
      csrf: owner.csrf,
      only: 'delegate_to',
      delegate_to: helper.clientId,
    });
    expect(saved.status).toBe(303);
    expect(await server.app.services.policies.get(grantId)).toMatchObject({ posts_per_day: 3, delegate_to: [helper.clientId] });
    // And the listed app may now take a narrower token from it.
    expect((await exchange(helper, parent)).status).toBe(200);
  });
});
