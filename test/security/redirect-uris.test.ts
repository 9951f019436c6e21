import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { Owner } from '../helpers/owner.js';
import { closeServer } from '../fakes/local-server.js';
import { execute, parseCommand } from '../../src/cli/oauth3.js';
import { checkRedirectUri } from '../../src/clients/redirect-uri.js';
import { selfSign } from '../helpers/self-signed.js';

/**
 * A redirect URI with a user name or password is refused on every way of registering one, and redirect URIs are kept
 * as the URL parser serialises them (docs/threat-model.md F6): `https://good.example@evil.example/cb` reads as
 * good.example but sends the owner's browser, and the authorization code, to evil.example.
 */

const DECEPTIVE = [
  'https://good.example@evil.example/cb',
  'https://good.example:443@evil.example/cb',
  'https://good.example:pw@evil.example/cb',
  'https://@evil.example/cb',
  'http://localhost@evil.example/cb',
  'http://127.0.0.1:8080@evil.example/cb',
  'com.example.app://good.example@evil.example/cb',
];
/** As typed → as kept. */
const UNNORMALISED: [string, string][] = [
  ['https://App.EXAMPLE:443/a/../cb', 'https://app.example/cb'],
  ['https://app.example', 'https://app.example/'],
  ['https://bücher.example/cb', 'https://xn--bcher-kva.example/cb'],
  ['http://LOCALHOST:8080/cb', 'http://localhost:8080/cb'],
];
const PKCE = { code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' };

describe('the redirect URI rule (threat model F6)', () => {
  it.each(DECEPTIVE)('refuses %s, naming the host it would really open', (uri) => {
    const checked = checkRedirectUri(uri);
    expect(checked).toEqual({ ok: false, reason: expect.stringContaining('user name or password') });
    if (!checked.ok) expect(checked.reason).toContain('evil.example');
  });

  it.each(UNNORMALISED)('keeps %s as %s', (typed, kept) => {
    expect(checkRedirectUri(typed)).toEqual({ ok: true, uri: kept });
  });
});

describe.each(backends())('redirect URIs registered on %s storage (F6)', (backend) => {
  let server: TestServer;
  let developer: Owner;

  beforeAll(async () => {
    server = await startTestServer({
      backend,
      env: { REGISTRATION: 'open', REGISTRATION_PER_HOUR: '1000', DEVELOPER_APPS_PER_HOUR: '1000', DEVELOPER_APPS_MAX: '1000' },
    });
    developer = await Owner.signUp(server);
  });
  afterAll(() => server?.stop());

  const storedRedirectUris = async (clientId: string) => {
    const { rows } = await server.db.query<{ metadata: { redirect_uris: string[] } }>('SELECT metadata FROM clients WHERE client_id = $1', [
      clientId,
    ]);
    return rows[0]?.metadata.redirect_uris;
  };
  const clientCount = async () => Number((await server.db.query<{ n: number }>('SELECT count(*)::int AS n FROM clients')).rows[0]!.n);

  async function cli(...argv: string[]) {
    const out: string[] = [];
    const code = await execute(
      parseCommand(argv),
      { config: server.config, db: server.db, scopes: server.app.scopes },
      (l) => out.push(l),
      (l) => out.push(l),
    );
    return { code, out: out.join('\n') };
  }

  async function register(metadata: Record<string, unknown>) {
    const res = await fetch(`${server.url}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(metadata),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }
  const mcpClient = (redirectUris: string[]) => ({
    client_name: 'MCP client',
    redirect_uris: redirectUris,
    token_endpoint_auth_method: 'none',
  });

  async function authorizationStatus(clientId: string, redirectUri: string) {
    const query = new URLSearchParams({
      client_id: clientId,
      response_type: 'code',
      redirect_uri: redirectUri,
      scope: 'openid',
      state: 's',
      ...PKCE,
    });
    const res = await fetch(`${server.url}/auth?${query}`, { redirect: 'manual' });
    const text = await res.text();
    return { status: res.status, location: res.headers.get('location'), text };
  }

  it.each(DECEPTIVE)('the CLI refuses %s', async (uri) => {
    const before = await clientCount();
    const { code, out } = await cli('clients', 'add', '--name', 'Deceptive', '--public', '--redirect-uri', uri);
    expect(code).not.toBe(0);
    expect(out).toContain('user name or password');
    expect(await clientCount()).toBe(before);
  });

  it('the CLI keeps redirect URIs normalised and shows them so; requests must name them exactly as kept (A1)', async () => {
    const { code, out } = await cli(
      'clients',
      'add',
      '--name',
      'Typed',
      '--public',
      '--json',
      ...UNNORMALISED.flatMap(([typed]) => ['--redirect-uri', typed]),
    );
    expect(code).toBe(0);
    const { client_id: clientId, redirect_uris: redirectUris } = JSON.parse(out) as { client_id: string; redirect_uris: string[] };
    const kept = UNNORMALISED.map(([, k]) => k);
    expect(redirectUris).toEqual(kept);
    expect(await storedRedirectUris(clientId)).toEqual(kept);
    for (const uri of kept) {
      const res = await authorizationStatus(clientId, uri);
      expect([uri, res.status]).toEqual([uri, 303]);
      expect(res.location).toMatch(/\/interaction\//);
    }
    // Exact string comparison stays (RFC 9700 §4.1.3): the typed variant is another string.
    const typed = await authorizationStatus(clientId, UNNORMALISED[0]![0]);
    expect(typed.status).toBe(400);
    expect(typed.location).toBeNull();
  });

  it.each(DECEPTIVE)('the developer portal refuses %s', async (uri) => {
    const before = await clientCount();
    const res = await developer.api.send('POST', '/developers/api/apps', {
      kind: 'public',
      name: 'Deceptive',
      redirect_uris: [uri],
      scopes: ['openid'],
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('user name or password');
    expect(await clientCount()).toBe(before);
  });

  it('the developer portal keeps redirect URIs normalised, on registration and on update', async () => {
    const created = await developer.api.send('POST', '/developers/api/apps', {
      kind: 'public',
      name: 'Portal app',
      redirect_uris: [UNNORMALISED[0]![0]],
      scopes: ['openid'],
    });
    expect(created.status).toBe(201);
    const app = (await created.json()) as { client_id: string; redirect_uris: string[] };
    expect(app.redirect_uris).toEqual([UNNORMALISED[0]![1]]);
    expect(await storedRedirectUris(app.client_id)).toEqual([UNNORMALISED[0]![1]]);

    const refused = await developer.api.send('PUT', `/developers/api/apps/${app.client_id}`, {
      name: 'Portal app',
      redirect_uris: [DECEPTIVE[0]],
      scopes: ['openid'],
    });
    expect(refused.status).toBe(400);
    expect(await storedRedirectUris(app.client_id)).toEqual([UNNORMALISED[0]![1]]);
    const updated = await developer.api.send('PUT', `/developers/api/apps/${app.client_id}`, {
      name: 'Portal app',
      redirect_uris: [UNNORMALISED[2]![0]],
      scopes: ['openid'],
    });
    expect(updated.status).toBe(200);
    expect(await storedRedirectUris(app.client_id)).toEqual([UNNORMALISED[2]![1]]);
  });

  it.each(DECEPTIVE)('dynamic registration (RFC 7591) refuses %s with invalid_redirect_uri', async (uri) => {
    const before = await clientCount();
    const res = await register(mcpClient([uri]));
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'invalid_redirect_uri', error_description: expect.stringContaining('user name or password') });
    expect(await clientCount()).toBe(before);
  });

  it('dynamic registration keeps redirect URIs normalised, and an RFC 7592 update refuses a user name too', async () => {
    const res = await register(mcpClient(UNNORMALISED.map(([typed]) => typed)));
    expect(res.status).toBe(201);
    const kept = UNNORMALISED.map(([, k]) => k);
    expect(res.body.redirect_uris).toEqual(kept);
    const clientId = String(res.body.client_id);
    expect(await storedRedirectUris(clientId)).toEqual(kept);

    const update = (redirectUris: string[]) =>
      fetch(String(res.body.registration_client_uri), {
        method: 'PUT',
        headers: { authorization: `Bearer ${String(res.body.registration_access_token)}`, 'content-type': 'application/json' },
        body: JSON.stringify({ ...mcpClient(redirectUris), client_id: clientId }),
      });
    const refused = await update([DECEPTIVE[0]!]);
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: string }).error).toBe('invalid_redirect_uri');
    expect(await storedRedirectUris(clientId)).toEqual(kept);
  });
});

/** Client ID metadata documents: fetched, never stored, but held to the same rule. */
describe('redirect URIs in client ID metadata documents (F6)', () => {
  let dir: string;
  let docs: https.Server;
  let base = '';
  let server: TestServer;
  const documents: Record<string, string[]> = {
    '/deceptive.json': ['https://127.0.0.1:8765@evil.example/cb'],
    '/typed.json': ['http://LOCALHOST:8765/a/../callback'],
    '/kept.json': ['http://localhost:8765/callback'],
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-f6-'));
    selfSign(dir);
    docs = https.createServer(
      { key: readFileSync(path.join(dir, 'key.pem')), cert: readFileSync(path.join(dir, 'cert.pem')) },
      (req, res) => {
        const redirectUris = documents[req.url ?? ''];
        if (!redirectUris) return void res.writeHead(404).end();
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            client_id: `${base}${req.url}`,
            client_name: 'Document client',
            redirect_uris: redirectUris,
            token_endpoint_auth_method: 'none',
          }),
        );
      },
    );
    await new Promise<void>((resolve) => docs.listen(0, '127.0.0.1', resolve));
    base = `https://127.0.0.1:${(docs.address() as AddressInfo).port}`;
    server = await startTestServer({
      env: { CLIENT_METADATA_ALLOW_HOSTS: new URL(base).host, CLIENT_METADATA_DEV_CA_FILE: path.join(dir, 'cert.pem') },
    });
  });
  afterAll(async () => {
    await server?.stop();
    await closeServer(docs);
    rmSync(dir, { recursive: true, force: true });
  });

  async function authorize(clientId: string, redirectUri: string) {
    const query = new URLSearchParams({
      client_id: clientId,
      response_type: 'code',
      redirect_uri: redirectUri,
      scope: 'openid',
      state: 's',
      ...PKCE,
    });
    const res = await fetch(`${server.url}/auth?${query}`, { redirect: 'manual' });
    return { status: res.status, location: res.headers.get('location'), text: await res.text() };
  }

  it('refuses a document whose redirect URI has a user name, even when the request names it exactly', async () => {
    const res = await authorize(`${base}/deceptive.json`, documents['/deceptive.json']![0]!);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.location).toBeNull();
    expect(res.text).toMatch(/invalid_redirect_uri|user name or password/);
  });

  it("compares a request with the normalised form of the document's redirect URI", async () => {
    const normalised = await authorize(`${base}/typed.json`, 'http://localhost:8765/callback');
    expect(normalised.status).toBe(303);
    expect(normalised.location).toMatch(/\/interaction\//);
    expect((await authorize(`${base}/typed.json`, 'http://LOCALHOST:8765/a/../callback')).location).toBeNull();
    const kept = await authorize(`${base}/kept.json`, 'http://localhost:8765/callback');
    expect(kept.status).toBe(303);
  });
});
