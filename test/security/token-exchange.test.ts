import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { Owner, callApi } from '../helpers/owner.js';
import { eventually } from '../helpers/console-api.js';
import { redirectUri, type Client } from '../helpers/token-flow.js';
import { ACCESS_TOKEN_TYPE, exchangeToken, expectRefused, postForm, TOKEN_EXCHANGE } from '../helpers/delegations.js';
import { echoPlugin, startEchoUpstream } from '../resource/echo-plugin.js';
import { runApproved } from '../../src/plugins/run-approved.js';
import { deleteExpiredRows } from '../../src/db/cleanup.js';

const ACCESS_TOKEN = ACCESS_TOKEN_TYPE;

/**
 * RFC 8693 token exchange with attenuation: an app trades its owner's token for a strictly narrower one for a sub-agent.
 * Every refusal is an RFC error and never a token; every narrowing holds; revoking a grant kills everything below it,
 * on every storage.
 */
describe.each(backends())('token exchange on %s storage', (backend) => {
  let server: TestServer;
  let upstream: Awaited<ReturnType<typeof startEchoUpstream>>;
  let owner: Owner;
  let app: Client;

  beforeAll(async () => {
    upstream = await startEchoUpstream();
    server = await startTestServer({ backend, plugins: [echoPlugin(() => upstream.url)] });
    owner = await Owner.signUp(server);
    await server.app.connections.save(owner.accountId, {
      provider: 'echo',
      kind: 'echo.key',
      label: 'echo',
      secret: { key: 'exchange-secret-key-4321' },
    });
    app = await newApp('Orchestrating agent');
  });
  afterAll(async () => {
    await server?.stop();
    await upstream?.close();
  });

  const newApp = (name: string, grantTypes = ['authorization_code', 'refresh_token', TOKEN_EXCHANGE]) =>
    server.addClient({ name, redirectUris: [redirectUri], grantTypes: grantTypes as never });

  const post = (path: string, client: Client | undefined, form: Record<string, string>) => postForm(server, path, client, form);
  /** `client` null: no client authentication at all. */
  const exchange = (subject: string, extra: Record<string, string> = {}, client: Client | null = app) =>
    exchangeToken(server, client ?? undefined, subject, extra);

  async function exchanged(subject: string, extra: Record<string, string> = {}): Promise<string> {
    const reply = await exchange(subject, extra);
    if (reply.status !== 200) throw new Error(`exchange failed: ${JSON.stringify(reply.body)}`);
    return String(reply.body.access_token);
  }

  const rootToken = async (scope = 'echo.read echo.post') => (await owner.appToken(app, scope)).accessToken;
  const grantOf = async (token: string) => (await server.app.provider.AccessToken.find(token))!.grantId;
  const me = async (token: string) => (await callApi(server, '/echo/me', token)).status;

  const refused = expectRefused;

  it('is listed in discovery', async () => {
    const res = await fetch(`${server.url}/.well-known/openid-configuration`);
    expect(((await res.json()) as { grant_types_supported: string[] }).grant_types_supported).toContain(TOKEN_EXCHANGE);
  });

  it('answers with a narrower token shaped as RFC 8693 §2.2.1, without a refresh token, that works at /api', async () => {
    const parent = await rootToken();
    const reply = await exchange(parent, { scope: 'echo.read' });
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ issued_token_type: ACCESS_TOKEN, token_type: 'Bearer', scope: 'echo.read' });
    expect(reply.body).not.toHaveProperty('refresh_token');
    expect(reply.body.expires_in).toBeLessThanOrEqual(3600);
    const child = String(reply.body.access_token);
    expect(child).not.toBe(parent);
    expect(await me(child)).toBe(200);
    // The narrowing holds at the resource: the child may read but not post.
    expect((await callApi(server, '/echo/posts', child, { body: { text: 'not allowed' } })).status).toBe(403);
    // Its grant is a new one, recorded under the parent's.
    const row = await server.db.query<{ parent_grant_id: string; depth: number }>(
      'SELECT parent_grant_id, depth FROM grant_delegations WHERE grant_id = $1',
      [await grantOf(child)],
    );
    expect(row.rows).toEqual([{ parent_grant_id: await grantOf(parent), depth: 1 }]);
  });

  it('narrows scopes: more than the parent is invalid_scope, none is the parent’s', async () => {
    const parent = await rootToken('echo.read');
    refused(await exchange(parent, { scope: 'echo.read echo.post' }), 'invalid_scope');
    refused(await exchange(parent, { scope: 'openid' }), 'invalid_scope');
    expect((await exchange(parent)).body).toMatchObject({ scope: 'echo.read' });
  });

  it('never outlives the parent: a longer lifetime is capped, a shorter one kept', async () => {
    const parent = await exchanged(await rootToken(), { expires_in: '120' });
    const capped = await exchange(parent, { expires_in: '86400' });
    expect(capped.status).toBe(200);
    expect(capped.body.expires_in).toBeLessThanOrEqual(120);
    const token = await server.app.provider.AccessToken.find(String(capped.body.access_token));
    const parentToken = await server.app.provider.AccessToken.find(parent);
    expect(token!.exp).toBeLessThanOrEqual(parentToken!.exp!);
    expect((await exchange(parent, { expires_in: '30' })).body.expires_in).toBeLessThanOrEqual(30);
    refused(await exchange(parent, { expires_in: '-5' }), 'invalid_request');
  });

  it('narrows the audience: another resource or one the parent lacks is invalid_target', async () => {
    const parent = await rootToken();
    refused(await exchange(parent, { audience: `${server.url}/mcp` }), 'invalid_target');
    refused(await exchange(parent, { resource: 'https://elsewhere.example.com/api' }), 'invalid_target');
    refused(await exchange(parent, { resource: `${server.url}/api`, audience: `${server.url}/mcp` }), 'invalid_target');
    expect((await exchange(parent, { audience: `${server.url}/api` })).status).toBe(200);
  });

  it('stops at the depth limit (3 by default) with invalid_grant', async () => {
    let token = await rootToken();
    for (let depth = 1; depth <= 3; depth++) token = await exchanged(token);
    expect(await me(token)).toBe(200);
    refused(await exchange(token), 'invalid_grant');
  });

  it('refuses what is not a live access token of this client, with an RFC error and never a token', async () => {
    const { accessToken, refreshToken, body } = await owner.appToken(app, 'openid offline_access echo.read');
    const other = await newApp('Someone else', ['authorization_code', 'refresh_token']);
    const othersToken = (await owner.appToken(other, 'echo.read')).accessToken;

    refused(await exchange(othersToken), 'invalid_grant');
    refused(await exchange(String(body.id_token)), 'invalid_grant');
    refused(await exchange(refreshToken!), 'invalid_grant');
    refused(await exchange('not-a-token-at-all'), 'invalid_grant');
    // Token types oauth3 does not take (RFC 8693 §2.2.2).
    refused(await exchange(accessToken, { subject_token_type: 'urn:ietf:params:oauth:token-type:id_token' }), 'invalid_request');
    refused(await exchange(accessToken, { requested_token_type: 'urn:ietf:params:oauth:token-type:refresh_token' }), 'invalid_request');
    refused(await post('/token', app, { grant_type: TOKEN_EXCHANGE, subject_token_type: ACCESS_TOKEN }), 'invalid_request');
    // No client authentication: oidc-provider answers a request naming no client at all as malformed, and one naming a
    // confidential client without its secret as a failed authentication.
    refused(await exchange(accessToken, {}, null), 'invalid_request');
    refused(await exchange(accessToken, { client_id: app.clientId }, null), 'invalid_client', 401);
    // A client that did not register the grant type, with its own token.
    expect((await exchange(othersToken, {}, other)).body).toMatchObject({ error: 'unauthorized_client' });
  });

  it("refuses a disabled owner's token, and an actor token acting for another owner", async () => {
    const other = await Owner.signUp(server);
    const othersToken = (await other.appToken(app, 'echo.read')).accessToken;
    refused(await exchange(await rootToken(), { actor_token: othersToken, actor_token_type: ACCESS_TOKEN }), 'invalid_grant');

    const child = await exchanged(othersToken);
    // Accepted (this owner connected no echo account, so the call itself fails, but not for the token).
    expect(await me(child)).not.toBe(401);
    await server.db.query('UPDATE accounts SET disabled_at = now() WHERE id = $1', [other.accountId]);
    refused(await exchange(othersToken), 'invalid_grant');
    refused(await exchange(child), 'invalid_grant');
    expect(await me(child)).toBe(401);
  });

  it('refuses an expired or revoked subject token', async () => {
    const shortLived = await exchanged(await rootToken(), { expires_in: '1' });
    const shortGrant = (
      await server.db.query<{ grant_id: string }>('SELECT grant_id FROM grant_delegations ORDER BY created_at DESC LIMIT 1')
    ).rows[0]!.grant_id;
    await new Promise((resolve) => setTimeout(resolve, 2100));
    refused(await exchange(shortLived), 'invalid_grant');
    // The periodic cleanup forgets the delegation rows of expired grants.
    await deleteExpiredRows(server.db);
    expect((await server.db.query('SELECT 1 FROM grant_delegations WHERE grant_id = $1', [shortGrant])).rows).toEqual([]);

    const parent = await rootToken();
    const res = await owner.api.send('DELETE', `/console/api/apps/${await grantOf(parent)}`);
    expect(res.status).toBe(200);
    refused(await exchange(parent), 'invalid_grant');
  });

  it('revokes across two levels at once: revoking the root in the console kills the grandchild', async () => {
    const root = await rootToken();
    const child = await exchanged(root);
    const grandchild = await exchanged(child, { scope: 'echo.read' });
    const below = [await grantOf(child), await grantOf(grandchild)];
    expect(await me(grandchild)).toBe(200);

    expect((await owner.api.send('DELETE', `/console/api/apps/${await grantOf(root)}`)).status).toBe(200);
    expect(await me(grandchild)).toBe(401);
    expect(await me(child)).toBe(401);
    const { rows } = await server.db.query('SELECT 1 FROM grant_delegations WHERE grant_id = ANY ($1::text[])', [below]);
    expect(rows).toEqual([]);
    for (const grantId of below) expect(await server.app.provider.Grant.find(grantId)).toBeUndefined();
  });

  it('revoking a child kills what is below it and leaves the parent working', async () => {
    const root = await rootToken();
    const child = await exchanged(root);
    const grandchild = await exchanged(child);
    expect((await owner.api.send('DELETE', `/console/api/apps/${await grantOf(child)}`)).status).toBe(200);
    expect(await me(child)).toBe(401);
    expect(await me(grandchild)).toBe(401);
    expect(await me(root)).toBe(200);
    expect(await exchanged(root)).toEqual(expect.any(String));
  });

  it('20 concurrent exchanges of one token are all narrower, and all die with the parent', async () => {
    const parent = await rootToken();
    const replies = await Promise.all(Array.from({ length: 20 }, () => exchange(parent, { scope: 'echo.read' })));
    expect(replies.map((r) => r.status)).toEqual(Array(20).fill(200));
    const children = replies.map((r) => String(r.body.access_token));
    expect(new Set(children).size).toBe(20);
    for (const r of replies) expect(r.body.scope).toBe('echo.read');
    expect((await Promise.all(children.map(me))).every((s) => s === 200)).toBe(true);

    const parentGrant = await grantOf(parent);
    expect((await owner.api.send('DELETE', `/console/api/apps/${parentGrant}`)).status).toBe(200);
    expect(await Promise.all(children.map(me))).toEqual(Array(20).fill(401));
    const { rows } = await server.db.query('SELECT 1 FROM grant_delegations WHERE parent_grant_id = $1', [parentGrant]);
    expect(rows).toEqual([]);
  });

  it('a replayed refresh token makes oidc-provider revoke the grant, and the exchanged grants go with it', async () => {
    const { accessToken, refreshToken } = await owner.appToken(app, 'offline_access echo.read');
    const child = await exchanged(accessToken);
    const childGrant = await grantOf(child);
    const refresh = () => post('/token', app, { grant_type: 'refresh_token', refresh_token: refreshToken! });
    expect((await refresh()).status).toBe(200);
    expect((await refresh()).body).toMatchObject({ error: 'invalid_grant' });
    expect(await me(child)).toBe(401);
    await eventually(
      () => server.app.provider.Grant.find(childGrant),
      (grant) => grant === undefined,
    );
    const introspected = await post('/token/introspection', app, { token: child });
    expect(introspected.body).toEqual({ active: false });
  });

  it('shares the root grant’s daily limit with every token below it', async () => {
    const agent = await newApp('Agent with a daily limit');
    const parent = (await owner.appToken(agent, 'echo.read echo.post')).accessToken;
    const res = await owner.api.send('PUT', `/console/api/apps/${await grantOf(parent)}/policy`, { posts_per_day: 2 });
    expect(res.status).toBe(200);
    const child = String((await exchange(parent, {}, agent)).body.access_token);
    const postAs = (token: string, text: string) => callApi(server, '/echo/posts', token, { body: { text } });
    expect((await postAs(child, 'from the sub-agent')).status).toBe(201);
    expect((await postAs(parent, 'from the agent')).status).toBe(201);
    const third = await postAs(child, 'one too many');
    expect(third.status).toBe(403);
    expect(third.body.error).toBe('policy_daily_limit');
    expect((await postAs(parent, 'also too many')).body.error).toBe('policy_daily_limit');
  });

  it('holds a sub-agent’s post under its own grant, and counts it against the root’s limit once approved', async () => {
    // An app of its own: re-authorizing the same app reuses its grant, whose posts other tests used today.
    const agent = await newApp('Agent with held posts');
    const parent = (await owner.appToken(agent, 'echo.read echo.post')).accessToken;
    const rootGrant = await grantOf(parent);
    await owner.api.send('PUT', `/console/api/apps/${rootGrant}/policy`, { hold_for_approval: true, posts_per_day: 1 });
    const child = String((await exchange(parent, {}, agent)).body.access_token);
    const fromParent = await callApi(server, '/echo/posts', parent, { body: { text: 'held from the agent' } });
    const fromChild = await callApi(server, '/echo/posts', child, { body: { text: 'held from the sub-agent' } });
    expect([fromParent.status, fromChild.status]).toEqual([202, 202]);
    const pending = await server.app.services.held.list(owner.accountId, 'pending');
    const childHeld = pending.find((h) => h.id === fromChild.body.id)!;
    expect(childHeld.grantId).toBe(await grantOf(child));

    const approve = async (id: unknown) =>
      runApproved(server.app.services, (await server.app.services.held.decide(owner.accountId, String(id), 'approved'))!);
    await approve(fromParent.body.id);
    await expect(approve(fromChild.body.id)).rejects.toMatchObject({ code: 'policy_daily_limit' });
    expect(await server.app.services.policies.usedToday(rootGrant)).toBe(1);
  });

  it('applies the root grant’s content rules to the child', async () => {
    const parent = await rootToken();
    await owner.api.send('PUT', `/console/api/apps/${await grantOf(parent)}/policy`, { blocked_words: ['forbidden'] });
    const child = await exchanged(parent);
    const reply = await callApi(server, '/echo/posts', child, { body: { text: 'a forbidden thing' } });
    expect(reply.body.error).toBe('policy_blocked_word');
  });

  it('shows act and the parent’s client in introspection, and the actor chain in the access log', async () => {
    const subAgent = await server.addClient({ name: 'Sub-agent', grantTypes: ['client_credentials'] });
    const actorToken = String((await post('/token', subAgent, { grant_type: 'client_credentials' })).body.access_token);
    const parent = await rootToken();
    const child = await exchanged(parent);
    const grandchild = await exchanged(child, { actor_token: actorToken, actor_token_type: ACCESS_TOKEN });

    const act = { sub: subAgent.clientId, client_id: subAgent.clientId, act: { sub: app.clientId, client_id: app.clientId } };
    expect((await post('/token/introspection', app, { token: grandchild })).body).toMatchObject({
      active: true,
      client_id: app.clientId,
      sub: owner.accountId,
      act,
      parent_client_id: app.clientId,
    });
    // A resource server may introspect it too (only access tokens for our API).
    const resourceServer = await server.addClient({ name: 'Resource server', grantTypes: ['client_credentials'], resourceServer: true });
    expect((await post('/token/introspection', resourceServer, { token: grandchild })).body).toMatchObject({ active: true, act });

    expect(await me(grandchild)).toBe(200);
    const grandchildGrant = await grantOf(grandchild);
    const { rows } = await eventually(
      () =>
        server.db.query<{ detail: Record<string, unknown>; grant_id: string }>(
          "SELECT detail, grant_id FROM events WHERE kind = 'api.call' AND grant_id = $1",
          [grandchildGrant],
        ),
      (r) => r.rows.length > 0,
    );
    expect(rows[0]!.detail).toMatchObject({
      act,
      on_behalf_of: { client_id: app.clientId, grant_id: await grantOf(child), root_grant_id: await grantOf(parent) },
    });
    // An actor token that is not a live token is refused.
    refused(await exchange(child, { actor_token: 'garbage', actor_token_type: ACCESS_TOKEN }), 'invalid_grant');
    refused(await exchange(child, { actor_token: actorToken }), 'invalid_request');
  });
});
