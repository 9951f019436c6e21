import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { Owner, callApi } from '../helpers/owner.js';
import { basic, redirectUri } from '../helpers/token-flow.js';
import { echoPlugin, startEchoUpstream } from '../resource/echo-plugin.js';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

interface AppJson {
  client_id: string;
  kind: string;
  grant_types: string[];
  token_exchange: boolean;
  client_secret?: string;
  error?: string;
  error_description?: string;
}

/**
 * The portal's token exchange choice: a confidential app registered with it may trade its tokens for narrower ones at
 * once; taking it away refuses the next exchange (unauthorized_client); a public app cannot have it.
 */
describe.each(backends())('token exchange in the developer portal on %s storage', (backend) => {
  let server: TestServer;
  let upstream: Awaited<ReturnType<typeof startEchoUpstream>>;
  let dev: Owner;

  beforeAll(async () => {
    upstream = await startEchoUpstream();
    server = await startTestServer({
      backend,
      plugins: [echoPlugin(() => upstream.url)],
      env: { DEVELOPER_APPS_PER_HOUR: '100', DEVELOPER_APPS_MAX: '100' },
    });
    dev = await Owner.signUp(server);
    await server.app.connections.save(dev.accountId, {
      provider: 'echo',
      kind: 'echo.key',
      label: 'echo account',
      secret: { key: 'echo-secret-key-5678' },
    });
  });
  afterAll(async () => {
    await server?.stop();
    await upstream?.close();
  });

  const json = async (res: Response) => ({ status: res.status, body: (await res.json()) as AppJson });
  const webApp = (name: string, extra: Record<string, unknown> = {}) => ({
    kind: 'web',
    name,
    redirect_uris: [redirectUri],
    scopes: ['openid', 'echo.read'],
    ...extra,
  });
  const exchange = async (clientId: string, secret: string, subject: string) => {
    const res = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: { authorization: basic(clientId, secret), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: TOKEN_EXCHANGE, subject_token: subject, subject_token_type: ACCESS_TOKEN }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  /** The grant types oidc-provider reads for the client, from the database itself. */
  const stored = async (clientId: string) =>
    (await server.db.query<{ g: string[] }>("SELECT metadata->'grant_types' AS g FROM clients WHERE client_id = $1", [clientId])).rows[0]!
      .g;

  it('registers a web app for token exchange through the JSON API; taking it away refuses the next exchange', async () => {
    const created = await json(await dev.api.send('POST', '/developers/api/apps', webApp('Exchanging app', { token_exchange: true })));
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ token_exchange: true });
    expect(created.body.grant_types).toEqual(['authorization_code', 'refresh_token', TOKEN_EXCHANGE]);
    const { client_id: clientId, client_secret: secret } = created.body;
    expect(await stored(clientId)).toContain(TOKEN_EXCHANGE);

    const subject = (await dev.appToken({ clientId, clientSecret: secret }, 'echo.read')).accessToken;
    const ok = await exchange(clientId, secret!, subject);
    expect(ok.status).toBe(200);
    expect(await callApi(server, '/echo/me', String(ok.body.access_token)).then((r) => r.status)).toBe(200);

    // A JSON update that leaves the field out keeps the choice.
    const kept = await json(await dev.api.send('PUT', `/developers/api/apps/${clientId}`, webApp('Exchanging app, renamed')));
    expect(kept.body).toMatchObject({ token_exchange: true });

    const removed = await json(
      await dev.api.send('PUT', `/developers/api/apps/${clientId}`, webApp('Exchanging app, renamed', { token_exchange: false })),
    );
    expect(removed.status).toBe(200);
    expect(removed.body).toMatchObject({ token_exchange: false, grant_types: ['authorization_code', 'refresh_token'] });
    expect(await stored(clientId)).not.toContain(TOKEN_EXCHANGE);
    // oidc-provider sees the change at once (the client cache is told): the same token may no longer be exchanged.
    const refused = await exchange(clientId, secret!, subject);
    expect(refused.body).toMatchObject({ error: 'unauthorized_client' });
    expect(refused.body).not.toHaveProperty('access_token');
  });

  it('does not let a public app register for token exchange', async () => {
    const reply = await json(
      await dev.api.send('POST', '/developers/api/apps', { ...webApp('Public app', { token_exchange: true }), kind: 'public' }),
    );
    expect(reply.status).toBe(400);
    expect(reply.body.error_description).toContain('public app');
    const plain = await json(await dev.api.send('POST', '/developers/api/apps', { ...webApp('Plain public app'), kind: 'public' }));
    expect(plain.status).toBe(201);
    expect(plain.body.grant_types).not.toContain(TOKEN_EXCHANGE);
    const edit = await dev.api.send(
      'PUT',
      `/developers/api/apps/${plain.body.client_id}`,
      webApp('Plain public app', { token_exchange: true }),
    );
    expect(edit.status).toBe(400);
    expect(await stored(plain.body.client_id)).not.toContain(TOKEN_EXCHANGE);
    // Its edit page does not offer the checkbox.
    expect(await (await dev.browser.request(`/developers/apps/${plain.body.client_id}/edit`)).text()).not.toContain(
      'name="token_exchange"',
    );
  });

  it('offers the checkbox on the register and edit forms of an agent service, and shows the choice on its page', async () => {
    const form = (path: string, fields: Record<string, string>) => dev.browser.postForm(path, { csrf: dev.csrf, ...fields });
    const newPage = await (await dev.browser.request('/developers/apps/new')).text();
    expect(newPage).toContain('May exchange its tokens for narrower ones for its own helpers (token exchange)');

    const created = await form('/developers/apps', { kind: 'agent', name: 'Form agent', 'scope:echo.read': 'on', token_exchange: 'on' });
    expect(created.status).toBe(303);
    const page = await (await dev.browser.request(created.headers.get('location')!)).text();
    const clientId = /id="client-id">(c_[A-Za-z0-9_-]+)</.exec(page)![1]!;
    expect(page).toContain('Yes: may exchange its tokens for narrower ones for its own helpers');
    expect(await stored(clientId)).toEqual([
      'urn:ietf:params:oauth:grant-type:device_code',
      'refresh_token',
      'client_credentials',
      TOKEN_EXCHANGE,
    ]);
    const editPage = await (await dev.browser.request(`/developers/apps/${clientId}/edit`)).text();
    expect(editPage).toMatch(/name="token_exchange" value="on"[^>]* checked/);

    // Saving the form with the box cleared takes it away.
    expect((await form(`/developers/apps/${clientId}`, { name: 'Form agent', 'scope:echo.read': 'on' })).status).toBe(303);
    expect(await stored(clientId)).toEqual(['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token', 'client_credentials']);
    expect(await (await dev.browser.request(`/developers/apps/${clientId}`)).text()).toMatch(/<dt>Token exchange<\/dt><dd>No<\/dd>/);
  });
});
