import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { Owner, callApi } from '../helpers/owner.js';
import { csrfFrom } from '../helpers/browser.js';
import { basic, redirectUri } from '../helpers/token-flow.js';
import { echoPlugin, startEchoUpstream } from '../resource/echo-plugin.js';
import { ManualClock } from '../../src/clock.js';
import { hashSecret } from '../../src/clients/secrets.js';

interface AppJson {
  client_id: string;
  kind: string;
  name: string;
  redirect_uris: string[];
  scopes: string[];
  active: boolean;
  client_secret?: string;
  secrets?: { id: string; created_at: string; expires_at: string | null }[];
}

const HOUR = 3600_000;

/**
 * The developer portal tried as attacks: threat model F1 (redirect URIs), F2 (secret once, hash
 * only), F3 (rotation grace on a controllable clock), F4 (another developer's apps), F5 (deleting revokes), and the
 * per-developer registration limits, through the JSON API and the form pages.
 */
describe.each(backends())('developer portal on %s storage', (backend) => {
  let server: TestServer;
  let upstream: Awaited<ReturnType<typeof startEchoUpstream>>;
  let dev: Owner;
  let introspector: { clientId: string; clientSecret?: string };
  const clock = new ManualClock();

  const json = async <T = AppJson>(res: Response) => ({
    status: res.status,
    headers: res.headers,
    body: (await res.json()) as T & { error?: string; error_description?: string; problems?: { field?: string; description: string }[] },
  });
  const register = (owner: Owner, body: Record<string, unknown>) =>
    owner.api.send('POST', '/developers/api/apps', body).then((r) => json(r));
  const webApp = (name = 'Web app') => ({
    kind: 'web',
    name,
    redirect_uris: [redirectUri],
    scopes: ['openid', 'offline_access', 'echo.read'],
  });
  const agentApp = (name = 'Agent') => ({ kind: 'agent', name, scopes: ['echo.read'] });

  /** Client authentication in isolation: introspecting a junk token is 200 for a good secret, 401 otherwise. */
  const authStatus = async (clientId: string, secret: string) => {
    const res = await fetch(`${server.url}/token/introspection`, {
      method: 'POST',
      headers: { authorization: basic(clientId, secret), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: 'not-a-token' }),
    });
    const body = (await res.json()) as { error?: string };
    return res.status === 401 ? `401 ${body.error}` : String(res.status);
  };
  /** What a resource server learns about a token (RFC 7662), asked by a client allowed to introspect any API token. */
  const introspect = async (token: string) => {
    const res = await fetch(`${server.url}/token/introspection`, {
      method: 'POST',
      headers: {
        authorization: basic(introspector.clientId, introspector.clientSecret!),
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ token }),
    });
    return (await res.json()) as { active: boolean };
  };

  beforeAll(async () => {
    upstream = await startEchoUpstream();
    // Room for every app this file registers; the default limits are tried on a server of their own below.
    server = await startTestServer({
      backend,
      clock,
      plugins: [echoPlugin(() => upstream.url)],
      env: { DEVELOPER_APPS_PER_HOUR: '100', DEVELOPER_APPS_MAX: '100' },
    });
    dev = await Owner.signUp(server);
    await server.app.connections.save(dev.accountId, {
      provider: 'echo',
      kind: 'echo.key',
      label: 'echo account',
      secret: { key: 'echo-secret-key-1234' },
    });
    introspector = await server.addClient({ name: 'Resource server', grantTypes: ['client_credentials'], resourceServer: true });
  });
  afterAll(async () => {
    await server?.stop();
    await upstream?.close();
  });

  it('registers a web app: the secret is in the 201 response only, the database holds only its hash (F2)', async () => {
    const { status, headers, body } = await register(dev, {
      ...webApp(),
      description: 'Posts echoes',
      homepage: 'https://app.example.com',
      logo_uri: 'https://app.example.com/logo.png',
    });
    expect(status).toBe(201);
    // A response carrying a secret is kept by no cache (threat model D3).
    expect(headers.get('cache-control')).toBe('no-store');
    expect(body).toMatchObject({ kind: 'web', name: 'Web app', redirect_uris: [redirectUri], active: true });
    const secret = body.client_secret!;
    expect(secret.length).toBeGreaterThanOrEqual(43);
    expect(await authStatus(body.client_id, secret)).toBe('200');

    const { rows } = await server.db.query<{ secret_hash: string }>('SELECT * FROM client_secrets WHERE client_id = $1', [body.client_id]);
    expect(rows.map((r) => r.secret_hash)).toEqual([hashSecret(secret)]);
    const everything = await server.db.query('SELECT c.*, s.* FROM clients c LEFT JOIN client_secrets s USING (client_id)');
    expect(JSON.stringify(everything.rows)).not.toContain(secret);
    // Never again: not in the app's JSON, the list, its page, its skill document, or the log.
    const again = await dev.api.get(`/developers/api/apps/${body.client_id}`);
    const againText = await again.text();
    expect(again.status).toBe(200);
    expect(againText).not.toContain(secret);
    expect((JSON.parse(againText) as AppJson).secrets).toHaveLength(1);
    expect(await (await dev.api.get('/developers/api/apps')).text()).not.toContain(secret);
    const page = await dev.browser.request(`/developers/apps/${body.client_id}`);
    const pageText = await page.text();
    expect(page.status).toBe(200);
    expect(pageText).not.toContain(secret);
    expect(pageText).toContain(body.client_id);
    expect(pageText).toContain(`${server.url}/.well-known/oauth-authorization-server`);
    expect(pageText).toContain(`/developers/apps/${body.client_id}/skill.md`);
    const skill = await dev.browser.request(`/developers/apps/${body.client_id}/skill.md`);
    expect(skill.status).toBe(200);
    expect(skill.headers.get('content-type')).toMatch(/^text\/markdown/);
    const skillText = await skill.text();
    expect(skillText).toContain(body.client_id);
    expect(skillText).toContain(`| MCP server | \`${server.config.MCP_URL}\``);
    expect(skillText).not.toContain(secret);
    expect(server.logs.join('')).not.toContain(secret);
  });

  it('registers a public app without a secret, and an agent service without redirect URIs', async () => {
    const pub = await register(dev, { kind: 'public', name: 'SPA', redirect_uris: ['http://127.0.0.1:5173/cb'], scopes: ['openid'] });
    expect(pub.status).toBe(201);
    expect(pub.body.client_secret).toBeUndefined();
    expect(pub.body).toMatchObject({ kind: 'public', secrets: [] });
    const agent = await register(dev, agentApp());
    expect(agent.status).toBe(201);
    expect(agent.body.redirect_uris).toEqual([]);
    // The agent can use client credentials at once, for the scopes it registered.
    const res = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: {
        authorization: basic(agent.body.client_id, agent.body.client_secret!),
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'echo.read' }),
    });
    expect(res.status).toBe(200);
    const refused = await register(dev, { ...agentApp(), redirect_uris: [redirectUri] });
    expect(refused.status).toBe(400);
    expect(refused.body.problems).toEqual([
      { field: 'redirect_uris', description: expect.stringMatching(/^Redirect URIs: an agent service signs in with the device flow/) },
    ]);
  });

  it.each([
    ['http on a public host', 'http://app.example.com/cb'],
    ['a fragment', 'https://app.example.com/cb#frag'],
    ['a wildcard', 'https://*.example.com/cb'],
    ['javascript:', 'javascript:alert(1)'],
    ['data:', 'data:text/html,<script>alert(1)</script>'],
  ])('refuses a redirect URI with %s with 400 naming the field, registering nothing (F1)', async (_what, uri) => {
    const before = (await server.db.query('SELECT client_id FROM clients')).rows.length;
    const { status, body } = await register(dev, { ...webApp(), redirect_uris: ['https://ok.example.com/cb', uri] });
    expect(status).toBe(400);
    expect(body.error).toBe('invalid_request');
    expect(body.problems).toEqual([{ field: 'redirect_uris', description: expect.stringMatching(/^Redirect URIs: entry 2: \S+ /) }]);
    expect(body.error_description).toMatch(/^The app was not saved: one problem\. Redirect URIs: entry 2: /);
    expect((await server.db.query('SELECT client_id FROM clients')).rows.length).toBe(before);
  });

  it('refuses an http logo, an unknown scope and a missing name, naming the field', async () => {
    const only = async (body: Record<string, unknown>) => {
      const refused = await register(dev, body);
      expect(refused.status).toBe(400);
      expect(refused.body.problems).toHaveLength(1);
      return refused.body.problems![0];
    };
    expect(await only({ ...webApp(), logo_uri: 'http://app.example.com/logo.png' })).toEqual({
      field: 'logo_uri',
      description: 'Logo URL: must be an https URL.',
    });
    expect(await only({ ...webApp(), scopes: ['openid', 'root.everything'] })).toEqual({
      field: 'scopes',
      description: 'Scopes: the scope root.everything is not one this server knows.',
    });
    expect(await only({ ...webApp(), name: '' })).toEqual({ field: 'name', description: 'Name: is required.' });
    expect(await only({ ...webApp(), kind: 'superuser' })).toEqual({ field: 'kind', description: 'Kind: must be web, public or agent.' });
    expect(await only({ ...webApp(), redirect_uris: [] })).toEqual({
      field: 'redirect_uris',
      description: 'Redirect URIs: an app that signs owners in needs at least one redirect URI.',
    });
  });

  it('lists every problem of a registration or an edit at once, each with its field and a sentence, and saves nothing', async () => {
    const before = (await server.db.query('SELECT client_id FROM clients')).rows.length;
    const refused = await register(dev, {
      kind: 'web',
      name: '',
      homepage: 'http://example.com',
      logo_uri: 'not a url',
      redirect_uris: ['https://ok.example.com/cb', 'javascript:alert(1)', 'http://evil.example/cb'],
      scopes: ['openid', 'no.such.scope'],
    });
    expect(refused.status).toBe(400);
    expect(refused.headers.get('content-type')).toMatch(/^application\/json/);
    expect(refused.body.error).toBe('invalid_request');
    expect(refused.body.problems).toEqual([
      { field: 'name', description: 'Name: is required.' },
      { field: 'homepage', description: 'Home page: must be an https URL.' },
      { field: 'logo_uri', description: 'Logo URL: must be an https URL.' },
      { field: 'redirect_uris', description: expect.stringMatching(/^Redirect URIs: entry 2: javascript:alert\(1\) must be .*\.$/) },
      {
        field: 'redirect_uris',
        description: expect.stringMatching(/^Redirect URIs: entry 3: http:\/\/evil\.example\/cb must be https.*\.$/),
      },
      { field: 'scopes', description: 'Scopes: the scope no.such.scope is not one this server knows.' },
    ]);
    // A client that reads only the description reads them all too.
    expect(refused.body.error_description).toMatch(/^The app was not saved: 6 problems\. Name: is required\. Home page: /);
    for (const p of refused.body.problems!) expect(refused.body.error_description).toContain(p.description);
    expect((await server.db.query('SELECT client_id FROM clients')).rows.length).toBe(before);

    // An edit: the stored app's kind rules (a public app cannot exchange tokens), beside the schema's problems.
    const { body: spa } = await register(dev, { kind: 'public', name: 'SPA', redirect_uris: [redirectUri], scopes: ['openid'] });
    const edit = await json(
      await dev.api.send('PUT', `/developers/api/apps/${spa.client_id}`, {
        name: 'x'.repeat(101),
        redirect_uris: 'ftp://files.example/cb',
        scopes: [],
        token_exchange: true,
      }),
    );
    expect(edit.status).toBe(400);
    expect(edit.body.problems!.map((p) => p.field)).toEqual(['name', 'redirect_uris', 'scopes', 'token_exchange']);
    expect(edit.body.problems).toContainEqual({ field: 'name', description: 'Name: must be at most 100 characters.' });
    expect(edit.body.problems).toContainEqual({ field: 'scopes', description: 'Scopes: pick at least one scope.' });
    expect(edit.body.problems).toContainEqual({
      field: 'token_exchange',
      description: 'Token exchange: a public app has no secret, so it cannot exchange tokens.',
    });
    expect((await json(await dev.api.get(`/developers/api/apps/${spa.client_id}`))).body.name).toBe('SPA');

    // A body that is not an object at all is one problem of the whole request.
    const notAnObject = await json(await dev.api.send('POST', '/developers/api/apps', ['web']));
    expect(notAnObject.status).toBe(400);
    expect(notAnObject.body.error).toBe('invalid_request');
  });

  it('edits an app through the JSON API, with the same redirect URI checks', async () => {
    const { body: app } = await register(dev, webApp('Before'));
    const edited = await json(
      await dev.api.send('PUT', `/developers/api/apps/${app.client_id}`, {
        ...webApp('After'),
        redirect_uris: [redirectUri, 'https://app.example.com/other'],
      }),
    );
    expect(edited.status).toBe(200);
    expect(edited.body).toMatchObject({ name: 'After', kind: 'web', redirect_uris: [redirectUri, 'https://app.example.com/other'] });
    const bad = await json(
      await dev.api.send('PUT', `/developers/api/apps/${app.client_id}`, {
        ...webApp('Bad'),
        redirect_uris: ['https://evil.example.com/*'],
      }),
    );
    expect(bad.status).toBe(400);
    expect(bad.body.problems).toEqual([{ field: 'redirect_uris', description: expect.stringMatching(/^Redirect URIs: entry 1: /) }]);
    expect((await json(await dev.api.get(`/developers/api/apps/${app.client_id}`))).body.name).toBe('After');
    // oidc-provider reads the new metadata: the authorization endpoint knows the new redirect URI.
    const auth = await fetch(
      `${server.url}/auth?${new URLSearchParams({ client_id: app.client_id, response_type: 'code', scope: 'openid', redirect_uri: 'https://app.example.com/other', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' })}`,
      { redirect: 'manual' },
    );
    expect(auth.status).toBe(303);
  });

  it('rotates with a grace period: both secrets work, then the old one is invalid_client (F3)', async () => {
    const { body: app } = await register(dev, agentApp('Rotating'));
    const first = app.client_secret!;
    const rotated = await json<{ client_secret: string; old_secrets_work_until: string; secrets: unknown[] }>(
      await dev.api.send('POST', `/developers/api/apps/${app.client_id}/secrets`, { grace: '1h' }),
    );
    expect(rotated.status).toBe(201);
    expect(rotated.headers.get('cache-control')).toBe('no-store');
    const second = rotated.body.client_secret;
    expect(second).not.toBe(first);
    expect(rotated.body.secrets).toHaveLength(2);
    expect(await authStatus(app.client_id, first)).toBe('200');
    expect(await authStatus(app.client_id, second)).toBe('200');

    clock.advance(HOUR - 60_000);
    expect(await authStatus(app.client_id, first)).toBe('200');
    clock.advance(2 * 60_000);
    expect(await authStatus(app.client_id, first)).toBe('401 invalid_client');
    expect(await authStatus(app.client_id, second)).toBe('200');
    expect((await json(await dev.api.get(`/developers/api/apps/${app.client_id}`))).body.secrets).toHaveLength(1);
    const token = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: { authorization: basic(app.client_id, first), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'echo.read' }),
    });
    expect(token.status).toBe(401);
    expect(((await token.json()) as { error: string }).error).toBe('invalid_client');
  });

  it('rotates immediately: the old secret stops at once', async () => {
    const { body: app } = await register(dev, agentApp('Immediate'));
    const rotated = await json<{ client_secret: string }>(
      await dev.api.send('POST', `/developers/api/apps/${app.client_id}/secrets`, { grace: '0' }),
    );
    expect(await authStatus(app.client_id, app.client_secret!)).toBe('401 invalid_client');
    expect(await authStatus(app.client_id, rotated.body.client_secret)).toBe('200');
  });

  it('emergency revoke kills every secret, grace or not, and issues one fresh secret', async () => {
    const { body: app } = await register(dev, agentApp('Leaked'));
    const second = (
      await json<{ client_secret: string }>(await dev.api.send('POST', `/developers/api/apps/${app.client_id}/secrets`, { grace: '7d' }))
    ).body.client_secret;
    expect(await authStatus(app.client_id, app.client_secret!)).toBe('200');
    const revoked = await json<{ client_secret: string; secrets: unknown[] }>(
      await dev.api.send('DELETE', `/developers/api/apps/${app.client_id}/secrets`),
    );
    expect(revoked.status).toBe(200);
    expect(revoked.headers.get('cache-control')).toBe('no-store');
    expect(await authStatus(app.client_id, app.client_secret!)).toBe('401 invalid_client');
    expect(await authStatus(app.client_id, second)).toBe('401 invalid_client');
    expect(await authStatus(app.client_id, revoked.body.client_secret)).toBe('200');
    expect(revoked.body.secrets).toHaveLength(1);
  });

  it("deactivating stops new flows and the app's tokens; reactivating lets it start again", async () => {
    const { body: app } = await register(dev, webApp('Pausable'));
    const client = { clientId: app.client_id, clientSecret: app.client_secret };
    const { accessToken } = await dev.appToken(client, 'openid echo.read');
    expect((await callApi(server, '/echo/me', accessToken)).status).toBe(200);

    const off = await json(await dev.api.send('POST', `/developers/api/apps/${app.client_id}/deactivate`));
    expect(off.body.active).toBe(false);
    expect((await callApi(server, '/echo/me', accessToken)).status).toBe(401);
    expect((await introspect(accessToken)).active).toBe(false);
    expect(await authStatus(app.client_id, app.client_secret!)).toBe('401 invalid_client');

    const on = await json(await dev.api.send('POST', `/developers/api/apps/${app.client_id}/reactivate`));
    expect(on.body.active).toBe(true);
    expect(await authStatus(app.client_id, app.client_secret!)).toBe('200');
    // The old token stays dead; a new consent gives a working one.
    expect((await callApi(server, '/echo/me', accessToken)).status).toBe(401);
    expect((await callApi(server, '/echo/me', (await dev.appToken(client, 'openid echo.read')).accessToken)).status).toBe(200);
  });

  it('deleting an app revokes every grant and token it held (F5)', async () => {
    const { body: app } = await register(dev, webApp('Doomed'));
    const client = { clientId: app.client_id, clientSecret: app.client_secret };
    const { accessToken, refreshToken } = await dev.appToken(client, 'openid offline_access echo.read');
    expect(refreshToken).toBeDefined();
    expect((await callApi(server, '/echo/me', accessToken)).status).toBe(200);
    expect((await introspect(accessToken)).active).toBe(true);

    const deleted = await dev.api.send('DELETE', `/developers/api/apps/${app.client_id}`);
    expect(deleted.status).toBe(200);
    expect((await introspect(accessToken)).active).toBe(false);
    const api = await callApi(server, '/echo/me', accessToken);
    expect(api.status).toBe(401);
    const refresh = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: { authorization: basic(app.client_id, app.client_secret!), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken! }),
    });
    expect(refresh.status).toBe(401);
    const left = await server.db.query(`SELECT id FROM oidc_models WHERE payload->>'clientId' = $1`, [app.client_id]);
    expect(left.rows).toEqual([]);
    expect((await server.db.query('SELECT id FROM client_secrets WHERE client_id = $1', [app.client_id])).rows).toEqual([]);
    expect((await dev.api.get(`/developers/api/apps/${app.client_id}`)).status).toBe(404);
  });

  it("deleting a developer's account deletes their apps, with every grant other owners gave them", async () => {
    const leaving = await Owner.signUp(server);
    const { body: app } = await register(leaving, webApp('Orphan'));
    // Another owner uses the app; the developer then deletes their own account.
    const { accessToken } = await dev.appToken({ clientId: app.client_id, clientSecret: app.client_secret }, 'openid echo.read');
    expect((await callApi(server, '/echo/me', accessToken)).status).toBe(200);
    const options = (await (
      await leaving.api.send('POST', '/console/api/account/delete/options', {})
    ).json()) as PublicKeyCredentialRequestOptionsJSON;
    const deleted = await leaving.api.send('POST', '/console/api/account/delete', leaving.browser.authenticator.authenticate(options));
    expect(deleted.status).toBe(200);

    expect((await callApi(server, '/echo/me', accessToken)).status).toBe(401);
    expect((await introspect(accessToken)).active).toBe(false);
    expect(await authStatus(app.client_id, app.client_secret!)).toBe('401 invalid_client');
    expect((await server.db.query('SELECT client_id FROM clients WHERE client_id = $1', [app.client_id])).rows).toEqual([]);
  });

  it('another developer cannot see or touch an app: 404 like an unknown one, and the app is unchanged (F4)', async () => {
    const { body: app } = await register(dev, agentApp('Mine'));
    const before = await (await dev.api.get(`/developers/api/apps/${app.client_id}`)).text();
    const other = await Owner.signUp(server);
    const unknown = 'c_AAAAAAAAAAAAAAAAAAAAAAAA'.slice(0, 18);
    const attempts = (id: string) => [
      other.api.get(`/developers/api/apps/${id}`),
      other.api.send('PUT', `/developers/api/apps/${id}`, webApp('Stolen')),
      other.api.send('POST', `/developers/api/apps/${id}/secrets`, { grace: '0' }),
      other.api.send('DELETE', `/developers/api/apps/${id}/secrets`),
      other.api.send('POST', `/developers/api/apps/${id}/deactivate`),
      other.api.send('DELETE', `/developers/api/apps/${id}`),
      other.browser.request(`/developers/apps/${id}`),
      other.browser.request(`/developers/apps/${id}/edit`),
      other.browser.request(`/developers/apps/${id}/skill.md`),
      other.browser.postForm(`/developers/apps/${id}/rotate`, { csrf: other.csrf, grace: '0' }),
      other.browser.postForm(`/developers/apps/${id}/delete`, { csrf: other.csrf }),
    ];
    const theirs = await Promise.all((await Promise.all(attempts(app.client_id))).map(async (r) => `${r.status} ${await r.text()}`));
    const nobodys = await Promise.all((await Promise.all(attempts(unknown))).map(async (r) => `${r.status} ${await r.text()}`));
    for (const answer of theirs) expect(answer).toMatch(/^404 /);
    // Nothing tells an existing app of someone else from an unknown id (request ids aside).
    const scrub = (s: string) => s.replace(/[0-9a-f]{8}-[0-9a-f-]{27}|req_[A-Za-z0-9_-]+|"requestId":"[^"]*"/g, '');
    expect(theirs.map(scrub)).toEqual(nobodys.map(scrub));
    expect(theirs.join('')).not.toContain('Mine');
    expect(await (await other.api.get('/developers/api/apps')).json()).toEqual({ apps: [] });

    expect(await (await dev.api.get(`/developers/api/apps/${app.client_id}`)).text()).toBe(before);
    expect(await authStatus(app.client_id, app.client_secret!)).toBe('200');
  });

  it('works through the form pages: register, see the secret once, edit, rotate, deactivate, delete', async () => {
    const form = (path: string, fields: Record<string, string>) => dev.browser.postForm(path, { csrf: dev.csrf, ...fields });
    const newPage = await dev.browser.request('/developers/apps/new');
    expect(newPage.status).toBe(200);
    expect(csrfFrom(await newPage.text())).toBe(dev.csrf);

    const bad = await form('/developers/apps', {
      kind: 'web',
      name: 'Form app',
      redirect_uris: 'https://ok.example.com/cb\njavascript:alert(1)',
      'scope:openid': 'on',
    });
    expect(bad.status).toBe(400);
    const badText = await bad.text();
    expect(badText).toContain('Redirect URIs: line 2: javascript:alert(1) must be');
    expect(badText).not.toContain('redirect_uris.1');
    expect(badText).toContain('Form app'); // what was typed comes back

    const created = await form('/developers/apps', {
      kind: 'web',
      name: 'Form app',
      description: '',
      homepage: '',
      logo_uri: '',
      redirect_uris: `${redirectUri}\n`,
      'scope:openid': 'on',
      'scope:echo.read': 'on',
    });
    // POST, redirect, GET: the secret waits for the app's page in a one-time slot, never in a URL.
    expect(created.status).toBe(303);
    const location = created.headers.get('location')!;
    expect(location).toMatch(/^\/developers\/apps\/c_[A-Za-z0-9_-]{16}\?done=registered$/);
    const page = await (await dev.browser.request(location)).text();
    const clientId = /id="client-id">(c_[A-Za-z0-9_-]+)</.exec(page)![1]!;
    const secret = /id="new-secret-value"[^>]*value="([^"]+)"/.exec(page)![1]!;
    expect(page.split(secret)).toHaveLength(2);
    expect(page).toContain('data-copy="new-secret-value"');
    expect(page).toContain('App registered. Copy its secret now: it is shown only once.');
    expect(await authStatus(clientId, secret)).toBe('200');
    // A reload of that view shows the page without the secret, and registers nothing again.
    const apps = async () => ((await (await dev.api.get('/developers/api/apps')).json()) as { apps: unknown[] }).apps.length;
    const count = await apps();
    const reloaded = await (await dev.browser.request(location)).text();
    expect(reloaded).not.toContain(secret);
    expect(reloaded).not.toContain('id="new-secret-value"');
    expect(reloaded).toContain('Its secret was shown once and is not shown again.');
    expect(await apps()).toBe(count);
    expect(await (await dev.browser.request(`/developers/apps/${clientId}`)).text()).not.toContain(secret);
    expect(await (await dev.browser.request('/developers')).text()).toContain('Form app');

    const edited = await form(`/developers/apps/${clientId}`, { name: 'Form app 2', redirect_uris: redirectUri, 'scope:openid': 'on' });
    expect(edited.status).toBe(303);
    expect(edited.headers.get('location')).toBe(`/developers/apps/${clientId}?done=updated`);
    const editPage = await (await dev.browser.request(`/developers/apps/${clientId}/edit`)).text();
    expect(editPage).toContain('value="Form app 2"');

    const rotated = await form(`/developers/apps/${clientId}/rotate`, { grace: '1h' });
    expect(rotated.status).toBe(303);
    expect(rotated.headers.get('location')).toBe(`/developers/apps/${clientId}?done=rotated`);
    const rotatedPage = await (await dev.browser.request(rotated.headers.get('location')!)).text();
    const second = /id="new-secret-value"[^>]*value="([^"]+)"/.exec(rotatedPage)![1]!;
    expect(second).not.toBe(secret);
    expect(rotatedPage).toContain('data-copy="new-secret-value"');
    // Until when the old one works, as a moment the browser shows in its own zone.
    const until = /The old secret keeps working until <time datetime="([^"]+)"[^>]*data-time="absolute">/.exec(rotatedPage)![1]!;
    expect(Math.abs(Date.parse(until) - (clock.now().getTime() + HOUR))).toBeLessThan(60_000);
    expect(rotatedPage.match(/class="secret-until"/g)).toHaveLength(2);
    expect(await authStatus(clientId, secret)).toBe('200');
    expect(await authStatus(clientId, second)).toBe('200');
    // A reload rotates nothing: the same two secrets, both still working.
    const again = await (await dev.browser.request(rotated.headers.get('location')!)).text();
    expect(again).not.toContain(second);
    expect(again).toContain('The new secret was shown once and is not shown again.');
    expect(again.match(/class="secret-until"/g)).toHaveLength(2);
    expect(await authStatus(clientId, second)).toBe('200');

    // Revoking every secret: a fresh one shown once; a reload revokes nothing more.
    const revoked = await form(`/developers/apps/${clientId}/revoke-secrets`, {});
    expect(revoked.status).toBe(303);
    expect(revoked.headers.get('location')).toBe(`/developers/apps/${clientId}?done=revoked`);
    const fresh = /id="new-secret-value"[^>]*value="([^"]+)"/.exec(
      await (await dev.browser.request(revoked.headers.get('location')!)).text(),
    )![1]!;
    expect(await authStatus(clientId, second)).toBe('401 invalid_client');
    expect(await authStatus(clientId, fresh)).toBe('200');
    expect(await (await dev.browser.request(revoked.headers.get('location')!)).text()).toContain('The fresh one was shown once');
    expect(await authStatus(clientId, fresh)).toBe('200');

    // A public app has no secret: its registration says so plainly, and nothing waits in a slot.
    const spa = await form('/developers/apps', { kind: 'public', name: 'Form SPA', redirect_uris: redirectUri, 'scope:openid': 'on' });
    expect(spa.status).toBe(303);
    expect(spa.headers.getSetCookie().some((c) => c.startsWith('oauth3_console_once='))).toBe(false);
    const spaPage = await (await dev.browser.request(spa.headers.get('location')!)).text();
    expect(spaPage).toContain('App registered.');
    expect(spaPage).not.toContain('new-secret-value');
    expect(spaPage).not.toContain('shown once and is not shown again');

    // A rotation without grace says the old secret stopped.
    const now = await form(`/developers/apps/${clientId}/rotate`, { grace: '0' });
    const nowPage = await (await dev.browser.request(now.headers.get('location')!)).text();
    expect(nowPage).toContain('The old secret stopped working.');
    const newest = /id="new-secret-value"[^>]*value="([^"]+)"/.exec(nowPage)![1]!;
    expect(await authStatus(clientId, fresh)).toBe('401 invalid_client');
    expect(await authStatus(clientId, newest)).toBe('200');

    expect((await form(`/developers/apps/${clientId}/deactivate`, {})).status).toBe(303);
    expect(await authStatus(clientId, newest)).toBe('401 invalid_client');
    expect(await (await dev.browser.request(`/developers/apps/${clientId}`)).text()).toContain('Reactivate');
    expect((await form(`/developers/apps/${clientId}/delete`, {})).status).toBe(303);
    expect((await dev.browser.request(`/developers/apps/${clientId}`)).status).toBe(404);
  });

  it('requires a signed-in developer, the CSRF token and our own origin', async () => {
    expect((await fetch(`${server.url}/developers/api/apps`, { headers: { accept: 'application/json' } })).status).toBe(401);
    const page = await fetch(`${server.url}/developers`, { redirect: 'manual' });
    expect(page.status).toBe(302);
    expect(page.headers.get('location')).toBe('/console/login?return=%2Fdevelopers');
    expect((await dev.api.send('POST', '/developers/api/apps', agentApp('No CSRF'), { csrf: null })).status).toBe(403);
    expect((await dev.api.send('POST', '/developers/api/apps', agentApp('Cross-site'), { origin: 'https://evil.example' })).status).toBe(
      403,
    );
  });

  it('records what developers did in the audit trail', async () => {
    const { rows } = await server.db.query<{ kind: string }>('SELECT DISTINCT kind FROM events WHERE account_id = $1', [dev.accountId]);
    expect(rows.map((r) => r.kind)).toEqual(
      expect.arrayContaining([
        'developer.app.created',
        'developer.app.updated',
        'developer.app.deleted',
        'developer.app.deactivated',
        'developer.app.reactivated',
        'developer.secret.rotated',
        'developer.secret.revoked',
      ]),
    );
  });
});

describe.each(backends())('developer registration limits on %s storage (defaults)', (backend) => {
  let server: TestServer;
  const agentApp = (name: string) => ({ kind: 'agent', name, scopes: ['openid'] });
  const registerOn = async (owner: Owner, body: Record<string, unknown>) => {
    const res = await owner.api.send('POST', '/developers/api/apps', body);
    return { status: res.status, body: (await res.json()) as { error?: string } };
  };

  beforeAll(async () => {
    server = await startTestServer({ backend });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('limits registrations to 5 an hour (429) and 10 apps in all (409) per developer', async () => {
    const busy = await Owner.signUp(server);
    for (let i = 0; i < 5; i++) expect((await registerOn(busy, agentApp(`Busy ${i}`))).status).toBe(201);
    const sixth = await registerOn(busy, agentApp('Busy 6'));
    expect(sixth.status).toBe(429);
    expect(sixth.body.error).toBe('too_many_registrations');
    // Deleting one does not give its place in this hour back.
    const first = ((await (await busy.api.get('/developers/api/apps')).json()) as { apps: AppJson[] }).apps[0]!;
    expect((await busy.api.send('DELETE', `/developers/api/apps/${first.client_id}`)).status).toBe(200);
    expect((await registerOn(busy, agentApp('Busy 7'))).status).toBe(429);

    const full = await Owner.signUp(server);
    for (let i = 0; i < 10; i++) {
      await server.db.query(
        `INSERT INTO clients (client_id, metadata, account_id, kind, created_at) VALUES ($1, $2, $3, 'agent', now() - interval '1 day')`,
        [
          `c_old${i}_${full.accountId.slice(0, 8)}`,
          { client_name: `Old ${i}`, grant_types: ['client_credentials'], redirect_uris: [] },
          full.accountId,
        ],
      );
    }
    const eleventh = await registerOn(full, agentApp('One too many'));
    expect(eleventh.status).toBe(409);
    expect(eleventh.body.error).toBe('too_many_apps');
  });
});
