import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { Owner, callApi } from '../helpers/owner.js';
import { FakeX } from '../fakes/x.js';
import { hashSecret } from '../../src/clients/secrets.js';

interface Registered {
  client_id: string;
  client_secret: string;
  name: string;
  grant_id: string;
  scopes: string[];
  token_endpoint: string;
  resource: string;
}

type Cookie = ReturnType<FakeX['signIn']>;

/**
 * Agent services bound to an owner: the owner registers one in the console, it gets tokens with
 * client_credentials for only the scopes the owner granted, those tokens act on that owner's connected accounts
 * under that owner's limits, and they die the moment the owner revokes the agent.
 */
describe.each(backends())('agent services on %s storage', (backend) => {
  let x: FakeX;
  let server: TestServer;
  let alice: Owner;
  let bob: Owner;
  let aliceX: Cookie;
  let bobX: Cookie;

  async function register(who: Owner, scopes: string[], name = `agent ${scopes.join('+')}`): Promise<Registered> {
    const res = await who.api.send('POST', '/console/api/agents', { name, scopes });
    const body = (await res.json()) as Registered;
    expect(res.status).toBe(201);
    return body;
  }

  /** A plain client_credentials request, as any OAuth library sends it (RFC 6749 §4.4, client_secret_basic). */
  async function clientCredentials(agent: { client_id: string; client_secret: string }, params: Record<string, string>) {
    const res = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${encodeURIComponent(agent.client_id)}:${encodeURIComponent(agent.client_secret)}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', ...params }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, string> };
  }

  async function tokenFor(agent: Registered, scope: string, withResource = true): Promise<string> {
    const res = await clientCredentials(agent, { scope, ...(withResource ? { resource: server.config.RESOURCE_URL } : {}) });
    expect(res).toMatchObject({ status: 200, body: { token_type: 'Bearer', scope } });
    return res.body.access_token!;
  }

  const tweet = (token: string, text: string) => callApi(server, '/tweet', token, { body: { text } });
  const postsWith = (text: string) => x.posts.filter((p) => p.text === text);
  const listOf = async (who: Owner) =>
    ((await (await who.api.get('/console/api/agents')).json()) as { agents: Record<string, unknown>[] }).agents;

  async function connectX(who: Owner, cookie: Cookie) {
    const res = await who.api.send('POST', '/console/api/connections', {
      kind: 'x.cookie',
      auth_token: cookie.auth_token,
      ct0: cookie.ct0,
    });
    expect(res.status).toBe(201);
  }

  beforeAll(async () => {
    x = await FakeX.start();
    server = await startTestServer({ backend, env: x.env() });
    alice = await Owner.signUp(server);
    bob = await Owner.signUp(server);
    aliceX = x.signIn(x.user('alice_agents'));
    bobX = x.signIn(x.user('bob_agents'));
    await connectX(alice, aliceX);
    await connectX(bob, bobX);
  });
  afterAll(async () => {
    await server?.stop();
    await x?.close();
  });

  it('registers an agent from the console: the secret is shown once, and only a digest of it is stored', async () => {
    const agent = await register(alice, ['tweet.post', 'tweet.read'], 'Release bot');
    expect(agent).toMatchObject({
      client_id: expect.stringMatching(/^c_/),
      client_secret: expect.any(String),
      name: 'Release bot',
      scopes: ['tweet.post', 'tweet.read'],
      resource: server.config.RESOURCE_URL,
      token_endpoint: `${server.url}/token`,
    });
    const listed = await listOf(alice);
    expect(listed).toEqual([
      expect.objectContaining({
        client_id: agent.client_id,
        name: 'Release bot',
        scopes: ['tweet.post', 'tweet.read'],
        last_used_at: null,
      }),
    ]);
    expect(JSON.stringify(listed)).not.toContain(agent.client_secret);
    const page = await (await alice.browser.request('/console/agents')).text();
    expect(page).toContain('Release bot');
    expect(page).not.toContain(agent.client_secret);
    const stored = await Promise.all(
      ['clients', 'client_secrets', 'agent_services', 'events'].map((table) => server.db.query(`SELECT * FROM ${table}`)),
    );
    expect(JSON.stringify(stored.map((r) => r.rows))).not.toContain(agent.client_secret);
    const digests = await server.db.query<{ secret_hash: string }>('SELECT secret_hash FROM client_secrets WHERE client_id = $1', [
      agent.client_id,
    ]);
    expect(digests.rows).toEqual([{ secret_hash: hashSecret(agent.client_secret) }]);
    // Its grant is one of the owner's connected apps, under the agent's name.
    const apps = ((await (await alice.api.get('/console/api/apps')).json()) as { apps: { grant_id: string; name: string }[] }).apps;
    expect(apps).toContainEqual(expect.objectContaining({ grant_id: agent.grant_id, name: 'Your agent service: Release bot' }));
    await alice.api.send('DELETE', `/console/api/agents/${agent.client_id}`);
  });

  it('refuses scopes outside the catalog and empty names with 400, registering nothing', async () => {
    for (const body of [
      { name: 'x', scopes: ['openid'] },
      { name: 'x', scopes: ['tweet.post', 'admin'] },
      { name: '', scopes: ['tweet.post'] },
      { name: 'x', scopes: [] },
    ]) {
      const res = await alice.api.send('POST', '/console/api/agents', body);
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
    }
    expect(await listOf(alice)).toEqual([]);
  });

  it("posts on X with the owner's cookie, with and without `resource` in the token request", async () => {
    const agent = await register(alice, ['tweet.post']);
    for (const withResource of [true, false]) {
      const token = await tokenFor(agent, 'tweet.post', withResource);
      const text = `from the agent service, resource ${withResource}`;
      const res = await tweet(token, text);
      expect(res.status).toBe(201);
      expect(postsWith(text)).toEqual([
        { id: res.body.id, text, userId: aliceX.user.id, via: 'web', credential: { auth_token: aliceX.auth_token, ct0: aliceX.ct0 } },
      ]);
    }
    // The owner sees the calls in the access log, under the agent.
    const { rows } = await server.db.query<{ account_id: string; grant_id: string }>(
      `SELECT account_id, grant_id FROM events WHERE kind = 'api.call' AND client_id = $1`,
      [agent.client_id],
    );
    expect(rows).toEqual([
      { account_id: alice.accountId, grant_id: agent.grant_id },
      { account_id: alice.accountId, grant_id: agent.grant_id },
    ]);
    expect((await listOf(alice)).find((a) => a.client_id === agent.client_id)?.last_used_at).toEqual(expect.any(String));
  });

  it("uses only its own owner's connection: two owners' agents post as their own owners", async () => {
    const aliceAgent = await register(alice, ['tweet.post']);
    const bobAgent = await register(bob, ['tweet.post']);
    const [a, b] = await Promise.all([
      tweet(await tokenFor(aliceAgent, 'tweet.post'), 'alice agent speaks'),
      tweet(await tokenFor(bobAgent, 'tweet.post'), 'bob agent speaks'),
    ]);
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(postsWith('alice agent speaks')).toEqual([
      expect.objectContaining({ userId: aliceX.user.id, credential: { auth_token: aliceX.auth_token, ct0: aliceX.ct0 } }),
    ]);
    expect(postsWith('bob agent speaks')).toEqual([
      expect.objectContaining({ userId: bobX.user.id, credential: { auth_token: bobX.auth_token, ct0: bobX.ct0 } }),
    ]);
  });

  it('refuses a scope the owner did not grant with invalid_scope, and a token without the needed scope with 403', async () => {
    const agent = await register(alice, ['tweet.read']);
    for (const scope of ['tweet.post', 'tweet.read tweet.delete', 'telegram.post_any']) {
      const res = await clientCredentials(agent, { scope });
      expect({ scope, status: res.status, error: res.body.error }).toEqual({ scope, status: 400, error: 'invalid_scope' });
    }
    const reader = await tokenFor(agent, 'tweet.read');
    const res = await tweet(reader, 'not allowed to post');
    expect(res).toMatchObject({ status: 403, body: { error: 'insufficient_scope' } });
    expect(postsWith('not allowed to post')).toEqual([]);
    // A wrong secret is no way in either.
    expect((await clientCredentials({ ...agent, client_secret: `${agent.client_secret}x` }, { scope: 'tweet.read' })).body.error).toBe(
      'invalid_client',
    );
  });

  it("applies the limits the owner set on the agent's grant", async () => {
    const agent = await register(alice, ['tweet.post']);
    const put = await alice.api.send('PUT', `/console/api/apps/${agent.grant_id}/policy`, {
      posts_per_day: 1,
      blocked_words: ['forbidden'],
    });
    expect(put.status).toBe(200);
    const token = await tokenFor(agent, 'tweet.post');
    expect((await tweet(token, 'a forbidden word')).body.error).toBe('policy_blocked_word');
    expect((await tweet(token, 'first of the day')).status).toBe(201);
    const second = await tweet(token, 'second of the day');
    expect(second).toMatchObject({ status: 403, body: { error: 'policy_daily_limit' } });
    expect(postsWith('second of the day')).toEqual([]);
  });

  it('is invisible and untouchable for another owner: 404 for revoke and limits, and the agent keeps working', async () => {
    const agent = await register(alice, ['tweet.post']);
    expect((await bob.api.send('DELETE', `/console/api/agents/${agent.client_id}`)).status).toBe(404);
    expect((await bob.api.send('PUT', `/console/api/apps/${agent.grant_id}/policy`, { posts_per_day: 0 })).status).toBe(404);
    expect((await bob.api.send('DELETE', `/console/api/apps/${agent.grant_id}`)).status).toBe(404);
    expect((await listOf(bob)).map((a) => a.client_id)).not.toContain(agent.client_id);
    expect((await tweet(await tokenFor(agent, 'tweet.post'), 'still alice agent')).status).toBe(201);
  });

  it('revoking kills its token on the next request, and new client_credentials requests get invalid_client', async () => {
    const agent = await register(alice, ['tweet.post']);
    const token = await tokenFor(agent, 'tweet.post');
    expect((await tweet(token, 'before revocation')).status).toBe(201);
    const res = await alice.api.send('DELETE', `/console/api/agents/${agent.client_id}`);
    expect(res.status).toBe(200);
    const after = await tweet(token, 'after revocation');
    expect(after.status).toBe(401);
    expect(after.headers.get('www-authenticate')).toMatch(/invalid_token/);
    expect(postsWith('after revocation')).toEqual([]);
    expect(await clientCredentials(agent, { scope: 'tweet.post' })).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    expect((await listOf(alice)).map((a) => a.client_id)).not.toContain(agent.client_id);
    const { rows } = await server.db.query(`SELECT kind FROM events WHERE client_id = $1 AND kind LIKE 'agent.%' ORDER BY id`, [
      agent.client_id,
    ]);
    expect(rows).toEqual([{ kind: 'agent.registered' }, { kind: 'agent.revoked' }]);
  });

  it('revoking it from Connected apps revokes the agent too', async () => {
    const agent = await register(alice, ['tweet.post']);
    const token = await tokenFor(agent, 'tweet.post');
    expect((await alice.api.send('DELETE', `/console/api/apps/${agent.grant_id}`)).status).toBe(200);
    expect((await tweet(token, 'after app revocation')).status).toBe(401);
    expect((await clientCredentials(agent, { scope: 'tweet.post' })).body.error).toBe('invalid_client');
    expect((await listOf(alice)).map((a) => a.client_id)).not.toContain(agent.client_id);
  });

  it('stops working when its owner is disabled', async () => {
    const carol = await Owner.signUp(server);
    await connectX(carol, x.signIn(x.user('carol_agents')));
    const agent = await register(carol, ['tweet.post']);
    const token = await tokenFor(agent, 'tweet.post');
    expect((await tweet(token, 'carol before')).status).toBe(201);
    await server.db.query('UPDATE accounts SET disabled_at = now() WHERE id = $1', [carol.accountId]);
    expect((await tweet(token, 'carol after')).status).toBe(401);
    expect(postsWith('carol after')).toEqual([]);
  });

  it("goes with its owner's account: deleting the account removes the agent's client", async () => {
    const dave = await Owner.signUp(server);
    await connectX(dave, x.signIn(x.user('dave_agents')));
    const agent = await register(dave, ['tweet.post']);
    const token = await tokenFor(agent, 'tweet.post');
    const options = (await (await dave.api.send('POST', '/console/api/account/delete/options', {})).json()) as never;
    const res = await dave.api.send('POST', '/console/api/account/delete', dave.browser.authenticator.authenticate(options));
    expect(res.status).toBe(200);
    expect((await tweet(token, 'dave after deletion')).status).toBe(401);
    expect((await clientCredentials(agent, { scope: 'tweet.post' })).body.error).toBe('invalid_client');
    expect((await server.db.query('SELECT 1 FROM clients WHERE client_id = $1', [agent.client_id])).rowCount).toBe(0);
  });

  it('refuses its token at once when storage says its grant is gone or its client is disabled', async () => {
    const agent = await register(alice, ['tweet.post']);
    const token = await tokenFor(agent, 'tweet.post');
    await server.db.query('UPDATE clients SET disabled_at = now() WHERE client_id = $1', [agent.client_id]);
    expect((await tweet(token, 'while disabled')).status).toBe(401);
    await server.db.query('UPDATE clients SET disabled_at = NULL WHERE client_id = $1', [agent.client_id]);
    expect((await tweet(token, 'enabled again')).status).toBe(201);
    // The grant is what the owner gave; without it the agent acts for nobody, even with its client still there.
    await server.db.query(`DELETE FROM oidc_models WHERE model = 'Grant' AND id = $1`, [agent.grant_id]);
    expect((await tweet(token, 'without a grant')).status).toBe(401);
    expect([...postsWith('while disabled'), ...postsWith('without a grant')]).toEqual([]);
  });

  it('leaves other client-credentials tokens as they were: no owner, so 403 owner_required', async () => {
    const machine = await server.addClient({ name: 'Machine', grantTypes: ['client_credentials'], scope: 'tweet.post' });
    const res = await clientCredentials({ client_id: machine.clientId, client_secret: machine.clientSecret! }, { scope: 'tweet.post' });
    expect(res.status).toBe(200);
    expect(await tweet(res.body.access_token!, 'machine post')).toMatchObject({ status: 403, body: { error: 'owner_required' } });
  });

  it('registers from the page form, showing the secret on that response only, and revokes from the page', async () => {
    const form = { csrf: alice.csrf, name: 'Form agent', 'scope:tweet.read': 'on' };
    const res = await alice.browser.postForm('/console/agents', form);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/console/agents?done=registered');
    const page = await (await alice.browser.request(res.headers.get('location')!)).text();
    const listed = (await listOf(alice)).find((a) => a.name === 'Form agent')!;
    expect(page).toContain(String(listed.client_id));
    const secret = /id="new-agent-secret"[^>]*value="([^"]+)"/.exec(page)?.[1];
    expect(secret).toBeDefined();
    expect((await clientCredentials({ client_id: String(listed.client_id), client_secret: secret! }, { scope: 'tweet.read' })).status).toBe(
      200,
    );
    expect(await (await alice.browser.request('/console/agents')).text()).not.toContain(secret!);
    // A reload of the view the redirect led to shows the page without the secret, and registers nothing.
    const agentCount = (await listOf(alice)).length;
    const reloaded = await (await alice.browser.request('/console/agents?done=registered')).text();
    expect(reloaded).not.toContain(secret!);
    expect(reloaded).toContain('This secret was shown once');
    expect((await listOf(alice)).length).toBe(agentCount);

    const problem = await alice.browser.postForm('/console/agents', { csrf: alice.csrf, name: 'No scopes' });
    expect(problem.status).toBe(400);
    expect(await problem.text()).toContain('Permissions (pick at least one)');

    const revoked = await alice.browser.postForm(`/console/agents/${String(listed.client_id)}/revoke`, { csrf: alice.csrf });
    expect(revoked.status).toBe(303);
    expect(
      (await clientCredentials({ client_id: String(listed.client_id), client_secret: secret! }, { scope: 'tweet.read' })).body.error,
    ).toBe('invalid_client');
  });

  it('rotates its secret: with a grace both work, without one the old secret is invalid_client at once; not for another owner', async () => {
    const agent = await register(alice, ['tweet.read'], 'Rotating agent');
    const rotate = (who: Owner, body: Record<string, unknown>) =>
      who.api.send('POST', `/console/api/agents/${agent.client_id}/secret`, body);

    const graced = await rotate(alice, { grace: '1h' });
    expect(graced.status).toBe(201);
    const second = (await graced.json()) as { client_secret: string; old_secrets_expire_at: string };
    expect(second.client_secret).not.toBe(agent.client_secret);
    expect(Date.parse(second.old_secrets_expire_at) - Date.now()).toBeGreaterThan(50 * 60 * 1000);
    expect((await clientCredentials(agent, { scope: 'tweet.read' })).status).toBe(200);
    expect((await clientCredentials({ ...agent, client_secret: second.client_secret }, { scope: 'tweet.read' })).status).toBe(200);

    const third = (await (await rotate(alice, { grace: '0' })).json()) as { client_secret: string };
    for (const old of [agent.client_secret, second.client_secret]) {
      expect(await clientCredentials({ ...agent, client_secret: old }, { scope: 'tweet.read' })).toMatchObject({
        status: 401,
        body: { error: 'invalid_client' },
      });
    }
    expect((await clientCredentials({ ...agent, client_secret: third.client_secret }, { scope: 'tweet.read' })).status).toBe(200);

    // Another owner cannot rotate it (404 like an unknown agent), nor ask for a grace that is not offered.
    expect((await rotate(bob, {})).status).toBe(404);
    expect((await rotate(alice, { grace: '2y' })).status).toBe(400);
    expect((await clientCredentials({ ...agent, client_secret: third.client_secret }, { scope: 'tweet.read' })).status).toBe(200);

    // From the page: the new secret is on that response only, and the one before keeps working for an hour.
    const page = await alice.browser.postForm(`/console/agents/${agent.client_id}/secret`, { csrf: alice.csrf });
    expect(page.status).toBe(303);
    const html = await (await alice.browser.request(page.headers.get('location')!)).text();
    const fourth = /id="new-agent-secret"[^>]*value="([^"]+)"/.exec(html)?.[1];
    expect(html).toContain('The old secret keeps working until');
    expect((await clientCredentials({ ...agent, client_secret: fourth! }, { scope: 'tweet.read' })).status).toBe(200);
    expect((await clientCredentials({ ...agent, client_secret: third.client_secret }, { scope: 'tweet.read' })).status).toBe(200);
  });

  it('refuses to register or revoke without the CSRF token', async () => {
    expect((await alice.api.send('POST', '/console/api/agents', { name: 'csrf', scopes: ['tweet.read'] }, { csrf: null })).status).toBe(
      403,
    );
    expect((await listOf(alice)).map((a) => a.name)).not.toContain('csrf');
  });
});
