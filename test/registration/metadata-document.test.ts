import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import * as oidc from 'openid-client';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestBrowser, authorize } from '../helpers/browser.js';
import { closeServer } from '../fakes/local-server.js';
import { isPublicAddress, outboundFetch } from '../../src/provider/outbound-fetch.js';
import { loadConfig } from '../../src/config.js';
import { codeFlow } from '../helpers/code-flow.js';
import { selfSign } from '../helpers/self-signed.js';

const redirectUri = 'http://127.0.0.1:8765/callback';

/**
 * A document server on 127.0.0.1 with a self-signed certificate (made here with the openssl CLI). oauth3 may fetch
 * from it only through the development escape hatch (CLIENT_METADATA_ALLOW_HOSTS with CLIENT_METADATA_DEV_CA_FILE);
 * every refusal below is checked to have opened no connection at all, so a TLS failure cannot pass for SSRF protection.
 */
class DocumentServer {
  connections = 0;
  requests: string[] = [];
  private server?: https.Server;
  base = '';
  port = 0;

  constructor(private readonly dir: string) {}

  async start(documents: (base: string) => Record<string, (res: import('node:http').ServerResponse) => void>) {
    this.server = https.createServer(
      { key: readFileSync(path.join(this.dir, 'key.pem')), cert: readFileSync(path.join(this.dir, 'cert.pem')) },
      (req, res) => {
        this.requests.push(req.url ?? '');
        const handler = documents(this.base)[req.url ?? ''];
        if (handler) handler(res);
        else res.writeHead(404).end();
      },
    );
    this.server.on('connection', () => this.connections++);
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    this.base = `https://127.0.0.1:${this.port}`;
  }

  stop() {
    return closeServer(this.server);
  }
}

const json = (body: unknown) => (res: import('node:http').ServerResponse) => {
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
};

const documentFor = (clientId: string, extra: Record<string, unknown> = {}) => ({
  client_id: clientId,
  client_name: 'Local MCP client',
  redirect_uris: [redirectUri],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: 'none',
  ...extra,
});

describe('client ID metadata documents', () => {
  let dir: string;
  let docs: DocumentServer;
  let other: DocumentServer;
  let server: TestServer;
  const timeoutMs = 500;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-cimd-'));
    selfSign(dir);
    docs = new DocumentServer(dir);
    await docs.start((base) => ({
      '/good.json': json(documentFor(`${base}/good.json`)),
      '/mismatch.json': json(documentFor(`${base}/other.json`)),
      '/bad-redirect.json': json(documentFor(`${base}/bad-redirect.json`, { redirect_uris: ['http://evil.example/cb'] })),
      '/secret.json': json(documentFor(`${base}/secret.json`, { token_endpoint_auth_method: 'client_secret_basic' })),
      '/resource-server.json': json(documentFor(`${base}/resource-server.json`, { resource_server: true })),
      // Streamed without a Content-Length, so the limit must hold while reading, not only on the header.
      '/big.json': (res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write(JSON.stringify(documentFor(`${base}/big.json`)).slice(0, -1));
        res.end(`, "padding": "${'x'.repeat(8 * 1024)}"}`);
      },
      '/padded.json': json({ ...documentFor(`${base}/padded.json`), padding: 'x'.repeat(2 * 1024) }),
      '/slow.json': (res) => {
        setTimeout(() => json(documentFor(`${base}/slow.json`))(res), 4000).unref();
      },
      // A redirect to a name that resolves to loopback: never followed.
      '/redirect.json': (res) => res.writeHead(302, { location: `https://localhost:${docs.port}/good.json` }).end(),
    }));
    // The same documents on another port, which is not in the escape hatch.
    other = new DocumentServer(dir);
    await other.start((base) => ({ '/good.json': json(documentFor(`${base}/good.json`)) }));

    server = await startTestServer({
      env: {
        CLIENT_METADATA_ALLOW_HOSTS: `127.0.0.1:${docs.port}`,
        CLIENT_METADATA_DEV_CA_FILE: path.join(dir, 'cert.pem'),
        CLIENT_METADATA_TIMEOUT_MS: String(timeoutMs),
      },
    });
  });
  afterAll(async () => {
    await server?.stop();
    await docs?.stop();
    await other?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** An authorization request for `clientId` as a metadata-document client would send it; returns the server's answer. */
  async function authorizationRequest(clientId: string) {
    const started = Date.now();
    const query = new URLSearchParams({
      client_id: clientId,
      response_type: 'code',
      redirect_uri: redirectUri,
      scope: 'openid',
      state: 's',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    });
    const res = await fetch(`${server.url}/auth?${query}`, { redirect: 'manual' });
    return { status: res.status, location: res.headers.get('location'), text: await res.text(), elapsed: Date.now() - started };
  }

  /** A refused client: an error page at the server, no redirect to the client, and the reason in the page. */
  async function expectRefused(clientId: string, reason: RegExp) {
    const res = await authorizationRequest(clientId);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.location).toBeNull();
    expect(res.text).toMatch(reason);
    return res;
  }

  it('signs an owner in for a client whose client_id is its metadata document URL (public client, code + PKCE)', async () => {
    const clientId = `${docs.base}/good.json`;
    const config = await oidc.discovery(new URL(server.url), clientId, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    const browser = new TestBrowser(server.url);
    const tokens = await codeFlow(
      config,
      browser,
      { redirect_uri: redirectUri, scope: 'openid offline_access', prompt: 'consent' },
      {
        passkey: 'signup',
        consent: 'approve',
      },
    );
    expect(tokens.access_token).toEqual(expect.any(String));
    expect(tokens.claims()!.aud).toBe(clientId);
    // Nothing is stored for such a client: the document is the registration.
    expect((await server.db.query('SELECT 1 FROM clients')).rows).toEqual([]);
    expect(docs.requests).toContain('/good.json');
  });

  it("shows the owner, on the consent page, the host of the client's document beside its self-declared name", async () => {
    const clientId = `${docs.base}/good.json`;
    const browser = new TestBrowser(server.url);
    const url = new URL('/auth', server.url);
    url.search = new URLSearchParams({
      client_id: clientId,
      response_type: 'code',
      redirect_uri: redirectUri,
      scope: 'openid',
      state: 'doc',
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    }).toString();
    const atConsent = await authorize(browser, url.href, { passkey: 'signup', consent: 'none' });
    expect(atConsent).toContain('/interaction/');
    const page = await (await browser.request(atConsent)).text();
    expect(page).toContain('wants access to your oauth3 account');
    expect(page).toMatch(new RegExp(`document at\\s+<strong class="host">${new URL(clientId).host.replace(/[.]/g, '\\.')}</strong>`));
  });

  it('refuses a private address outside the escape hatch without opening a connection', async () => {
    await expectRefused(`${other.base}/good.json`, /invalid_client/);
    expect(other.connections).toBe(0);
  });

  it('refuses a hostname that resolves to 127.0.0.1 without opening a connection', async () => {
    const before = docs.connections;
    await expectRefused(`https://localhost:${docs.port}/good.json`, /invalid_client/);
    expect(docs.connections).toBe(before);
  });

  it('does not follow a redirect (here to a name resolving to loopback)', async () => {
    const before = docs.requests.length;
    await expectRefused(`${docs.base}/redirect.json`, /invalid_client/);
    const after = docs.requests.slice(before);
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((url) => url === '/redirect.json')).toBe(true);
  });

  it('refuses an oversized document (the same document with less padding is accepted)', async () => {
    const padded = await authorizationRequest(`${docs.base}/padded.json`);
    expect([302, 303]).toContain(padded.status);
    expect(padded.location).toMatch(/\/interaction\//);
    await expectRefused(`${docs.base}/big.json`, /invalid_client/);
  });

  it('limits how many uncached documents one address may make it fetch (CLIENT_METADATA_FETCHES_PER_HOUR)', async () => {
    const limited = await startTestServer({
      env: {
        CLIENT_METADATA_ALLOW_HOSTS: `127.0.0.1:${docs.port}`,
        CLIENT_METADATA_DEV_CA_FILE: path.join(dir, 'cert.pem'),
        CLIENT_METADATA_FETCHES_PER_HOUR: '2',
      },
    });
    try {
      const ask = async (doc: string) => {
        const query = new URLSearchParams({
          client_id: `${docs.base}${doc}`,
          response_type: 'code',
          redirect_uri: redirectUri,
          scope: 'openid',
          state: 's',
          code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
          code_challenge_method: 'S256',
        });
        const res = await fetch(`${limited.url}/auth?${query}`, { redirect: 'manual' });
        return { status: res.status, text: await res.text() };
      };
      expect([302, 303]).toContain((await ask('/good.json')).status);
      expect([302, 303]).toContain((await ask('/padded.json')).status);
      // A cached document costs nothing; a third new one is refused before any request leaves.
      expect([302, 303]).toContain((await ask('/good.json')).status);
      const before = docs.requests.length;
      const refused = await ask('/secret.json');
      expect(refused.status).toBeGreaterThanOrEqual(400);
      expect(refused.text).toMatch(/invalid_client/);
      expect(docs.requests.slice(before)).toEqual([]);
    } finally {
      await limited.stop();
    }
  });

  it('gives up on a slow document after CLIENT_METADATA_TIMEOUT_MS', async () => {
    const res = await expectRefused(`${docs.base}/slow.json`, /invalid_client/);
    // oidc-provider's own limit is 2.5 s; ours is shorter and wins.
    expect(res.elapsed).toBeLessThan(2300);
  });

  it('refuses a document whose client_id differs from its URL', async () => {
    await expectRefused(`${docs.base}/mismatch.json`, /client_id does not match/);
  });

  it('refuses invalid redirect URIs (threat model F1), shared secrets and administrator-only metadata', async () => {
    await expectRefused(`${docs.base}/bad-redirect.json`, /invalid_redirect_uri|redirect_uris/);
    await expectRefused(`${docs.base}/secret.json`, /shared-secret/);
    await expectRefused(`${docs.base}/resource-server.json`, /resource_server cannot be registered/);
  });

  it('refuses the development escape hatch in production', () => {
    expect(() =>
      loadConfig({
        NODE_ENV: 'production',
        ISSUER: 'https://auth.example.com',
        MASTER_KEY: 'a'.repeat(64),
        COOKIE_KEYS: 'k'.repeat(32),
        CLIENT_METADATA_ALLOW_HOSTS: '127.0.0.1:8443',
        CLIENT_METADATA_DEV_CA_FILE: '/tmp/ca.pem',
      }),
    ).toThrow(/CLIENT_METADATA_ALLOW_HOSTS: development and tests only[\s\S]*CLIENT_METADATA_DEV_CA_FILE: development and tests only/);
  });
});

describe('the outbound fetch for client documents', () => {
  it.each([
    ['10.0.0.1'],
    ['127.0.0.1'],
    ['169.254.169.254'],
    ['172.16.5.4'],
    ['192.168.1.1'],
    ['100.64.0.1'],
    ['0.0.0.0'],
    ['::1'],
    ['::'],
    ['fe80::1'],
    ['fd00::1'],
    ['::ffff:127.0.0.1'],
    ['::ffff:a9fe:a9fe'],
    ['64:ff9b::a00:1'],
  ])('treats %s as not public', (address) => {
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each([['93.184.215.14'], ['1.1.1.1'], ['2606:4700:4700::1111']])('treats %s as public', (address) => {
    expect(isPublicAddress(address)).toBe(true);
  });

  it.each([
    ['http://93.184.215.14/doc.json', /only https/],
    ['https://127.0.0.1/doc.json', /not a public address/],
    ['https://[::1]/doc.json', /not a public address/],
    ['https://[::ffff:7f00:1]/doc.json', /not a public address/],
    ['https://2130706433/doc.json', /not a public address/],
    ['https://169.254.169.254/latest/meta-data', /not a public address/],
  ])('refuses %s before any connection', async (url, reason) => {
    await expect(outboundFetch({ timeoutMs: 500 })(url)).rejects.toThrow(reason);
  });

  it('refuses a name that resolves to a private address', async () => {
    await expect(outboundFetch({ timeoutMs: 1000 })('https://localhost/doc.json')).rejects.toMatchObject({
      cause: expect.objectContaining({ code: 'ENOTPUBLIC' }),
    });
  });
});
