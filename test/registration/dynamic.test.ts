import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import { hashSecret } from '../../src/clients/secrets.js';
import { INITIAL_ACCESS_TOKEN, createInitialAccessToken } from '../../src/registration/initial-access-tokens.js';
import { modelStorage } from '../../adapters/index.js';
import { startTestServer, storageEnv, type TestServer } from '../helpers/server.js';
import { runCommand } from '../helpers/cli.js';
import { backends } from '../helpers/services.js';
import { TestBrowser } from '../helpers/browser.js';
import { codeFlow } from '../helpers/code-flow.js';

const redirectUri = 'http://127.0.0.1:8765/callback';
const insecure = { execute: [oidc.allowInsecureRequests] };

interface Registered {
  client_id: string;
  client_secret?: string;
  registration_access_token: string;
  registration_client_uri: string;
  [key: string]: unknown;
}

/** A hand-built RFC 7591 request, for the refusals (the happy path goes through openid-client). */
async function register(server: TestServer, metadata: Record<string, unknown>, token?: string) {
  const res = await fetch(`${server.url}/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(metadata),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> & Registered };
}

/** An RFC 7592 request to a client's configuration endpoint with a registration access token. */
async function manage(url: string, token: string, method: 'GET' | 'PUT' | 'DELETE', body?: unknown) {
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> & Registered };
}

/** Client authentication with client_secret_post at the introspection endpoint: 200 when it authenticates, else 401. */
async function authenticates(server: TestServer, clientId: string, clientSecret: string): Promise<number> {
  const res = await fetch(`${server.url}/token/introspection`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: clientId, client_secret: clientSecret, token: 'not-a-token' }),
  });
  return res.status;
}

const webApp = (extra: Record<string, unknown> = {}) => ({
  client_name: 'MCP client',
  redirect_uris: [redirectUri],
  token_endpoint_auth_method: 'client_secret_post',
  ...extra,
});

describe.each(backends())('dynamic client registration (RFC 7591/7592) behind initial access tokens on %s storage', (backend) => {
  let server: TestServer;
  let iat: string;

  const cli = (...argv: string[]) =>
    runCommand(argv, { NODE_ENV: 'test', LOG_LEVEL: 'silent', REGISTRATION: 'token', ...storageEnv(server) });

  beforeAll(async () => {
    server = await startTestServer({ backend, env: { REGISTRATION: 'token' } });
    // On embedded storage the CLI reaches the running server over its admin socket; on Postgres it writes directly.
    const run = await cli('registration-tokens', 'create', '--expires-in', '1h', '--json');
    expect(run).toMatchObject({ code: 0, err: '' });
    iat = (JSON.parse(run.out) as { initial_access_token: string }).initial_access_token;
  });
  afterAll(() => server?.stop());

  it('advertises the registration endpoint in discovery', async () => {
    const metadata = (await (await fetch(`${server.url}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect(metadata.registration_endpoint).toBe(`${server.url}/reg`);
  });

  it('refuses a registration without an initial access token, with a wrong one, or an expired one (401 invalid_token)', async () => {
    const none = await register(server, webApp());
    expect(none.status).toBe(401);
    expect(none.body.error).toBe('invalid_token');
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);

    const wrong = await register(server, webApp(), iat.slice(0, -2) + (iat.endsWith('AA') ? 'BB' : 'AA'));
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toBe('invalid_token');

    const { token: shortLived } = await createInitialAccessToken(modelStorage(server.db, INITIAL_ACCESS_TOKEN), 1);
    await new Promise((r) => setTimeout(r, 2100));
    const expired = await register(server, webApp(), shortLived);
    expect(expired.status).toBe(401);
    expect(expired.body.error).toBe('invalid_token');
    expect(Number((await server.db.query<{ n: string }>('SELECT count(*) AS n FROM clients')).rows[0]!.n)).toBe(0);
  });

  it('refuses a token revoked with the CLI', async () => {
    const created = await cli('registration-tokens', 'create', '--json');
    const token = (JSON.parse(created.out) as { initial_access_token: string }).initial_access_token;
    expect((await cli('registration-tokens', 'revoke', token)).code).toBe(0);
    expect((await register(server, webApp(), token)).status).toBe(401);
    expect((await cli('registration-tokens', 'revoke', token)).code).toBe(1);
  });

  it.each(['soon', '0', '91d', '1w'])('refuses to create a token with --expires-in %s, and stores none', async (value) => {
    const before = (await server.db.query("SELECT 1 FROM oidc_models WHERE model = 'InitialAccessToken'")).rows.length;
    const run = await cli('registration-tokens', 'create', '--expires-in', value);
    expect(run).toMatchObject({ code: 65, out: '' });
    expect(run.err).toContain('--expires-in: use seconds or a duration such as 30m, 12h or 7d (at most 90d)');
    expect((await server.db.query("SELECT 1 FROM oidc_models WHERE model = 'InitialAccessToken'")).rows).toHaveLength(before);
  });

  let registered: Registered;

  it('registers a client through openid-client, which then signs an owner in with code + PKCE', async () => {
    const config = await oidc.dynamicClientRegistration(
      new URL(server.url),
      webApp({ scope: 'openid offline_access tweet.read' }),
      undefined,
      { initialAccessToken: iat, ...insecure },
    );
    registered = config.clientMetadata() as unknown as Registered;
    expect(registered.client_id).toMatch(/^c_/);
    expect(registered.client_secret).toEqual(expect.any(String));
    expect(registered.registration_access_token).toEqual(expect.any(String));
    expect(registered.registration_client_uri).toBe(`${server.url}/reg/${registered.client_id}`);

    const browser = new TestBrowser(server.url);
    const tokens = await codeFlow(
      config,
      browser,
      { redirect_uri: redirectUri, scope: 'openid offline_access tweet.read', prompt: 'consent' },
      {
        passkey: 'signup',
        consent: 'approve',
      },
    );
    expect(tokens.refresh_token).toEqual(expect.any(String));
    expect(tokens.claims()!.sub).toBe(browser.authenticator.credentials[0]!.userHandle);
    expect(await oidc.tokenIntrospection(config, tokens.access_token)).toMatchObject({ active: true, client_id: registered.client_id });

    // The provider's OAuth 2.1 rules hold for registered clients too: no PKCE, no code.
    const noPkce = await browser.navigate(
      oidc.buildAuthorizationUrl(config, { redirect_uri: redirectUri, scope: 'openid', state: oidc.randomState() }).href,
    );
    expect(noPkce.url).not.toContain('code=');
  });

  it('stores only a digest of the secret: not in the clients row, nowhere in the database', async () => {
    const { rows: clients } = await server.db.query<{ metadata: Record<string, unknown>; account_id: string | null }>(
      'SELECT metadata, account_id FROM clients WHERE client_id = $1',
      [registered.client_id],
    );
    expect(clients).toHaveLength(1);
    expect(clients[0]!.metadata).not.toHaveProperty('client_secret');
    expect(clients[0]!.metadata).toMatchObject({ client_name: 'MCP client', redirect_uris: [redirectUri] });
    expect(clients[0]!.account_id).toBeNull();
    const { rows: secrets } = await server.db.query<{ secret_hash: string }>(
      'SELECT secret_hash FROM client_secrets WHERE client_id = $1',
      [registered.client_id],
    );
    expect(secrets.map((s) => s.secret_hash)).toEqual([hashSecret(registered.client_secret!)]);
    for (const table of ['clients', 'client_secrets', 'oidc_models']) {
      const { rows } = await server.db.query(`SELECT * FROM ${table}`);
      expect(JSON.stringify(rows)).not.toContain(registered.client_secret);
    }
    // Nor in a log line: the secret, the registration access token, the initial access token (B8).
    const logs = server.logs.join('');
    for (const value of [registered.client_secret!, registered.registration_access_token, iat]) expect(logs).not.toContain(value);
  });

  it('registers a public client (PKCE, no secret) without any secret row', async () => {
    const res = await register(server, webApp({ token_endpoint_auth_method: 'none', client_name: 'Native MCP client' }), iat);
    expect(res.status).toBe(201);
    expect(res.body).not.toHaveProperty('client_secret');
    expect((await server.db.query('SELECT 1 FROM client_secrets WHERE client_id = $1', [res.body.client_id])).rows).toEqual([]);
  });

  it.each([
    ['an http redirect URI off loopback', { redirect_uris: ['http://app.example/cb'] }, 'invalid_redirect_uri'],
    ['a redirect URI with a fragment', { redirect_uris: ['https://app.example/cb#x'] }, 'invalid_redirect_uri'],
    ['a wildcard redirect URI', { redirect_uris: ['https://*.app.example/cb'] }, 'invalid_redirect_uri'],
    ['a javascript: redirect URI', { redirect_uris: ['javascript:alert(1)'] }, 'invalid_redirect_uri'],
    ['a data: redirect URI', { redirect_uris: ['data:text/html,hi'] }, 'invalid_redirect_uri'],
    [
      'one bad redirect URI among good ones',
      { redirect_uris: ['https://app.example/cb', 'http://evil.example/cb'] },
      'invalid_redirect_uri',
    ],
    ['an http logo', { logo_uri: 'http://app.example/logo.png' }, 'invalid_client_metadata'],
    ['an http policy page', { policy_uri: 'http://app.example/policy' }, 'invalid_client_metadata'],
    ['a javascript: client_uri', { client_uri: 'javascript:alert(1)' }, 'invalid_client_metadata'],
    ['an unknown scope', { scope: 'openid admin.everything' }, 'invalid_client_metadata'],
    ['the implicit grant', { grant_types: ['implicit'], response_types: ['token'] }, 'invalid_client_metadata'],
    ['the password grant', { grant_types: ['password'] }, 'invalid_client_metadata'],
    ['a token response type', { response_types: ['code token'] }, 'invalid_client_metadata'],
    ['client_secret_jwt authentication', { token_endpoint_auth_method: 'client_secret_jwt' }, 'invalid_client_metadata'],
    [
      'client_credentials for a public client',
      { token_endpoint_auth_method: 'none', grant_types: ['client_credentials'], redirect_uris: [] },
      'invalid_client_metadata',
    ],
    [
      'client_credentials, whose tokens act for no owner',
      { grant_types: ['authorization_code', 'client_credentials'] },
      'invalid_client_metadata',
    ],
    ['resource_server, which may introspect every token', { resource_server: true }, 'invalid_client_metadata'],
    ['no client_name', { client_name: undefined }, 'invalid_client_metadata'],
    ['a markup-only blank name', { client_name: '   ' }, 'invalid_client_metadata'],
  ])('refuses %s', async (_case, change, error) => {
    const before = (await server.db.query('SELECT client_id FROM clients')).rows.length;
    const res = await register(server, webApp(change), iat);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe(error);
    expect(res.body.error_description).toEqual(expect.any(String));
    expect((await server.db.query('SELECT client_id FROM clients')).rows.length).toBe(before);
  });

  describe('RFC 7592 management with the registration access token', () => {
    let other: Registered;

    beforeAll(async () => {
      other = (await register(server, webApp({ client_name: 'Other client' }), iat)).body;
    });

    it('reads the registration without any client_secret (only its digest is kept)', async () => {
      const res = await manage(registered.registration_client_uri, registered.registration_access_token, 'GET');
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toMatch(/no-store/);
      expect(res.body).toMatchObject({ client_id: registered.client_id, client_name: 'MCP client', redirect_uris: [redirectUri] });
      expect(res.body).not.toHaveProperty('client_secret');
      expect(JSON.stringify(res.body)).not.toMatch(/sha256:/);
    });

    it("refuses another client's registration access token, and unknown ones", async () => {
      const res = await manage(registered.registration_client_uri, other.registration_access_token, 'GET');
      expect(res.status).toBe(401);
      expect(res.body.error).toBe('invalid_token');
      expect(JSON.stringify(res.body)).not.toContain(registered.client_name);
      for (const method of ['PUT', 'DELETE'] as const) {
        const attempt = await manage(
          registered.registration_client_uri,
          'bogus-token',
          method,
          method === 'PUT'
            ? { client_id: registered.client_id, client_name: 'Hijacked', redirect_uris: ['https://evil.example/cb'] }
            : undefined,
        );
        expect(attempt.status).toBe(401);
      }
      const { rows } = await server.db.query<{ metadata: { client_name: string } }>('SELECT metadata FROM clients WHERE client_id = $1', [
        registered.client_id,
      ]);
      expect(rows[0]!.metadata.client_name).toBe('MCP client');
    });

    it('refuses an update to a bad redirect URI and a wrong client_secret, and changes nothing', async () => {
      const badUri = await manage(registered.registration_client_uri, registered.registration_access_token, 'PUT', {
        ...webApp(),
        client_id: registered.client_id,
        redirect_uris: ['http://evil.example/cb'],
      });
      expect(badUri.status).toBe(400);
      expect(badUri.body.error).toBe('invalid_redirect_uri');
      const wrongSecret = await manage(registered.registration_client_uri, registered.registration_access_token, 'PUT', {
        ...webApp(),
        client_id: registered.client_id,
        client_secret: 'not-the-secret',
      });
      expect(wrongSecret.status).toBe(400);
      expect(wrongSecret.body.error).toBe('invalid_request');
      const { rows } = await server.db.query<{ metadata: { redirect_uris: string[] } }>(
        'SELECT metadata FROM clients WHERE client_id = $1',
        [registered.client_id],
      );
      expect(rows[0]!.metadata.redirect_uris).toEqual([redirectUri]);
    });

    it('updates the registration (with the current secret, as RFC 7592 §2.2 allows), rotating the access token and keeping the secret', async () => {
      const res = await manage(registered.registration_client_uri, registered.registration_access_token, 'PUT', {
        ...webApp(),
        client_id: registered.client_id,
        client_secret: registered.client_secret,
        client_name: 'MCP client v2',
        redirect_uris: [redirectUri, 'https://mcp.example/callback'],
      });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ client_name: 'MCP client v2', redirect_uris: [redirectUri, 'https://mcp.example/callback'] });
      expect(res.body).not.toHaveProperty('client_secret');
      expect(res.body.registration_access_token).not.toBe(registered.registration_access_token);

      // The old registration access token is gone; the new one works; the secret is unchanged and still a digest.
      expect((await manage(registered.registration_client_uri, registered.registration_access_token, 'GET')).status).toBe(401);
      registered.registration_access_token = res.body.registration_access_token;
      expect((await manage(registered.registration_client_uri, registered.registration_access_token, 'GET')).body.client_name).toBe(
        'MCP client v2',
      );
      expect(await authenticates(server, registered.client_id, registered.client_secret!)).toBe(200);
      expect(await authenticates(server, registered.client_id, 'wrong')).toBe(401);
      const { rows } = await server.db.query<{ secret_hash: string }>('SELECT secret_hash FROM client_secrets WHERE client_id = $1', [
        registered.client_id,
      ]);
      expect(rows.map((r) => r.secret_hash)).toEqual([hashSecret(registered.client_secret!)]);
    });

    it('issues a secret once, stored as a digest, when an update makes a public client confidential', async () => {
      const created = (await register(server, webApp({ client_name: 'Turning', token_endpoint_auth_method: 'none' }), iat)).body;
      const res = await manage(created.registration_client_uri, created.registration_access_token, 'PUT', {
        ...webApp({ client_name: 'Turning' }),
        client_id: created.client_id,
      });
      expect(res.status).toBe(200);
      const secret = res.body.client_secret!;
      expect(secret).toEqual(expect.any(String));
      expect(secret).not.toMatch(/^sha256:/);
      expect(await authenticates(server, created.client_id, secret)).toBe(200);
      const read = await manage(created.registration_client_uri, res.body.registration_access_token, 'GET');
      expect(read.body).not.toHaveProperty('client_secret');
      const { rows } = await server.db.query<{ secret_hash: string }>('SELECT secret_hash FROM client_secrets WHERE client_id = $1', [
        created.client_id,
      ]);
      expect(rows.map((r) => r.secret_hash)).toEqual([hashSecret(secret)]);
    });

    it('deletes the client with every grant and token issued to it', async () => {
      const before = await server.db.query(
        `SELECT 1 FROM oidc_models WHERE payload->>'clientId' = $1 AND model IN ('Grant', 'AccessToken', 'RefreshToken')`,
        [registered.client_id],
      );
      expect(before.rows.length).toBeGreaterThan(0);

      const res = await manage(registered.registration_client_uri, registered.registration_access_token, 'DELETE');
      expect(res.status).toBe(204);
      expect((await server.db.query('SELECT 1 FROM clients WHERE client_id = $1', [registered.client_id])).rows).toEqual([]);
      expect((await server.db.query('SELECT 1 FROM client_secrets WHERE client_id = $1', [registered.client_id])).rows).toEqual([]);
      expect((await server.db.query(`SELECT 1 FROM oidc_models WHERE payload->>'clientId' = $1`, [registered.client_id])).rows).toEqual([]);
      expect(await authenticates(server, registered.client_id, registered.client_secret!)).toBe(401);
      expect((await manage(registered.registration_client_uri, registered.registration_access_token, 'GET')).status).toBe(401);
      // The other client is untouched.
      expect((await server.db.query('SELECT 1 FROM clients WHERE client_id = $1', [other.client_id])).rows).toHaveLength(1);
    });
  });
});

describe('open dynamic registration', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ env: { REGISTRATION: 'open', REGISTRATION_PER_HOUR: '3' } });
  });
  afterAll(() => server?.stop());

  it('registers without a token, and limits each IP address to REGISTRATION_PER_HOUR an hour (429)', async () => {
    for (let i = 0; i < 3; i++) expect((await register(server, webApp({ client_name: `Open ${i}` }))).status).toBe(201);
    const limited = await register(server, webApp({ client_name: 'One too many' }));
    expect(limited.status).toBe(429);
    expect(limited.body.error).toBe('too_many_requests');
    expect((await server.db.query('SELECT 1 FROM clients')).rows).toHaveLength(3);
  });
});

describe('registration switched off', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ env: { REGISTRATION: 'off' } });
  });
  afterAll(() => server?.stop());

  it('has no registration endpoint', async () => {
    const metadata = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(metadata).not.toHaveProperty('registration_endpoint');
    const res = await fetch(`${server.url}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(webApp()),
    });
    expect(res.status).toBe(404);
    expect((await server.db.query('SELECT 1 FROM clients')).rows).toEqual([]);
  });
});
