import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { TokenFlow, basic, expectOAuthError, issued, redirectUri, type Client } from '../helpers/token-flow.js';
import { digestOf } from '../../src/db/at-rest-keys.js';
import { eventually } from '../helpers/console-api.js';

/**
 * Refresh tokens under attack (threat model C1–C3): replayed after rotation, raced, stolen by another client, used
 * without client authentication or to widen the scope. Real tokens from the pages; hand-built token requests.
 */

/** The scopes every grant here is issued with: what TokenFlow.tokens asks for (offline_access, with prompt=consent). */
const scope = 'openid offline_access tweet.read';

describe.each(backends())('refresh tokens rotate and a replay revokes the grant on %s storage (threat model C1, C2)', (backend) => {
  let server: TestServer;
  let flow: TokenFlow;
  let app: Client;

  beforeAll(async () => {
    server = await startTestServer({ backend });
    flow = new TokenFlow(server);
    app = await server.addClient({ name: 'App', redirectUris: [redirectUri] });
  });
  afterAll(() => server?.stop());

  /**
   * The grant an access or refresh token belongs to, as stored (both models live in the database on every backend,
   * under the digest of the token: adapters/at-rest.ts).
   */
  const grantOf = async (token: string) =>
    (
      await server.db.query<{ grant_id: string }>(
        `SELECT grant_id FROM oidc_models WHERE model IN ('AccessToken', 'RefreshToken') AND id = ANY($1)`,
        [[digestOf('AccessToken', token), digestOf('RefreshToken', token)]],
      )
    ).rows[0]?.grant_id;

  it('C1 rotates: every refresh returns a new refresh token, and the used one is refused after', async () => {
    const first = await flow.tokens(app);
    const second = issued(await flow.refresh(first.refreshToken, app));
    const third = issued(await flow.refresh(second.refreshToken, app));
    expect(new Set([first.refreshToken, second.refreshToken, third.refreshToken]).size).toBe(3);
    expect(await flow.active(app, third.accessToken)).toBe(true);
    expect(await flow.active(app, third.refreshToken)).toBe(true);
  });

  it('C1 refuses a replayed refresh token and then kills the new refresh token and every access token of the grant', async () => {
    const original = await flow.tokens(app);
    // A second authorization of the same app by the same owner adds to the same grant.
    const sibling = await flow.tokens(app);
    expect(await grantOf(sibling.accessToken)).toBe(await grantOf(original.accessToken));
    const rotated = issued(await flow.refresh(original.refreshToken, app));
    expect(await flow.active(app, rotated.accessToken)).toBe(true);

    expectOAuthError(await flow.refresh(original.refreshToken, app), 400, 'invalid_grant');

    for (const token of [original.accessToken, rotated.accessToken, sibling.accessToken, rotated.refreshToken, sibling.refreshToken]) {
      expect(await flow.active(app, token)).toBe(false);
    }
    expectOAuthError(await flow.refresh(rotated.refreshToken, app), 400, 'invalid_grant');
    expectOAuthError(await flow.refresh(sibling.refreshToken, app), 400, 'invalid_grant');
  });

  it('C1 revokes the whole chain when a refresh token from several rotations ago is replayed', async () => {
    const first = await flow.tokens(app);
    const second = issued(await flow.refresh(first.refreshToken, app));
    const third = issued(await flow.refresh(second.refreshToken, app));

    expectOAuthError(await flow.refresh(second.refreshToken, app), 400, 'invalid_grant');

    for (const token of [first.accessToken, second.accessToken, third.accessToken, third.refreshToken]) {
      expect(await flow.active(app, token)).toBe(false);
    }
    expectOAuthError(await flow.refresh(third.refreshToken, app), 400, 'invalid_grant');
  });

  it('C1 lets the owner authorize the app again after a replay revoked the grant', async () => {
    const fresh = await flow.tokens(app);
    expect(await flow.active(app, fresh.accessToken)).toBe(true);
    expect((await flow.refresh(fresh.refreshToken, app)).status).toBe(200);
  });

  /** Runs `work` with every statement the server sends passing `intercept` first, which may note, delay or refuse it. */
  const intercepting = async <T>(intercept: (sql: string, params: unknown[]) => Promise<void> | void, work: () => Promise<T>) => {
    const { db } = server;
    const query = db.query.bind(db);
    db.query = async (sql: string, params?: unknown[], options?: never) => {
      await intercept(sql, params ?? []);
      return query(sql, params, options);
    };
    try {
      return await work();
    } finally {
      db.query = query;
    }
  };

  it('reads a refresh token, its grant and its owner in one statement, and refuses the refresh once the owner is disabled or the grant gone', async () => {
    const first = await flow.tokens(app);
    const { db } = server;
    const sent: { sql: string; params: unknown[] }[] = [];
    const second = issued(
      await intercepting(
        (sql, params) => void sent.push({ sql, params }),
        () => flow.refresh(first.refreshToken, app),
      ),
    );
    // The grant and the owner came with the token: no statement of the refresh looked either up by itself.
    const grantFinds = sent.filter(({ params: [model] }) => model === 'Grant' || (Array.isArray(model) && model.includes('Grant')));
    expect(grantFinds).toEqual([]);
    expect(sent.filter(({ sql }) => /FROM accounts/.test(sql))).toEqual([]);
    // One find asked for the owner with the token (oauth3_find_models' fourth argument: migrations/020_kept_token_plans.sql).
    expect(sent.filter(({ sql, params }) => /oauth3_find_models/.test(sql) && params[3] === true)).toHaveLength(1);
    // Read with the token, the owner is still the owner as it is when the request begins: disabled, refused.
    const grantId = await grantOf(second.accessToken);
    const { rows } = await db.query<{ owner: string }>(
      `SELECT payload->>'accountId' AS owner FROM oidc_models WHERE model = 'Grant' AND id = $1`,
      [grantId],
    );
    await db.query('UPDATE accounts SET disabled_at = now() WHERE id = $1', [rows[0]!.owner]);
    expectOAuthError(await flow.refresh(second.refreshToken, app), 400, 'invalid_grant');
    await db.query('UPDATE accounts SET disabled_at = NULL WHERE id = $1', [rows[0]!.owner]);
    await db.query(`DELETE FROM oidc_models WHERE model = 'Grant' AND id = $1`, [grantId]);
    expectOAuthError(await flow.refresh(second.refreshToken, app), 400, 'invalid_grant');
    expect(await flow.active(app, second.accessToken)).toBe(false);
  });

  it('spends the refresh token and stores its successor and the access token in one statement, answering only once it is done', async () => {
    const first = await flow.tokens(app);
    const writes: { sql: string; params: unknown[] }[] = [];
    let failWrites = false;
    const tokenWrites = async (sql: string, params: unknown[]) => {
      if (!/INSERT INTO oidc_models|UPDATE oidc_models|oauth3_write_models/.test(sql)) return;
      writes.push({ sql, params });
      // Slow enough that an answer not waiting for it would leave first.
      await new Promise((resolve) => setTimeout(resolve, 50));
      if (failWrites) throw new Error('the database refused the write');
    };
    const second = issued(await intercepting(tokenWrites, () => flow.refresh(first.refreshToken, app)));
    // The consume of the token presented (oauth3_write_models: migrations/020_kept_token_plans.sql) with both new rows.
    expect(writes).toHaveLength(1);
    expect(writes[0]!.sql).toMatch(/oauth3_write_models/);
    expect(writes[0]!.params[0]).toEqual(['RefreshToken']);
    const stored = JSON.parse(writes[0]!.params[2] as string) as { model: string; consumes_model: string }[];
    expect(stored.map(({ model, consumes_model }) => [model, consumes_model]).sort()).toEqual([
      ['AccessToken', 'RefreshToken'],
      ['RefreshToken', 'RefreshToken'],
    ]);
    expect(await flow.active(app, second.accessToken)).toBe(true);

    // A token whose write fails is never handed out: the answer is a server error, with no token in it, and the
    // owner's access log does not say it was refreshed. The refresh token presented was not spent either: nothing of
    // the statement was applied, so the app can try again with it.
    const grantId = await grantOf(second.accessToken);
    const refreshes = async () =>
      (
        await server.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM events WHERE kind = 'token.refreshed' AND grant_id = $1`, [
          grantId,
        ])
      ).rows[0]!.n;
    // The access log is written just after the answer, in the background.
    const logged = await eventually(refreshes, (n) => n >= 1);
    expect(logged).toBeGreaterThanOrEqual(1);
    failWrites = true;
    expectOAuthError(await intercepting(tokenWrites, () => flow.refresh(second.refreshToken, app)), 500, 'server_error');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await refreshes()).toBe(logged);
    const third = issued(await flow.refresh(second.refreshToken, app));
    expect(await flow.active(app, third.accessToken)).toBe(true);
    expect(await eventually(refreshes, (n) => n > logged)).toBe(logged + 1);
  });

  it('C2 lets at most one of 20 parallel refreshes with one refresh token succeed', async () => {
    for (let round = 0; round < 5; round++) {
      const { refreshToken } = await flow.tokens(app);
      const replies = await Promise.all(Array.from({ length: 20 }, () => flow.refresh(refreshToken, app)));
      const won = replies.filter((r) => r.status === 200);
      expect(won.length).toBeLessThanOrEqual(1);
      for (const lost of replies.filter((r) => r.status !== 200)) expectOAuthError(lost, 400, 'invalid_grant');
      // Whatever the race, the old refresh token never works again.
      expectOAuthError(await flow.refresh(refreshToken, app), 400, 'invalid_grant');
    }
  });
});

describe('refresh tokens are bound to their client and scope (threat model C3)', () => {
  let server: TestServer;
  let flow: TokenFlow;
  let app: Client;
  let other: Client;
  let publicApp: Client;

  beforeAll(async () => {
    server = await startTestServer();
    flow = new TokenFlow(server);
    app = await server.addClient({ name: 'App', redirectUris: [redirectUri] });
    other = await server.addClient({ name: 'Other app', redirectUris: [redirectUri] });
    publicApp = await server.addClient({ name: 'Public app', redirectUris: [redirectUri], public: true });
  });
  afterAll(() => server?.stop());

  it("C3 refuses another client's refresh token, presented with that client's own valid credentials", async () => {
    const { refreshToken } = await flow.tokens(app);
    expectOAuthError(await flow.refresh(refreshToken, other), 400, 'invalid_grant');
    expectOAuthError(await flow.refresh(refreshToken, publicApp), 400, 'invalid_grant');
    const publicTokens = await flow.tokens(publicApp);
    expectOAuthError(await flow.refresh(publicTokens.refreshToken, app), 400, 'invalid_grant');
  });

  it('C3 refuses a confidential client refreshing without authenticating', async () => {
    const { refreshToken } = await flow.tokens(app);
    // client_id alone: the client is known, its authentication is missing (RFC 6749 §5.2 invalid_client).
    expectOAuthError(await flow.refresh(refreshToken, { clientId: app.clientId }), 401, 'invalid_client');
    // Nothing at all names a client to authenticate; oidc-provider calls that a malformed request.
    expectOAuthError(await flow.refresh(refreshToken), 400, 'invalid_request');
    const wrong = await flow.refresh(refreshToken, basic(app.clientId, other.clientSecret!));
    expectOAuthError(wrong, 401, 'invalid_client');
  });

  it('C3 refuses a public client refreshing without its client_id', async () => {
    const { refreshToken } = await flow.tokens(publicApp);
    expectOAuthError(await flow.refresh(refreshToken), 400, 'invalid_request');
  });

  it('C3 refuses a refresh that asks for a wider scope', async () => {
    const { refreshToken } = await flow.tokens(app);
    expectOAuthError(await flow.refresh(refreshToken, app, { scope: `${scope} tweet.post` }), 400, 'invalid_scope');
    expectOAuthError(await flow.refresh(refreshToken, app, { scope: 'openid profile offline_access tweet.read' }), 400, 'invalid_scope');
    expectOAuthError(await flow.refresh(refreshToken, app, { scope: 'tweet.post' }), 400, 'invalid_scope');
    expectOAuthError(await flow.refresh(refreshToken, app, { scope: 'admin' }), 400, 'invalid_scope');
  });

  it('C3 grants a narrower scope on refresh, and only that scope (the control)', async () => {
    const { refreshToken } = await flow.tokens(app);
    const narrowed = await flow.refresh(refreshToken, app, { scope: 'tweet.read' });
    expect(narrowed.status).toBe(200);
    const introspection = await flow.post('/token/introspection', { token: String(narrowed.body.access_token) }, app);
    expect(introspection.body).toMatchObject({ active: true, aud: server.config.RESOURCE_URL });
    expect(String(introspection.body.scope).split(' ')).toEqual(['tweet.read']);
  });
});
