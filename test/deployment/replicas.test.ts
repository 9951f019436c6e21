import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createPostgresDatabase } from '../../src/db/postgres.js';
import type { Database } from '../../src/db/database.js';
import { ClientStore } from '../../src/clients/store.js';
import { FakeOAuthProvider } from '../fakes/oauth-provider.js';
import { authorize } from '../helpers/browser.js';
import { Owner, callApi } from '../helpers/owner.js';
import { LoadBalancer, ServerProcess } from '../helpers/replicas.js';
import { createTestSchema, serviceUrl } from '../helpers/services.js';
import type { TestServer } from '../helpers/server.js';
import { basic, redirectUri } from '../helpers/token-flow.js';
import { PROVIDER, SCOPE, Seen, connectFromConsole } from '../upstream/through-server.js';

const databaseUrl = serviceUrl('TEST_DATABASE_URL');
const redisUrl = serviceUrl('TEST_REDIS_URL');

/**
 * Two replicas: two oauth3 processes on different ports, one Postgres and one Redis, behind a load
 * balancer the test steers. Whatever one replica starts or issues, the other honours, and revoking on one is
 * effective on the other at once; the upstream refresh still happens exactly once.
 */
(databaseUrl && redisUrl ? describe : describe.skip)('two replicas on one Postgres and Redis', () => {
  const replicas: ServerProcess[] = [];
  let lb: LoadBalancer;
  let schema: Awaited<ReturnType<typeof createTestSchema>>;
  let db: Database;
  let fake: FakeOAuthProvider;
  let dataDir: string;
  let owner: Owner;
  let app: { clientId: string; clientSecret: string };
  const seen = new Seen();

  /** Owner and console helpers only need the URL the world sees: the load balancer's. */
  const front = () => ({ url: lb.url }) as TestServer;
  const on = (replica: number) => {
    lb.target = replica;
  };

  beforeAll(async () => {
    schema = await createTestSchema(databaseUrl!);
    fake = await new FakeOAuthProvider().start();
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-replicas-'));
    lb = await new LoadBalancer(() => replicas.map((r) => r.port)).start();
    const env = {
      NODE_ENV: 'test',
      ISSUER: lb.url,
      DATA_DIR: dataDir,
      DATABASE_URL: schema.url,
      REDIS_URL: redisUrl!,
      MASTER_KEY: randomBytes(32).toString('base64url'),
      LOG_LEVEL: 'info',
      UPSTREAM_PROVIDERS: JSON.stringify([fake.config(PROVIDER)]),
    };
    // The first replica migrates and creates the keys; the second finds them, as a rolling deployment does.
    replicas.push(await new ServerProcess(env).start());
    replicas.push(await new ServerProcess(env).start());
    db = createPostgresDatabase({ url: schema.url, poolSize: 2, timeoutMs: 5000 });
    const { client, clientSecret } = await new ClientStore(db).add({ name: 'Replica app', redirectUris: [redirectUri] });
    app = { clientId: client.clientId, clientSecret: clientSecret! };
  }, 120_000);
  afterAll(async () => {
    const codes = await Promise.all(replicas.map((r) => r.stop()));
    expect(codes).toEqual([0, 0]);
    await lb?.stop();
    await db?.close();
    await schema?.drop();
    await fake?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('a session started on one replica is valid on the other', async () => {
    on(0);
    owner = await Owner.signUp(front());
    on(1);
    const res = await owner.api.get('/console/api/session');
    expect(res.status).toBe(200);
    expect(((await res.json()) as { account_id: string }).account_id).toBe(owner.accountId);
    expect(lb.served.slice(-1)).toEqual([1]);
  });

  it('a code issued by one replica is redeemed on the other, refreshed on the first, and its replay anywhere revokes it everywhere', async () => {
    on(0);
    const verifier = randomBytes(32).toString('base64url');
    const query = new URLSearchParams({
      client_id: app.clientId,
      response_type: 'code',
      redirect_uri: redirectUri,
      scope: `openid offline_access ${SCOPE}`,
      state: 's',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      prompt: 'consent',
    });
    const callback = new URL(await authorize(owner.browser, `${lb.url}/auth?${query}`, { passkey: 'none' }));
    const code = callback.searchParams.get('code')!;
    expect(code).toEqual(expect.any(String));

    on(1);
    const exchanged = await token({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier });
    expect(exchanged.status).toBe(200);

    on(0);
    const refreshed = await token({ grant_type: 'refresh_token', refresh_token: String(exchanged.body.refresh_token) });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.refresh_token).not.toBe(exchanged.body.refresh_token);
    on(1);
    expect((await introspect(String(refreshed.body.access_token))).active).toBe(true);

    // Redeemed once, anywhere: the same code on the first replica is refused, and that replay revokes what the code
    // gave, which the other replica sees at once.
    on(0);
    expect((await token({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier })).body.error).toBe(
      'invalid_grant',
    );
    on(1);
    expect((await introspect(String(refreshed.body.access_token))).active).toBe(false);
    expect((await token({ grant_type: 'refresh_token', refresh_token: String(refreshed.body.refresh_token) })).body.error).toBe(
      'invalid_grant',
    );
  });

  it('a revocation on one replica is effective on the other at once', async () => {
    const accessToken = (await owner.appToken(app, `openid ${SCOPE}`)).accessToken;
    on(1);
    expect((await introspect(accessToken)).active).toBe(true);
    on(0);
    const revoked = await fetch(`${lb.url}/token/revocation`, {
      method: 'POST',
      headers: { authorization: basic(app.clientId, app.clientSecret), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: accessToken }),
    });
    expect(revoked.status).toBe(200);
    on(1);
    expect((await introspect(accessToken)).active).toBe(false);
    expect((await callApi(front(), `/upstream/${PROVIDER}/v1/items`, accessToken)).status).toBe(401);

    // The same for an owner revoking an agent's token in the console of one replica.
    const agent = await owner.agentToken([SCOPE]);
    const listed = (await (await owner.api.get('/console/api/tokens')).json()) as { tokens: { id: string }[] };
    on(0);
    expect((await owner.api.send('DELETE', `/console/api/tokens/${listed.tokens[0]!.id}`)).status).toBeLessThan(300);
    on(1);
    expect((await callApi(front(), `/upstream/${PROVIDER}/v1/items`, agent)).status).toBe(401);
  });

  it('20 concurrent calls across both replicas with an expired upstream token refresh it exactly once', async () => {
    on(0);
    await connectFromConsole(owner, seen);
    const agent = await owner.agentToken([SCOPE]);
    lb.target = 'alternate';
    expect((await callApi(front(), `/upstream/${PROVIDER}/v1/items`, agent)).status).toBe(200);
    await db.query(`UPDATE connections SET expires_at = now() - interval '1 minute' WHERE account_id = $1 AND provider = $2`, [
      owner.accountId,
      PROVIDER,
    ]);
    const before = fake.refreshCount;
    const served = lb.served.length;
    const results = await Promise.all(Array.from({ length: 20 }, () => callApi(front(), `/upstream/${PROVIDER}/v1/items`, agent)));
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(new Set(lb.served.slice(served))).toEqual(new Set([0, 1]));
    expect(fake.refreshCount - before).toBe(1);
    // Every call went upstream with the one new access token.
    expect(new Set(fake.requests.slice(-20).map((r) => r.authorization)).size).toBe(1);
  });

  async function token(form: Record<string, string>) {
    const res = await fetch(`${lb.url}/token`, {
      method: 'POST',
      headers: { authorization: basic(app.clientId, app.clientSecret), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  async function introspect(value: string) {
    const res = await fetch(`${lb.url}/token/introspection`, {
      method: 'POST',
      headers: { authorization: basic(app.clientId, app.clientSecret), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: value }),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as { active: boolean };
  }
});
