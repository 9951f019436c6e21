import { Owner } from '../helpers/owner.js';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';

interface Minted {
  token: string;
  id: string;
  name: string;
  scopes: string[];
  created_at: string;
  expires_at: string;
}

interface Listed {
  id: string;
  name: string;
  scopes: string[];
  resource: 'api' | 'mcp';
  created_at: string;
  expires_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

/**
 * Agent tokens: an owner mints an ordinary access token for their own agent, sees it once, lists and
 * revokes it. A resource server checks it the one way it checks every token: introspection.
 */
describe.each(backends())('agent tokens on %s storage', (backend) => {
  let server: TestServer;
  let resourceServer: oidc.Configuration;
  let ordinaryApp: oidc.Configuration;
  let owner: Owner;
  let stranger: Owner;
  const seen: string[] = [];

  async function mint(who: Owner, body: unknown): Promise<Minted> {
    const res = await who.api.send('POST', '/console/api/tokens', body);
    expect(res.status).toBe(201);
    const minted = (await res.json()) as Minted;
    seen.push(minted.token);
    return minted;
  }

  const introspect = (token: string, as = resourceServer) => oidc.tokenIntrospection(as, token);
  const listOf = async (who: Owner) => ((await (await who.api.get('/console/api/tokens')).json()) as { tokens: Listed[] }).tokens;

  beforeAll(async () => {
    server = await startTestServer({ backend });
    const discover = async (input: Parameters<TestServer['addClient']>[0]) => {
      const { clientId, clientSecret } = await server.addClient(input);
      return oidc.discovery(new URL(server.url), clientId, clientSecret, undefined, { execute: [oidc.allowInsecureRequests] });
    };
    resourceServer = await discover({ name: 'X proxy', grantTypes: ['client_credentials'], resourceServer: true });
    ordinaryApp = await discover({ name: 'Some app', redirectUris: ['https://app.example/cb'] });
    owner = await Owner.signUp(server);
    stranger = await Owner.signUp(server);
  });
  afterAll(() => server?.stop());

  it('mints an ordinary access token that a resource server introspects as active, for our API and the chosen scopes', async () => {
    const before = Math.floor(Date.now() / 1000);
    const minted = await mint(owner, { name: 'Research bot', scopes: ['tweet.read', 'tweet.post'], lifetime_hours: 2 });
    expect(minted).toMatchObject({ name: 'Research bot', scopes: ['tweet.read', 'tweet.post'], id: expect.stringMatching(/^agt_/) });
    expect(Date.parse(minted.expires_at) / 1000).toBeCloseTo(before + 7200, -2);

    const result = await introspect(minted.token);
    expect(result).toMatchObject({
      active: true,
      aud: server.config.RESOURCE_URL,
      sub: owner.accountId,
      client_id: 'oauth3-agents',
      token_type: 'Bearer',
    });
    expect(String(result.scope).split(' ').sort()).toEqual(['tweet.post', 'tweet.read']);
    expect(result.exp! - before).toBeGreaterThanOrEqual(7200 - 5);
    expect(result.exp! - before).toBeLessThanOrEqual(7200 + 5);
  });

  it('lasts 24 hours unless told otherwise', async () => {
    const before = Math.floor(Date.now() / 1000);
    const minted = await mint(owner, { name: 'Default lifetime', scopes: ['tweet.read'] });
    const { exp } = await introspect(minted.token);
    expect(exp! - before).toBeGreaterThanOrEqual(86400 - 5);
    expect(exp! - before).toBeLessThanOrEqual(86400 + 5);
  });

  it('lets only resource servers introspect it: an ordinary client sees its own tokens only', async () => {
    const minted = await mint(owner, { name: 'Private', scopes: ['tweet.read'] });
    expect((await introspect(minted.token, ordinaryApp)).active).toBe(false);
    expect((await introspect(minted.token)).active).toBe(true);
    // Introspecting for others needs real client authentication: a public client cannot be a resource server.
    await expect(
      server.addClient({ name: 'Public RS', public: true, redirectUris: ['https://rs.example/cb'], resourceServer: true }),
    ).rejects.toThrow();
  });

  it('lists tokens with name, scopes and dates, never the value, and records the last use', async () => {
    const minted = await mint(owner, { name: 'Listed bot', scopes: ['telegram.post_any'], lifetime_hours: 720 });
    await introspect(minted.token);
    const res = await owner.api.get('/console/api/tokens');
    const text = await res.text();
    for (const value of seen) expect(text).not.toContain(value);
    const listed = (JSON.parse(text) as { tokens: Listed[] }).tokens.find((t) => t.id === minted.id);
    expect(listed).toEqual({
      id: minted.id,
      name: 'Listed bot',
      scopes: ['telegram.post_any'],
      resource: 'api',
      created_at: expect.any(String),
      expires_at: minted.expires_at,
      last_used_at: expect.any(String),
      revoked_at: null,
    });

    const page = await (await owner.browser.request('/console/tokens')).text();
    expect(page).toContain('Listed bot');
    for (const value of seen) expect(page).not.toContain(value);
  });

  it("shows each token under connected apps as the owner's own agent", async () => {
    const minted = await mint(owner, { name: 'Mail agent', scopes: ['tweet.read'] });
    const apps = (
      (await (await owner.api.get('/console/api/apps')).json()) as { apps: { kind: string; name: string; client_id: string }[] }
    ).apps;
    expect(apps).toContainEqual(expect.objectContaining({ kind: 'agent', name: 'Your agent: Mail agent', client_id: 'oauth3-agents' }));
    expect(apps.every((a) => a.kind === 'agent')).toBe(true);
    expect(await (await owner.browser.request('/console/apps')).text()).toContain('Your agent: Mail agent');
    void minted;
  });

  it('revokes: the token is inactive on the next request and leaves the connected apps', async () => {
    const minted = await mint(owner, { name: 'Short-lived', scopes: ['tweet.post'] });
    const res = await owner.api.send('DELETE', `/console/api/tokens/${minted.id}`);
    expect(res.status).toBe(200);
    expect((await introspect(minted.token)).active).toBe(false);
    expect((await listOf(owner)).find((t) => t.id === minted.id)!.revoked_at).toEqual(expect.any(String));
    const apps = ((await (await owner.api.get('/console/api/apps')).json()) as { apps: { name: string }[] }).apps;
    expect(apps.map((a) => a.name)).not.toContain('Your agent: Short-lived');
  });

  it('revoking the agent under connected apps revokes the token too', async () => {
    const minted = await mint(owner, { name: 'Via apps', scopes: ['tweet.read'] });
    const apps = ((await (await owner.api.get('/console/api/apps')).json()) as { apps: { name: string; grant_id: string }[] }).apps;
    const agent = apps.find((a) => a.name === 'Your agent: Via apps')!;
    expect((await owner.api.send('DELETE', `/console/api/apps/${agent.grant_id}`)).status).toBe(200);
    expect((await introspect(minted.token)).active).toBe(false);
    expect((await listOf(owner)).find((t) => t.id === minted.id)!.revoked_at).toEqual(expect.any(String));
  });

  it('mints and revokes from the page: the value is shown once, in a read-only field', async () => {
    const page = await (await owner.browser.request('/console/tokens')).text();
    expect(page).toContain('Post on X as you');
    expect(page).toContain('name="scope:tweet.post"');

    const res = await owner.browser.postForm('/console/tokens', {
      csrf: owner.csrf,
      name: 'Form bot',
      'scope:tweet.read': 'on',
      lifetime_hours: '168',
    });
    // POST, redirect, GET: the value is on the view the redirect leads to, once; never in the URL.
    expect(res.status).toBe(303);
    const location = res.headers.get('location')!;
    expect(location).toBe('/console/tokens?done=minted');
    const shown = await (await owner.browser.request(location)).text();
    const token = /id="new-token-value"[^>]*readonly value="([^"]+)"/.exec(shown)?.[1];
    expect(token).toEqual(expect.any(String));
    seen.push(token!);
    expect(shown).toContain('Token made. Copy it now: it is shown only once.');
    expect(await introspect(token!)).toMatchObject({ active: true, scope: 'tweet.read' });
    expect(await (await owner.browser.request('/console/tokens')).text()).not.toContain(token!);
    // A reload of that view shows the page without the token and mints nothing.
    const count = (await listOf(owner)).length;
    const reloaded = await (await owner.browser.request(location)).text();
    expect(reloaded).not.toContain(token!);
    expect(reloaded).toContain('This token was shown once and is not shown again.');
    expect((await listOf(owner)).length).toBe(count);

    const { id } = (await listOf(owner)).find((t) => t.name === 'Form bot')!;
    const revoked = await owner.browser.postForm(`/console/tokens/${id}/revoke`, { csrf: owner.csrf });
    expect(revoked.status).toBe(303);
    expect(revoked.headers.get('location')).toBe('/console/tokens?done=revoked');
    expect((await introspect(token!)).active).toBe(false);
  });

  it('shows a problem in the page form again, with what was typed', async () => {
    const res = await owner.browser.postForm('/console/tokens', { csrf: owner.csrf, name: 'Nothing picked', lifetime_hours: '24' });
    expect(res.status).toBe(400);
    const page = await res.text();
    expect(page).toContain('role="alert"');
    expect(page).toContain('value="Nothing picked"');
  });

  it.each([
    ['an unknown scope', { name: 'x', scopes: ['tweet.delete_everything'] }],
    ['an OpenID scope', { name: 'x', scopes: ['openid'] }],
    ['no scopes', { name: 'x', scopes: [] }],
    ['scopes as a string', { name: 'x', scopes: 'tweet.read' }],
    ['an empty name', { name: '', scopes: ['tweet.read'] }],
    ['a blank name', { name: '   ', scopes: ['tweet.read'] }],
    ['a 10k-character name', { name: 'n'.repeat(10_000), scopes: ['tweet.read'] }],
    ['a name that is not a string', { name: 42, scopes: ['tweet.read'] }],
    ['a lifetime of 0', { name: 'x', scopes: ['tweet.read'], lifetime_hours: 0 }],
    ['a lifetime of 10000 hours', { name: 'x', scopes: ['tweet.read'], lifetime_hours: 10_000 }],
    ['a lifetime of "abc"', { name: 'x', scopes: ['tweet.read'], lifetime_hours: 'abc' }],
    ['a fractional lifetime', { name: 'x', scopes: ['tweet.read'], lifetime_hours: 1.5 }],
    ['a body that is not an object', ['tweet.read']],
  ])('refuses %s with 400 and mints nothing', async (_label, body) => {
    const before = (await listOf(owner)).length;
    const res = await owner.api.send('POST', '/console/api/tokens', body);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: 'invalid_request', error_description: expect.any(String) });
    expect(await listOf(owner)).toHaveLength(before);
  });

  it("answers another owner's token id with 404, shows them nothing and leaves the token working", async () => {
    const minted = await mint(owner, { name: 'Not yours', scopes: ['tweet.read'] });
    expect(await listOf(stranger)).toEqual([]);
    const viaApi = await stranger.api.send('DELETE', `/console/api/tokens/${minted.id}`);
    expect(viaApi.status).toBe(404);
    expect(await viaApi.text()).not.toContain('Not yours');
    expect((await stranger.browser.postForm(`/console/tokens/${minted.id}/revoke`, { csrf: stranger.csrf })).status).toBe(404);
    expect((await owner.api.send('DELETE', '/console/api/tokens/agt_nosuchtoken')).status).toBe(404);
    expect((await owner.api.send('DELETE', `/console/api/tokens/${'x'.repeat(5000)}`)).status).toBe(404);
    expect((await introspect(minted.token)).active).toBe(true);
  });

  it('requires a session (401), and to mint or revoke, the CSRF token and our own origin (403)', async () => {
    const minted = await mint(owner, { name: 'Guarded', scopes: ['tweet.read'] });
    const body = { name: 'Sneaky', scopes: ['tweet.read'] };
    expect((await fetch(`${server.url}/console/api/tokens`)).status).toBe(401);
    const anonymous = await fetch(`${server.url}/console/api/tokens`, {
      method: 'POST',
      headers: { origin: server.url, 'content-type': 'application/json', 'x-csrf-token': owner.csrf },
      body: JSON.stringify(body),
    });
    expect(anonymous.status).toBe(401);
    expect(
      (await fetch(`${server.url}/console/api/tokens/${minted.id}`, { method: 'DELETE', headers: { origin: server.url } })).status,
    ).toBe(401);

    expect((await owner.api.send('POST', '/console/api/tokens', body, { csrf: null })).status).toBe(403);
    expect((await owner.api.send('POST', '/console/api/tokens', body, { csrf: stranger.csrf })).status).toBe(403);
    expect((await owner.api.send('POST', '/console/api/tokens', body, { origin: 'https://evil.example' })).status).toBe(403);
    expect((await owner.api.send('DELETE', `/console/api/tokens/${minted.id}`, undefined, { csrf: null })).status).toBe(403);
    expect((await owner.api.send('DELETE', `/console/api/tokens/${minted.id}`, undefined, { origin: 'https://evil.example' })).status).toBe(
      403,
    );
    expect((await owner.browser.postForm('/console/tokens', { name: 'Sneaky', 'scope:tweet.read': 'on' })).status).toBe(403);

    expect((await listOf(owner)).map((t) => t.name)).not.toContain('Sneaky');
    expect((await introspect(minted.token)).active).toBe(true);
  });

  it('logs minting and revocation with the grant, and never a token value anywhere in the log or the logs', async () => {
    const minted = await mint(owner, { name: 'Logged', scopes: ['tweet.read'] });
    await owner.api.send('DELETE', `/console/api/tokens/${minted.id}`);
    const { rows } = await server.db.query<{ kind: string; grant_id: string | null; detail: Record<string, unknown> }>(
      `SELECT e.kind, e.grant_id, e.detail FROM events e JOIN agent_tokens a ON a.grant_id = e.grant_id WHERE a.id = $1 ORDER BY e.id`,
      [minted.id],
    );
    expect(rows.map((r) => r.kind)).toEqual(['token.minted', 'token.revoked']);
    expect(rows[0]!.detail).toMatchObject({ grant_type: 'agent_token', name: 'Logged', scopes: ['tweet.read'] });

    const everything =
      JSON.stringify((await server.db.query('SELECT * FROM events')).rows) +
      JSON.stringify((await server.db.query('SELECT * FROM agent_tokens')).rows) +
      server.logs.join('');
    for (const value of seen) expect(everything).not.toContain(value);
  });
});
