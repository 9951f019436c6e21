import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { TokenFlow, basic, expectOAuthError, redirectUri, type Client, type Reply } from '../helpers/token-flow.js';

/**
 * The token endpoint under attack (threat model B1–B8): real codes from the passkey and consent pages, then
 * hand-built token requests that replay, race, steal or forge them.
 */

/** Not one secret the server handled appears in any of its log lines (B8); the logs must not be empty either. */
function expectNoSecretsLogged(server: TestServer, secrets: Iterable<string>) {
  const logs = server.logs.join('');
  expect(logs).toContain('"path":"/token"');
  const leaked = [...secrets].filter((s) => s.length >= 16 && logs.includes(s));
  expect(leaked).toEqual([]);
}

describe('the token endpoint refuses forged, stolen and malformed requests (threat model B3, B5–B8)', () => {
  let server: TestServer;
  let flow: TokenFlow;
  let app: Client;
  let other: Client;
  let publicApp: Client;
  let codeOnly: Client;
  let machine: Client;

  beforeAll(async () => {
    server = await startTestServer();
    flow = new TokenFlow(server);
    app = await server.addClient({ name: 'App', redirectUris: [redirectUri] });
    other = await server.addClient({ name: 'Other app', redirectUris: [redirectUri] });
    publicApp = await server.addClient({ name: 'Public app', redirectUris: [redirectUri], public: true });
    codeOnly = await server.addClient({ name: 'Code only', redirectUris: [redirectUri], grantTypes: ['authorization_code'] });
    machine = await server.addClient({ name: 'Machine', grantTypes: ['client_credentials'], scope: 'tweet.read' });
    for (const c of [app, other, codeOnly, machine]) flow.secrets.add(c.clientSecret!);
  });
  afterAll(() => server?.stop());

  describe('B3 the code_verifier must match the code_challenge', () => {
    const another = () => randomBytes(32).toString('base64url');
    const cases: Array<[string, (verifier: string) => string | undefined, string]> = [
      ['a different well-formed verifier', () => another(), 'invalid_grant'],
      ['the challenge itself', (v) => createHash('sha256').update(v).digest('base64url'), 'invalid_grant'],
      ['the right verifier with one character changed', (v) => `${v.slice(0, -1)}${v.endsWith('A') ? 'B' : 'A'}`, 'invalid_grant'],
      ['no verifier', () => undefined, 'invalid_grant'],
      ['an empty verifier', () => '', 'invalid_grant'],
      ['a 42-character verifier', (v) => v.slice(0, 42), 'invalid_request'],
      ['a 129-character verifier', (v) => (v + another() + another()).slice(0, 129), 'invalid_request'],
      ['a verifier with "+" and "/"', (v) => `${v.slice(0, 41)}+/`, 'invalid_request'],
      ['a verifier with a space', (v) => `${v.slice(0, 20)} ${v.slice(21)}`, 'invalid_request'],
    ];

    it.each(cases)('refuses %s from a confidential client', async (_what, mutate, error) => {
      const grant = await flow.code(app);
      expectOAuthError(await flow.redeem({ code: grant.code, verifier: mutate(grant.verifier) }, app), 400, error);
    });

    it.each(cases)('refuses %s from a public client', async (_what, mutate, error) => {
      const grant = await flow.code(publicApp);
      expectOAuthError(await flow.redeem({ code: grant.code, verifier: mutate(grant.verifier) }, publicApp), 400, error);
    });

    it('redeems the code with the right verifier (the control for the cases above)', async () => {
      const reply = await flow.redeem(await flow.code(app), app);
      expect(reply.status).toBe(200);
      expect(reply.body.access_token).toEqual(expect.any(String));
    });
  });

  describe('B5 a code is bound to the client it was issued to', () => {
    it("refuses client A's code redeemed with client B's credentials", async () => {
      expectOAuthError(await flow.redeem(await flow.code(app), other), 400, 'invalid_grant');
    });

    it("refuses a confidential client's code redeemed by a public client", async () => {
      expectOAuthError(await flow.redeem(await flow.code(app), publicApp), 400, 'invalid_grant');
    });

    it("refuses a public client's code redeemed with a confidential client's credentials", async () => {
      expectOAuthError(await flow.redeem(await flow.code(publicApp), app), 400, 'invalid_grant');
    });

    it('refuses a code redeemed with another redirect_uri', async () => {
      expectOAuthError(await flow.redeem(await flow.code(app), app, { redirect_uri: `${redirectUri}/other` }), 400, 'invalid_grant');
    });
  });

  describe('B6 client authentication', () => {
    /** 401 invalid_client, with the Basic challenge RFC 6749 §5.2 requires when the client tried Basic. */
    const expectInvalidClient = (reply: Reply, triedBasic: boolean) => {
      expectOAuthError(reply, 401, 'invalid_client');
      if (triedBasic) expect(reply.headers.get('www-authenticate')).toMatch(/^Basic /);
    };

    it('refuses a wrong secret', async () => {
      const wrong = randomBytes(32).toString('base64url');
      flow.secrets.add(wrong);
      expectInvalidClient(await flow.redeem(await flow.code(app), basic(app.clientId, wrong)), true);
    });

    it("refuses another client's secret", async () => {
      expectInvalidClient(await flow.redeem(await flow.code(app), basic(app.clientId, other.clientSecret!)), true);
    });

    it('refuses the right secret with a character changed or cut short', async () => {
      const grant = await flow.code(app);
      const secret = app.clientSecret!;
      expectInvalidClient(await flow.redeem(grant, basic(app.clientId, `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`)), true);
      expectInvalidClient(await flow.redeem(grant, basic(app.clientId, secret.slice(0, -1))), true);
      expectInvalidClient(await flow.redeem(grant, basic(app.clientId, `${secret} `)), true);
    });

    it('refuses a wrong secret sent in the body (client_secret_post)', async () => {
      const grant = await flow.code(app);
      expectInvalidClient(await flow.redeem(grant, undefined, { client_id: app.clientId, client_secret: other.clientSecret! }), false);
    });

    // RFC 6749 §2.3 forbids more than one method per request and §5.2 names the error for it: invalid_request.
    it('refuses two authentication methods at once, even when both are right', async () => {
      const grant = await flow.code(app);
      const both = await flow.redeem(grant, app, { client_secret: app.clientSecret! });
      expectOAuthError(both, 400, 'invalid_request');
      const mixed = await flow.redeem(grant, basic(app.clientId, 'wrong-secret-wrong-secret'), {
        client_id: app.clientId,
        client_secret: app.clientSecret!,
      });
      expectOAuthError(mixed, 400, 'invalid_request');
    });

    it('refuses a secret past its client_secret_expires_at', async () => {
      const expiring = await server.addClient({ name: 'Expiring', redirectUris: [redirectUri] });
      flow.secrets.add(expiring.clientSecret!);
      const grant = await flow.code(expiring);
      await server.db.query(`UPDATE clients SET metadata = metadata || '{"client_secret_expires_at": 1}' WHERE client_id = $1`, [
        expiring.clientId,
      ]);
      expectInvalidClient(await flow.redeem(grant, expiring), true);
      expectInvalidClient(await flow.post('/token/introspection', { token: 'anything' }, expiring), true);
    });

    it('refuses an unknown client', async () => {
      const grant = await flow.code(app);
      expectInvalidClient(await flow.redeem(grant, basic('c_unknown', app.clientSecret!)), true);
      expectInvalidClient(await flow.redeem(grant, undefined, { client_id: 'c_unknown' }), false);
    });

    it('refuses a confidential client that sends no secret at all', async () => {
      expectInvalidClient(await flow.redeem(await flow.code(app), { clientId: app.clientId }), false);
    });

    it('issues tokens with the right secret after all those attempts (the control)', async () => {
      expect((await flow.redeem(await flow.code(app), app)).status).toBe(200);
    });
  });

  describe('B7 only the grants a client registered, and never password or implicit', () => {
    it('answers unauthorized_client to a client registered only for authorization_code asking client_credentials', async () => {
      expectOAuthError(await flow.token({ grant_type: 'client_credentials', scope: 'tweet.read' }, codeOnly), 400, 'unauthorized_client');
    });

    it('answers unauthorized_client to a code-and-refresh client asking client_credentials', async () => {
      expectOAuthError(await flow.token({ grant_type: 'client_credentials' }, app), 400, 'unauthorized_client');
    });

    it('answers unauthorized_client to a client without refresh_token asking to refresh', async () => {
      expectOAuthError(
        await flow.token({ grant_type: 'refresh_token', refresh_token: 'x'.repeat(43) }, codeOnly),
        400,
        'unauthorized_client',
      );
    });

    it('answers unauthorized_client to a client_credentials client redeeming a code', async () => {
      expectOAuthError(await flow.redeem({ code: 'x'.repeat(43), verifier: 'y'.repeat(43) }, machine), 400, 'unauthorized_client');
    });

    it('answers unauthorized_client to a client not registered for the device grant (RFC 8628)', async () => {
      const reply = await flow.token({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: 'x'.repeat(43) }, app);
      expectOAuthError(reply, 400, 'unauthorized_client');
    });

    it.each([
      ['password', { username: 'owner', password: 'hunter2' }],
      ['implicit', {}],
      ['token', {}],
      ['urn:example:unknown-grant', {}],
      ['urn:ietf:params:oauth:grant-type:jwt-bearer', { assertion: 'e30.e30.' }],
      ['AUTHORIZATION_CODE', {}],
    ])('answers unsupported_grant_type to grant_type=%s', async (grantType, extra) => {
      expectOAuthError(await flow.token({ grant_type: grantType, ...extra }, app), 400, 'unsupported_grant_type');
    });

    it('answers invalid_request when grant_type is missing', async () => {
      expectOAuthError(await flow.token({ code: 'x'.repeat(43) }, app), 400, 'invalid_request');
    });

    it('issues client_credentials tokens to the client registered for them (the control)', async () => {
      const reply = await flow.token({ grant_type: 'client_credentials', scope: 'tweet.read' }, machine);
      expect(reply.status).toBe(200);
      expect(reply.body).not.toHaveProperty('refresh_token');
    });

    it('writes no access-log row for a machine token: it has no owner whose log could show it', async () => {
      expect((await flow.token({ grant_type: 'client_credentials', scope: 'tweet.read' }, machine)).status).toBe(200);
      const { rows } = await server.db.query<{ n: number }>('SELECT count(*)::int AS n FROM events WHERE client_id = $1', [
        machine.clientId,
      ]);
      expect(rows[0]!.n).toBe(0);
    });

    it("lets a browser read token responses only on the origin of one of the client's redirect URIs (CORS)", async () => {
      // A preflight names no client, so only the actual request can be judged: without the header the browser
      // withholds the response from the page.
      const spa = await server.addClient({
        name: 'SPA machine',
        redirectUris: [redirectUri],
        grantTypes: ['client_credentials'],
        scope: 'tweet.read',
      });
      const tokenFrom = (origin: string) =>
        fetch(`${server.url}/token`, {
          method: 'POST',
          headers: { origin, 'content-type': 'application/x-www-form-urlencoded', authorization: basic(spa.clientId, spa.clientSecret!) },
          body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'tweet.read' }),
        });
      const own = await tokenFrom(new URL(redirectUri).origin);
      expect(own.status).toBe(200);
      expect(own.headers.get('access-control-allow-origin')).toBe(new URL(redirectUri).origin);
      const foreign = await tokenFrom('https://evil.example');
      expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
      flow.secrets.add(spa.clientSecret!);
    });

    it('advertises neither password nor implicit in discovery', async () => {
      const meta = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as Record<string, string[]>;
      expect(meta.grant_types_supported).not.toContain('password');
      expect(meta.grant_types_supported).not.toContain('implicit');
    });
  });

  describe('B8 token responses are never cached and secrets never logged', () => {
    it('sends Cache-Control: no-store on successful and failed token responses', async () => {
      const grant = await flow.code(app, { offline: true });
      const issued = await flow.redeem(grant, app);
      expect(issued.status).toBe(200);
      const refreshed = await flow.token({ grant_type: 'refresh_token', refresh_token: String(issued.body.refresh_token) }, app);
      expect(refreshed.status).toBe(200);
      const replies = [
        issued,
        refreshed,
        await flow.token({ grant_type: 'client_credentials', scope: 'tweet.read' }, machine),
        await flow.redeem(grant, app),
        await flow.redeem(grant, basic(app.clientId, 'not-the-secret-not-the-secret')),
        await flow.token({ grant_type: 'password', username: 'u', password: 'p' }, app),
      ];
      expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 400, 401, 400]);
      for (const reply of replies) expect(reply.headers.get('cache-control')).toMatch(/(^|,\s*)no-store(\s*,|$)/);
    });

    it('logs no code, access token, refresh token, ID token, client secret or code_verifier, after every test above', async () => {
      // One more complete life: code, exchange, refresh, introspection, revocation, and a replay that revokes it all.
      const grant = await flow.code(app, { offline: true });
      const issued = await flow.redeem(grant, app);
      const refreshed = await flow.token({ grant_type: 'refresh_token', refresh_token: String(issued.body.refresh_token) }, app);
      await flow.active(app, String(refreshed.body.access_token));
      await flow.post('/token/revocation', { token: String(refreshed.body.access_token) }, app);
      await flow.token({ grant_type: 'refresh_token', refresh_token: String(issued.body.refresh_token) }, app);
      await flow.redeem(grant, app);
      // A careless client that puts the code, verifier and its secret in the URL gets them neither accepted nor logged.
      const careless = await flow.code(app);
      const query = new URLSearchParams({
        grant_type: 'authorization_code',
        code: careless.code,
        code_verifier: careless.verifier,
        redirect_uri: redirectUri,
        client_id: app.clientId,
        client_secret: app.clientSecret!,
      });
      const inUrl = await fetch(`${server.url}/token?${query}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(inUrl.status).toBeGreaterThanOrEqual(400);
      expect(await inUrl.text()).not.toContain('access_token');
      flow.secrets.add('not-the-secret-not-the-secret').add('wrong-secret-wrong-secret');
      expect(flow.secrets.size).toBeGreaterThan(60);
      expectNoSecretsLogged(server, flow.secrets);
    });
  });
});

describe.each(backends())('a code is redeemed once on %s storage (threat model B1, B2)', (backend) => {
  let server: TestServer;
  let flow: TokenFlow;
  let app: Client;

  beforeAll(async () => {
    server = await startTestServer({ backend });
    flow = new TokenFlow(server);
    app = await server.addClient({ name: 'App', redirectUris: [redirectUri] });
    flow.secrets.add(app.clientSecret!);
  });
  afterAll(() => server?.stop());

  it('B1 rejects a second redemption of the same code and revokes the tokens from the first', async () => {
    const grant = await flow.code(app, { offline: true });
    const first = await flow.redeem(grant, app);
    expect(first.status).toBe(200);
    const accessToken = String(first.body.access_token);
    const refreshToken = String(first.body.refresh_token);
    expect(await flow.active(app, accessToken)).toBe(true);

    expectOAuthError(await flow.redeem(grant, app), 400, 'invalid_grant');

    expect(await flow.active(app, accessToken)).toBe(false);
    expect(await flow.active(app, refreshToken)).toBe(false);
    expectOAuthError(await flow.token({ grant_type: 'refresh_token', refresh_token: refreshToken }, app), 400, 'invalid_grant');
    // And a third attempt still finds nothing to redeem.
    expectOAuthError(await flow.redeem(grant, app), 400, 'invalid_grant');
  });

  it('B1 revokes the tokens of the first redemption even when the replay comes after a refresh', async () => {
    const grant = await flow.code(app, { offline: true });
    const first = await flow.redeem(grant, app);
    const refreshed = await flow.token({ grant_type: 'refresh_token', refresh_token: String(first.body.refresh_token) }, app);
    expect(refreshed.status).toBe(200);

    expectOAuthError(await flow.redeem(grant, app), 400, 'invalid_grant');

    for (const token of [first.body.access_token, refreshed.body.access_token, refreshed.body.refresh_token]) {
      expect(await flow.active(app, String(token))).toBe(false);
    }
    expectOAuthError(
      await flow.token({ grant_type: 'refresh_token', refresh_token: String(refreshed.body.refresh_token) }, app),
      400,
      'invalid_grant',
    );
  });

  it('B2 lets exactly one of 20 parallel redemptions of one code succeed', async () => {
    const grant = await flow.code(app, { offline: true });
    const replies = await Promise.all(Array.from({ length: 20 }, () => flow.redeem(grant, app)));
    const won = replies.filter((r) => r.status === 200);
    expect(won).toHaveLength(1);
    for (const lost of replies.filter((r) => r.status !== 200)) expectOAuthError(lost, 400, 'invalid_grant');
    expect(new Set(replies.map((r) => r.body.access_token).filter(Boolean)).size).toBe(1);
  });

  it('B2 lets exactly one of 20 parallel redemptions succeed, five codes in a row', async () => {
    for (let round = 0; round < 5; round++) {
      const grant = await flow.code(app);
      const replies = await Promise.all(Array.from({ length: 20 }, () => flow.redeem(grant, app)));
      expect(replies.filter((r) => r.status === 200)).toHaveLength(1);
      expect(replies.filter((r) => r.status === 400 && r.body.error === 'invalid_grant')).toHaveLength(19);
    }
  });

  it('B8 logs none of the codes and tokens it handled', () => {
    expectNoSecretsLogged(server, flow.secrets);
  });
});

describe('an authorization code past its lifetime (threat model B4)', () => {
  const TTL = 2;
  let server: TestServer;
  let flow: TokenFlow;
  let app: Client;

  beforeAll(async () => {
    server = await startTestServer({ env: { AUTHORIZATION_CODE_TTL: String(TTL) } });
    flow = new TokenFlow(server);
    app = await server.addClient({ name: 'App', redirectUris: [redirectUri] });
  });
  afterAll(() => server?.stop());

  it('redeems a code within its lifetime (the control)', async () => {
    expect((await flow.redeem(await flow.code(app), app)).status).toBe(200);
  });

  it('B4 refuses an expired code with invalid_grant', async () => {
    const grant = await flow.code(app);
    await sleep((TTL + 1) * 1000 + 100);
    expectOAuthError(await flow.redeem(grant, app), 400, 'invalid_grant');
  });
});

describe.each(backends())('a failure between consuming a code and saving its tokens on %s storage (H4)', (backend) => {
  let server: TestServer;
  let flow: TokenFlow;
  let app: Client;

  beforeAll(async () => {
    server = await startTestServer({ backend });
    flow = new TokenFlow(server);
    app = await server.addClient({ name: 'App', redirectUris: [redirectUri] });
  });
  afterAll(() => server?.stop());

  it('H4 leaves no usable token: the code is spent and nothing was issued for it', async () => {
    const grant = await flow.code(app, { offline: true });
    // The database refuses every token write, as if the process died right after the code was consumed.
    await server.db.query(`CREATE FUNCTION refuse_tokens() RETURNS trigger AS $$
      BEGIN
        IF NEW.model IN ('AccessToken', 'RefreshToken') THEN RAISE EXCEPTION 'simulated crash'; END IF;
        RETURN NEW;
      END $$ LANGUAGE plpgsql`);
    await server.db.query(
      'CREATE TRIGGER refuse_tokens BEFORE INSERT OR UPDATE ON oidc_models FOR EACH ROW EXECUTE FUNCTION refuse_tokens()',
    );
    try {
      const failed = await flow.redeem(grant, app);
      expect(failed.status).toBe(500);
      expect(failed.body.access_token).toBeUndefined();
    } finally {
      await server.db.query('DROP TRIGGER refuse_tokens ON oidc_models');
      await server.db.query('DROP FUNCTION refuse_tokens()');
    }
    // Storage is back: the same code is still refused, and no token of this client exists to be used.
    expectOAuthError(await flow.redeem(grant, app), 400, 'invalid_grant');
    const { rows } = await server.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM oidc_models WHERE model IN ('AccessToken', 'RefreshToken') AND payload->>'clientId' = $1`,
      [app.clientId],
    );
    expect(rows[0]!.n).toBe(0);
  });
});
