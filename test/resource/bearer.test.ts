import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { Owner, callApi } from '../helpers/owner.js';
import { basic, redirectUri } from '../helpers/token-flow.js';
import { echoPlugin, startEchoUpstream } from './echo-plugin.js';
import { DPOP_SIGNING_ALGS } from '../../src/provider/dpop-algorithms.js';
import { digestOf } from '../../src/db/at-rest-keys.js';

const challengeOf = (headers: Headers) => headers.get('www-authenticate') ?? '';

/**
 * Threat model G1 tried as attacks on the resource API: every token that is not a live one oauth3 issued for this API,
 * sent the one allowed way, is refused with 401 and a Bearer challenge; a missing scope is 403 insufficient_scope.
 */
describe.each(backends())('resource API bearer tokens on %s storage', (backend) => {
  let server: TestServer;
  let upstream: Awaited<ReturnType<typeof startEchoUpstream>>;
  let owner: Owner;
  let app: { clientId: string; clientSecret?: string };
  const metadata = () => `resource_metadata="${server.url}/.well-known/oauth-protected-resource"`;

  beforeAll(async () => {
    upstream = await startEchoUpstream();
    server = await startTestServer({ backend, plugins: [echoPlugin(() => upstream.url)] });
    owner = await Owner.signUp(server);
    await server.app.connections.save(owner.accountId, {
      provider: 'echo',
      kind: 'echo.key',
      label: 'echo account',
      secret: { key: 'echo-secret-key-1234' },
    });
    app = await server.addClient({ name: 'Bearer test app', redirectUris: [redirectUri] });
  });
  afterAll(async () => {
    await server?.stop();
    await upstream?.close();
  });

  it('accepts an agent token with the scope and calls the upstream with the owner credential', async () => {
    const token = await owner.agentToken(['echo.read']);
    const res = await callApi(server, '/echo/me', token);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ label: 'echo account', upstream: { id: expect.any(String), ok: true } });
    expect(upstream.received.at(-1)).toMatchObject({ path: '/me', key: 'echo-secret-key-1234' });
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('accepts an app token from consent', async () => {
    const { accessToken } = await owner.appToken(app, 'openid echo.read');
    expect((await callApi(server, '/echo/me', accessToken)).status).toBe(200);
  });

  it('answers a call without a token with 401 and a challenge without an error code (RFC 6750 §3.1)', async () => {
    for (const headers of [{}, { authorization: 'Basic dXNlcjpwYXNz' }] as Record<string, string>[]) {
      const res = await callApi(server, '/echo/me', undefined, { headers });
      expect(res.status).toBe(401);
      expect(res.body.error).toBe('missing_token');
      expect(challengeOf(res.headers)).toBe(
        `Bearer realm="oauth3", ${metadata()}, DPoP realm="oauth3", algs="${DPOP_SIGNING_ALGS.join(' ')}", ${metadata()}`,
      );
    }
  });

  it.each([
    ['an unknown token', 'Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['a malformed token', 'Bearer not a token'],
    ['a token with forbidden characters', 'Bearer abc"def'],
    ['an empty bearer', 'Bearer '],
    ['a huge token', `Bearer ${'a'.repeat(5000)}`],
  ])('refuses %s with 401 invalid_token', async (_name, authorization) => {
    const res = await callApi(server, '/echo/me', undefined, { headers: { authorization } });
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: 'invalid_token', error_description: expect.any(String) });
    expect(challengeOf(res.headers)).toMatch(
      /^Bearer realm="oauth3", error="invalid_token", error_description="[^"]+", resource_metadata="/,
    );
  });

  // oidc-provider allows 15 s of clock skew, so the payload's exp is put a minute in the past.
  it('refuses an expired token, whether storage or the token itself says so', async () => {
    const byPayload = await owner.agentToken(['echo.read']);
    await server.db.query(
      `UPDATE oidc_models SET payload = jsonb_set(payload, '{exp}', to_jsonb(extract(epoch from now())::int - 60)) WHERE model = 'AccessToken' AND id = $1`,
      [digestOf('AccessToken', byPayload)],
    );
    const byRow = await owner.agentToken(['echo.read']);
    await server.db.query(`UPDATE oidc_models SET expires_at = now() - interval '1 second' WHERE model = 'AccessToken' AND id = $1`, [
      digestOf('AccessToken', byRow),
    ]);
    for (const token of [byPayload, byRow]) {
      const res = await callApi(server, '/echo/me', token);
      expect(res.status).toBe(401);
      expect(res.body.error).toBe('invalid_token');
    }
  });

  it('stops accepting an agent token on the very next request after the owner revokes it (C4)', async () => {
    const token = await owner.agentToken(['echo.read']);
    expect((await callApi(server, '/echo/me', token)).status).toBe(200);
    const { tokens } = (await (await owner.api.get('/console/api/tokens')).json()) as {
      tokens: { id: string; revoked_at: string | null }[];
    };
    const live = tokens.filter((t) => !t.revoked_at);
    for (const t of live) expect((await owner.api.send('DELETE', `/console/api/tokens/${t.id}`)).status).toBe(200);
    const res = await callApi(server, '/echo/me', token);
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_token');
  });

  it('stops accepting an app token once the owner revokes the app, or the app revokes the token', async () => {
    const first = await owner.appToken(app, 'openid echo.read');
    const { apps } = (await (await owner.api.get('/console/api/apps')).json()) as {
      apps: { grant_id?: string; grantId?: string; client_id?: string; clientId?: string }[];
    };
    const grant = apps.find((a) => (a.client_id ?? a.clientId) === app.clientId)!;
    expect((await owner.api.send('DELETE', `/console/api/apps/${grant.grant_id ?? grant.grantId}`)).status).toBeLessThan(300);
    expect((await callApi(server, '/echo/me', first.accessToken)).status).toBe(401);

    const second = await owner.appToken(app, 'openid echo.read');
    expect((await callApi(server, '/echo/me', second.accessToken)).status).toBe(200);
    const revocation = await fetch(`${server.url}/token/revocation`, {
      method: 'POST',
      headers: { authorization: basic(app.clientId, app.clientSecret!), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: second.accessToken }),
    });
    expect(revocation.status).toBe(200);
    expect((await callApi(server, '/echo/me', second.accessToken)).status).toBe(401);
  });

  it('refuses a token in the query string or a form body, even a valid one (RFC 6750 §2.2, §2.3)', async () => {
    const token = await owner.agentToken(['echo.read', 'echo.post']);
    const inQuery = await callApi(server, `/echo/me?access_token=${token}`, undefined);
    const bothWays = await callApi(server, `/echo/me?access_token=${token}`, token);
    // Among other parameters, its name percent-encoded: the query string is parsed, not searched.
    const encoded = await callApi(server, `/echo/me?page=2&access%5Ftoken=${token}`, token);
    const inForm = await fetch(`${server.url}/api/echo/posts`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ access_token: token, text: 'hi' }),
    });
    for (const res of [inQuery, bothWays, encoded]) {
      expect(res.status).toBe(401);
      expect(res.body.error).toBe('invalid_request');
      expect(challengeOf(res.headers)).toContain('error="invalid_request"');
    }
    expect(inForm.status).toBe(401);
    expect(((await inForm.json()) as { error: string }).error).toBe('invalid_request');
  });

  it('refuses tokens for another audience: a userinfo access token, an ID token, a refresh token', async () => {
    const userinfoOnly = await owner.appToken(app, 'openid');
    const offline = await owner.appToken(app, 'openid offline_access echo.read');
    const candidates = [userinfoOnly.accessToken, String(userinfoOnly.body.id_token), offline.refreshToken!];
    for (const token of candidates) {
      const res = await callApi(server, '/echo/me', token);
      expect(res.status).toBe(401);
      expect(res.body.error).toBe('invalid_token');
    }
  });

  it('accepts a client-credentials token only where no owner is needed: 403 owner_required otherwise', async () => {
    const machine = await server.addClient({ name: 'Machine', grantTypes: ['client_credentials'], scope: 'echo.read echo.post' });
    const res = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: { authorization: basic(machine.clientId, machine.clientSecret!), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'echo.read echo.post' }),
    });
    const { access_token: token } = (await res.json()) as { access_token: string };
    expect((await callApi(server, '/echo/items/7', token)).body).toEqual({ id: '7' });
    for (const call of [callApi(server, '/echo/me', token), callApi(server, '/echo/posts', token, { body: { text: 'hi' } })]) {
      const refused = await call;
      expect(refused.status).toBe(403);
      expect(refused.body.error).toBe('owner_required');
    }
  });

  it('answers a missing scope with 403 insufficient_scope naming the scope in the challenge', async () => {
    const token = await owner.agentToken(['echo.read']);
    const res = await callApi(server, '/echo/posts', token, { body: { text: 'not allowed' } });
    expect(res.status).toBe(403);
    expect(res.body.error).toBe('insufficient_scope');
    expect(challengeOf(res.headers)).toBe(
      `Bearer realm="oauth3", error="insufficient_scope", error_description="This call needs the scope echo.post.", scope="echo.post", ${metadata()}, ` +
        `DPoP realm="oauth3", algs="${DPOP_SIGNING_ALGS.join(' ')}", ${metadata()}`,
    );
  });

  it('refuses every token of a disabled owner (C6)', async () => {
    const other = await Owner.signUp(server);
    const token = await other.agentToken(['echo.read']);
    await server.db.query('UPDATE accounts SET disabled_at = now() WHERE id = $1', [other.accountId]);
    const res = await callApi(server, '/echo/items/1', token);
    expect(res.status).toBe(401);
  });

  it('fails closed with 503 when storage fails, and recovers without a restart (H1)', async () => {
    const token = await owner.agentToken(['echo.read']);
    const db = server.db as { query: (...args: unknown[]) => Promise<unknown> };
    const query = db.query;
    db.query = () => Promise.reject(Object.assign(new Error('Connection terminated unexpectedly'), { code: '08006' }));
    try {
      const res = await callApi(server, '/echo/items/1', token);
      expect(res.status).toBe(503);
      expect(res.body).toEqual({ error: 'temporarily_unavailable', error_description: expect.any(String) });
    } finally {
      db.query = query;
    }
    expect((await callApi(server, '/echo/items/1', token)).status).toBe(200);
  });

  it('answers unknown routes 404 and other methods 405, as JSON', async () => {
    const token = await owner.agentToken(['echo.read']);
    const missing = await callApi(server, '/nope', token);
    expect(missing.status).toBe(404);
    expect(missing.body.error).toBe('not_found');
    const wrongMethod = await callApi(server, '/echo/me', token, { method: 'DELETE' });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toContain('GET');
  });

  it('serves RFC 9728 metadata at the root and at the path built from the resource', async () => {
    for (const path of ['/.well-known/oauth-protected-resource', '/.well-known/oauth-protected-resource/api']) {
      const res = await fetch(`${server.url}${path}`);
      expect(res.status).toBe(200);
      const doc = (await res.json()) as Record<string, unknown>;
      expect(doc).toMatchObject({
        resource: server.config.RESOURCE_URL,
        authorization_servers: [server.url],
        bearer_methods_supported: ['header'],
        resource_name: expect.any(String),
      });
      expect(doc.scopes_supported).toEqual(expect.arrayContaining(['echo.read', 'echo.post']));
      expect(doc.scopes_supported).not.toContain('openid');
    }
  });

  it('never writes a token into a log line', async () => {
    const token = await owner.agentToken(['echo.read']);
    await callApi(server, '/echo/me', token);
    await callApi(server, `/echo/me?access_token=${token}`, undefined);
    const logs = server.logs.join('');
    expect(logs).not.toContain(token);
    expect(logs).not.toContain('echo-secret-key-1234');
  });
});
