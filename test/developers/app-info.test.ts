import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { Owner } from '../helpers/owner.js';
import { redirectUri } from '../helpers/token-flow.js';

interface Registered {
  client_id: string;
  client_secret?: string;
}

/**
 * GET /developers/apps/:clientId/info: an app's public information, readable by anyone without signing in (what the
 * consent screen shows and how to start its flows), short-lived in caches, and never a secret or the redirect URIs.
 */
describe('public app information', () => {
  let server: TestServer;
  let dev: Owner;
  let app: Registered;

  const info = (clientId: string) => fetch(`${server.url}/developers/apps/${clientId}/info`, { headers: { accept: 'application/json' } });
  const register = async (body: Record<string, unknown>) => {
    const res = await dev.api.send('POST', '/developers/api/apps', body);
    expect(res.status).toBe(201);
    return (await res.json()) as Registered;
  };

  beforeAll(async () => {
    server = await startTestServer();
    dev = await Owner.signUp(server);
    app = await register({
      kind: 'web',
      name: 'Newsroom',
      description: 'Posts the morning summary.',
      logo_uri: 'https://newsroom.example/logo.png',
      homepage: 'https://newsroom.example',
      redirect_uris: [redirectUri, `${server.url}/developers/playground`],
      scopes: ['openid', 'offline_access', 'tweet.post'],
    });
  });
  afterAll(() => server?.stop());

  it("answers anyone with the app's name, description, icon, home page and scopes in plain words", async () => {
    const res = await info(app.client_id);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      client_id: app.client_id,
      name: 'Newsroom',
      description: 'Posts the morning summary.',
      logo_uri: 'https://newsroom.example/logo.png',
      client_uri: 'https://newsroom.example',
      kind: 'web',
      token_endpoint_auth_method: 'client_secret_basic',
      playground: { redirect_uri: `${server.url}/developers/playground`, registered: true },
    });
    expect(body.scopes).toEqual([
      expect.objectContaining({ name: 'openid', title: 'Know who you are', access: 'identity' }),
      expect.objectContaining({ name: 'offline_access', title: 'Stay connected' }),
      {
        name: 'tweet.post',
        title: 'Post on X as you',
        description: 'Publish posts, replies and quotes on your X account, within the limits you set.',
        access: 'write',
      },
    ]);
  });

  it("names the authorization and device-flow endpoints exactly as the server's discovery does", async () => {
    const body = (await (await info(app.client_id)).json()) as Record<string, string>;
    const discovery = (await (await fetch(body.discovery!)).json()) as Record<string, string>;
    expect(body.issuer).toBe(discovery.issuer);
    expect(body.authorization_endpoint).toBe(discovery.authorization_endpoint);
    expect(body.device_authorization_endpoint).toBe(discovery.device_authorization_endpoint);
    expect(body.token_endpoint).toBe(discovery.token_endpoint);
  });

  it('holds no secret, owner or redirect URI, and may be cached for five minutes by anyone', async () => {
    const res = await info(app.client_id);
    const text = await res.text();
    expect(text).not.toContain(app.client_secret!);
    expect(text).not.toContain(redirectUri);
    expect(text).not.toContain(dev.accountId);
    expect(Object.keys(JSON.parse(text) as object)).not.toEqual(expect.arrayContaining(['redirect_uris']));
    expect(text).not.toMatch(/secret"|account_id|redirect_uris/);
    expect(res.headers.get('cache-control')).toBe('public, max-age=300');
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('set-cookie')).toBeNull();
  });

  it('says whether the playground can sign in with the app, and a public app needs no secret', async () => {
    const spa = await register({ kind: 'public', name: 'SPA', redirect_uris: [redirectUri], scopes: ['openid'] });
    expect(await (await info(spa.client_id)).json()).toMatchObject({
      token_endpoint_auth_method: 'none',
      playground: { registered: false },
    });
  });

  it('answers 404, not cached, for an unknown, malformed or deactivated app', async () => {
    const gone = await register({ kind: 'agent', name: 'Gone', scopes: ['tweet.read'] });
    expect((await info(gone.client_id)).status).toBe(200);
    expect((await dev.api.send('POST', `/developers/api/apps/${gone.client_id}/deactivate`)).status).toBe(200);
    for (const id of [gone.client_id, 'c_AAAAAAAAAAAAAAAA', 'not%20an%20id', 'a'.repeat(200)]) {
      const res = await info(id);
      expect([id, res.status, res.headers.get('cache-control')]).toEqual([id, 404, 'no-store']);
      expect(((await res.json()) as { error: string }).error).toBe('not_found');
    }
  });
});
