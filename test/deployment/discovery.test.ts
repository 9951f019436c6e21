import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, createPublicKey, verify, type JsonWebKey } from 'node:crypto';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as oidc from 'openid-client';
import { freePort, startTestServer, type TestServer } from '../helpers/server.js';
import { TestBrowser, authorize } from '../helpers/browser.js';
import { createLogger } from '../../src/logger.js';
import { loadMasterKeys } from '../../src/keys/master-key.js';
import { rotateSigningKeys } from '../../src/keys/keystore.js';
import { codeFlow } from '../helpers/code-flow.js';

const redirectUri = 'http://127.0.0.1:8765/callback';
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];

type Jwk = JsonWebKey & { kid: string; alg: string; use?: string };

/** A GET over node:http, so Host and X-Forwarded-* can be anything an attacker sends. */
function rawGet(
  server: TestServer,
  target: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const { port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: Number(port), path: target, method: 'GET', headers, setHost: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function jwks(server: TestServer): Promise<Jwk[]> {
  const res = await fetch(`${server.url}/jwks`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { keys: Jwk[] }).keys;
}

const header = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString('utf8')) as { kid: string; alg: string };

/** Verifies a compact JWS against a published JWK with node:crypto (no JOSE library in between). */
function signatureValid(jwt: string, jwk: Jwk): boolean {
  const [h, p, s] = jwt.split('.');
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  const data = Buffer.from(`${h}.${p}`);
  const signature = Buffer.from(s!, 'base64url');
  return jwk.alg === 'ES256'
    ? verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature)
    : verify('sha256', data, key, signature);
}

function expectPublicOnly(keys: Jwk[]): void {
  for (const jwk of keys) {
    for (const member of PRIVATE_MEMBERS) expect(jwk).not.toHaveProperty(member);
    expect(jwk.use).toBe('sig');
  }
}

describe('discovery metadata (I1)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server?.stop());

  it.each(['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server'])(
    '%s describes an OAuth 2.1 code-flow-only server',
    async (wellKnown) => {
      const res = await fetch(server.url + wellKnown);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const meta = (await res.json()) as Record<string, unknown>;
      expect(meta.issuer).toBe(server.config.ISSUER);
      expect(meta.issuer).toBe(`http://localhost:${new URL(server.url).port}`);
      expect(meta.response_types_supported).toEqual(['code']);
      expect(meta.code_challenge_methods_supported).toEqual(['S256']);
      expect(meta.authorization_response_iss_parameter_supported).toBe(true);
      const grants = meta.grant_types_supported as string[];
      expect(grants).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token']));
      expect(grants).not.toContain('implicit');
      expect(grants).not.toContain('password');
      for (const endpoint of ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'introspection_endpoint', 'revocation_endpoint']) {
        expect(String(meta[endpoint])).toMatch(new RegExp(`^${server.url.replace(/[.]/g, '\\.')}/`));
      }
    },
  );

  it('serves the same document at both well-known addresses', async () => {
    const [openid, oauth] = await Promise.all(
      ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server'].map((p) =>
        fetch(server.url + p).then((r) => r.json() as Promise<unknown>),
      ),
    );
    expect(oauth).toEqual(openid);
  });

  it('is what openid-client discovers, with the exact issuer', async () => {
    const { clientId, clientSecret } = await server.addClient({ name: 'Discovery app', redirectUris: [redirectUri] });
    const config = await oidc.discovery(new URL(server.url), clientId, clientSecret, undefined, { execute: [oidc.allowInsecureRequests] });
    expect(config.serverMetadata().issuer).toBe(server.url);
    expect(config.serverMetadata().supportsPKCE('S256')).toBe(true);
    expect(config.serverMetadata().supportsPKCE('plain')).toBe(false);
  });
});

const spoofed = {
  host: 'evil.example',
  'x-forwarded-host': 'evil.example',
  'x-forwarded-proto': 'https',
  'x-forwarded-port': '8443',
  'x-forwarded-for': '203.0.113.9',
  forwarded: 'for=203.0.113.9;host=evil.example;proto=https',
};

/** A browser behind a proxy that forwards whatever the attacker wrote (fetch cannot set Host; the raw tests do). */
class ForwardingBrowser extends TestBrowser {
  override request(url: string, init: RequestInit & { origin?: string | null } = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    for (const [name, value] of Object.entries(spoofed)) if (name !== 'host') headers.set(name, value);
    return super.request(url, { ...init, headers });
  }
}

describe.each([
  ['unset', undefined, false],
  ['true', 'true', 1],
  ['naming the proxy 127.0.0.1', '127.0.0.0/8', ['127.0.0.0/8']],
])('issued URLs with TRUST_PROXY %s (I2)', (_label, trustProxy, parsed) => {
  let server: TestServer;
  let clientId: string;
  let clientSecret: string | undefined;

  beforeAll(async () => {
    server = await startTestServer(trustProxy ? { env: { TRUST_PROXY: trustProxy } } : {});
    expect(server.config.TRUST_PROXY).toEqual(parsed);
    ({ clientId, clientSecret } = await server.addClient({ name: 'Spoof target', redirectUris: [redirectUri] }));
  });
  afterAll(() => server?.stop());

  const authQuery = (extra: Record<string, string> = {}) =>
    new URLSearchParams({
      client_id: clientId,
      redirect_uri: redirectUri,
      response_type: 'code',
      scope: 'openid',
      state: 'st4te',
      code_challenge: createHash('sha256').update('v'.repeat(43)).digest('base64url'),
      code_challenge_method: 'S256',
      ...extra,
    });

  it.each(['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server'])(
    '%s ignores a spoofed Host and X-Forwarded-* headers',
    async (wellKnown) => {
      const honest = await rawGet(server, wellKnown, { host: new URL(server.url).host });
      const attacked = await rawGet(server, wellKnown, spoofed);
      expect(attacked.status).toBe(200);
      expect(attacked.body).not.toMatch(/evil|https:|8443/);
      expect(JSON.parse(attacked.body)).toEqual(JSON.parse(honest.body));
      expect((JSON.parse(attacked.body) as { issuer: string }).issuer).toBe(server.config.ISSUER);
    },
  );

  it('keeps the /auth redirect to the sign-in page on the issuer', async () => {
    const res = await rawGet(server, `/auth?${authQuery()}`, spoofed);
    expect([302, 303]).toContain(res.status);
    const location = res.headers.location!;
    expect(location).not.toMatch(/evil|https:|8443/);
    expect(new URL(location, server.url).href).toMatch(new RegExp(`^${server.url}/interaction/[^/]+$`));
    for (const cookie of res.headers['set-cookie'] ?? []) expect(cookie).not.toMatch(/evil/i);
  });

  it('puts the issuer, not the spoofed host, in the iss of an error redirect to the app (RFC 9207)', async () => {
    const res = await rawGet(server, `/auth?${authQuery({ prompt: 'none' })}`, spoofed);
    expect([302, 303]).toContain(res.status);
    const location = new URL(res.headers.location!);
    expect(location.origin + location.pathname).toBe(redirectUri);
    expect(location.searchParams.get('error')).toBe('login_required');
    expect(location.searchParams.get('iss')).toBe(server.config.ISSUER);
  });

  it(`completes a flow through a spoofing proxy with issuer-bound tokens, and ${trustProxy ? 'takes' : 'ignores'} the forwarded client address`, async () => {
    const config = await oidc.discovery(new URL(server.url), clientId, clientSecret, undefined, { execute: [oidc.allowInsecureRequests] });
    const browser = new ForwardingBrowser(server.url);
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid',
      state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const callback = new URL(await authorize(browser, url.href, { passkey: 'signup' }));
    expect(callback.searchParams.get('iss')).toBe(server.config.ISSUER);
    const tokens = await oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
    expect(tokens.claims()!.iss).toBe(server.config.ISSUER);

    const sub = tokens.claims()!.sub;
    const { rows } = await server.db.query<{ ip: string }>(`SELECT ip FROM events WHERE kind = 'account.created' AND account_id = $1`, [
      sub,
    ]);
    expect(rows).toHaveLength(1);
    if (trustProxy) expect(rows[0]!.ip).toBe('203.0.113.9');
    else expect(rows[0]!.ip).toMatch(/^(::ffff:)?127\.0\.0\.1$|^::1$/);
  });
});

describe('JWKS and signing key rotation (I3)', () => {
  let port: number;
  let dataDir: string;
  let server: TestServer | undefined;
  let config: oidc.Configuration;
  let browser: TestBrowser;
  let clientId: string;
  let clientSecret: string | undefined;

  /** Starts (or restarts) the server on the same port and DATA_DIR, so the issuer and the passkey's origin stay put. */
  async function start(): Promise<TestServer> {
    await server?.stop();
    server = await startTestServer({ storage: { dataDir }, env: { PORT: String(port), ISSUER: `http://localhost:${port}` } });
    if (clientId)
      config = await oidc.discovery(new URL(server.url), clientId, clientSecret, undefined, { execute: [oidc.allowInsecureRequests] });
    return server;
  }

  async function idToken(passkey: 'signup' | 'signin'): Promise<string> {
    browser.clearCookies();
    const tokens = await codeFlow(config, browser, { redirect_uri: redirectUri, scope: 'openid' }, { passkey });
    return tokens.id_token!;
  }

  beforeAll(async () => {
    port = await freePort();
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-jwks-'));
    await start();
    ({ clientId, clientSecret } = await server!.addClient({ name: 'JWKS app', redirectUris: [redirectUri] }));
    config = await oidc.discovery(new URL(server!.url), clientId, clientSecret, undefined, { execute: [oidc.allowInsecureRequests] });
    browser = new TestBrowser(server!.url);
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  let before: Jwk[];
  let oldToken: string;
  let newKids: string[];

  it('publishes one ES256 and one RS256 public key and never a private part', async () => {
    before = await jwks(server!);
    expect(before).toHaveLength(2);
    expect(before.find((k) => k.alg === 'ES256')).toMatchObject({ kty: 'EC', crv: 'P-256', use: 'sig', kid: expect.any(String) });
    expect(before.find((k) => k.alg === 'RS256')).toMatchObject({ kty: 'RSA', use: 'sig', kid: expect.any(String) });
    expectPublicOnly(before);
    const raw = await rawGet(server!, '/jwks', { host: new URL(server!.url).host });
    expect(raw.body).not.toMatch(/"(d|p|q|dp|dq|qi|k)"\s*:/);
  });

  it('signs id_tokens with the published ES256 key', async () => {
    oldToken = await idToken('signup');
    const es256 = before.find((k) => k.alg === 'ES256')!;
    expect(header(oldToken)).toEqual(expect.objectContaining({ alg: 'ES256', kid: es256.kid }));
    expect(signatureValid(oldToken, es256)).toBe(true);
  });

  it('after rotation and a restart, signs with the new ES256 key and still publishes the old keys', async () => {
    const ring = loadMasterKeys(server!.config, createLogger('silent'));
    newKids = await rotateSigningKeys(server!.db, ring, 3600);
    expect(newKids).toHaveLength(2);
    expect(newKids.some((kid) => before.some((k) => k.kid === kid))).toBe(false);
    // A running server keeps its keys until it restarts.
    expect((await jwks(server!)).map((k) => k.kid).sort()).toEqual(before.map((k) => k.kid).sort());

    await start();
    const after = await jwks(server!);
    expectPublicOnly(after);
    expect(after.map((k) => k.kid).sort()).toEqual([...newKids, ...before.map((k) => k.kid)].sort());
    expect(
      after
        .filter((k) => newKids.includes(k.kid))
        .map((k) => k.alg)
        .sort(),
    ).toEqual(['ES256', 'RS256']);

    const newToken = await idToken('signin');
    const newEs256 = after.find((k) => k.alg === 'ES256' && newKids.includes(k.kid))!;
    expect(header(newToken)).toEqual(expect.objectContaining({ alg: 'ES256', kid: newEs256.kid }));
    expect(signatureValid(newToken, newEs256)).toBe(true);
    // A token signed before the rotation still verifies against what is published now.
    const oldKey = after.find((k) => k.kid === header(oldToken).kid)!;
    expect(oldKey).toBeDefined();
    expect(signatureValid(oldToken, oldKey)).toBe(true);
  });

  it('stops publishing the retired keys once remove_after has passed (after the next restart)', async () => {
    await server!.db.query(`UPDATE keys SET remove_after = now() - interval '1 second' WHERE retired_at IS NOT NULL`);
    await start();
    const after = await jwks(server!);
    expect(after.map((k) => k.kid).sort()).toEqual([...newKids].sort());
    expect(after.some((k) => k.kid === header(oldToken).kid)).toBe(false);
    expectPublicOnly(after);
    const token = await idToken('signin');
    expect(header(token).kid).toBe(after.find((k) => k.alg === 'ES256')!.kid);
  });

  it('publishes a key rotated with a delay before it signs anything with it', async () => {
    const ring = loadMasterKeys(server!.config, createLogger('silent'));
    const pending = await rotateSigningKeys(server!.db, ring, 3600, 3600);
    await start();
    const published = await jwks(server!);
    expect(published.map((k) => k.kid)).toEqual(expect.arrayContaining([...pending, ...newKids]));
    // Still signing with the active key: the new one is only published until its activation time.
    const current = published.find((k) => k.alg === 'ES256' && newKids.includes(k.kid))!;
    expect(header(await idToken('signin')).kid).toBe(current.kid);

    await server!.db.query(`UPDATE keys SET activates_at = now() - interval '1 second' WHERE kid = ANY($1)`, [pending]);
    await start();
    const next = (await jwks(server!)).find((k) => k.alg === 'ES256' && pending.includes(k.kid))!;
    expect(header(await idToken('signin')).kid).toBe(next.kid);
  });
});
