import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createPostgresDatabase } from '../../src/db/postgres.js';
import type { Database } from '../../src/db/database.js';
import { ClientStore } from '../../src/clients/store.js';
import { ClusterProcess } from '../helpers/cluster.js';
import { createTestSchema, serviceUrl } from '../helpers/services.js';
import { basic, redirectUri } from '../helpers/token-flow.js';
import { DpopKey } from '../helpers/dpop.js';
import { Owner } from '../helpers/owner.js';
import type { TestServer } from '../helpers/server.js';
import { FakeOAuthProvider } from '../fakes/oauth-provider.js';
import { Agent } from 'undici';
import { TestBrowser } from '../helpers/browser.js';
import { hiddenFields } from '../helpers/at-rest.js';
import { PROVIDER, SCOPE, Seen, connectFromConsole } from '../upstream/through-server.js';

const databaseUrl = serviceUrl('TEST_DATABASE_URL');
const redisUrl = serviceUrl('TEST_REDIS_URL');

/** A fetch dispatcher that opens a connection per request, so a browser's requests go to each worker in turn. */
const noKeepAlive = new Agent({ pipelining: 0 });

const form = (fields: Record<string, string>, auth?: string) => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded', ...(auth ? { authorization: auth } : {}) },
  body: new URLSearchParams(fields).toString(),
});

/**
 * WORKERS=2: one oauth3 process whose primary forks two workers behind one port. Whatever a worker remembers in its
 * memory must not decide anything the other would decide differently: each attack below is sent through one worker
 * and then the other (the log says which answered), on Postgres alone and on Postgres with Redis.
 */
const storages = [...(databaseUrl ? ['Postgres'] : []), ...(databaseUrl && redisUrl ? ['Postgres and Redis'] : [])];

(storages.length ? describe.each(storages) : describe.skip.each(['Postgres']))('H8 two workers on %s', (storage) => {
  let cluster: ClusterProcess;
  let schema: Awaited<ReturnType<typeof createTestSchema>>;
  let db: Database;
  let dataDir: string;
  let fake: FakeOAuthProvider;

  /** Runs `pair` until its two requests were answered by different workers; the last pair's result. */
  async function acrossWorkers<T extends { workers: [number, number] }>(pair: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const result = await pair();
      if (result.workers[0] !== result.workers[1] || attempt === 5) {
        expect(new Set(result.workers).size).toBe(2);
        return result;
      }
    }
  }

  beforeAll(async () => {
    schema = await createTestSchema(databaseUrl!);
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-workers-'));
    fake = await new FakeOAuthProvider().start();
    cluster = await new ClusterProcess({
      NODE_ENV: 'test',
      DATA_DIR: dataDir,
      DATABASE_URL: schema.url,
      DATABASE_POOL_SIZE: '4',
      MASTER_KEY: randomBytes(32).toString('base64url'),
      LOG_LEVEL: 'info',
      REGISTRATION: 'open',
      REGISTRATION_PER_HOUR: '6',
      UPSTREAM_PROVIDERS: JSON.stringify([fake.config(PROVIDER)]),
      ...(storage === 'Postgres and Redis' ? { REDIS_URL: redisUrl! } : {}),
    }).start();
    db = createPostgresDatabase({ url: schema.url, poolSize: 2, timeoutMs: 5000 });
  }, 180_000);

  afterAll(async () => {
    const code = await cluster?.process.stop();
    expect(code).toBe(0);
    await db?.close();
    await schema?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    await fake?.stop();
  });

  it('a client deleted through one worker is refused by the other on the next request, though both had read it', async () => {
    // Registration counts against the per-address limit below: this test registers one client.
    const registered = await cluster.send('/reg', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'Doomed app', redirect_uris: [redirectUri], token_endpoint_auth_method: 'client_secret_basic' }),
    });
    expect(registered.status).toBe(201);
    const { client_id: id, client_secret: secret, registration_access_token: rat } = registered.body as Record<string, string>;
    const introspect = () => cluster.send('/token/introspection', form({ token: 'not-a-token' }, basic(id!, secret!)));
    // Both workers authenticate the client, so each has its row in memory (adapters/client-cache.ts).
    const warm = [await introspect(), await introspect()];
    expect(warm.map((r) => r.status)).toEqual([200, 200]);
    expect(new Set(warm.map((r) => r.worker)).size).toBe(2);

    const deleted = await cluster.send(`/reg/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${rat}` } });
    expect(deleted.status).toBe(204);
    const after = [await introspect(), await introspect()];
    expect(after.map((r) => [r.status, r.body.error])).toEqual([
      [401, 'invalid_client'],
      [401, 'invalid_client'],
    ]);
    expect(new Set([deleted.worker, ...after.map((r) => r.worker)])).toEqual(new Set([1, 2]));
  });

  it('a DPoP proof accepted by one worker is refused by the other', async () => {
    const { client, clientSecret } = await new ClientStore(db).add({ name: 'DPoP machine', grantTypes: ['client_credentials'] });
    const key = await DpopKey.generate();
    const bound = await cluster.send('/token', {
      ...form({ grant_type: 'client_credentials', scope: 'tweet.read' }, basic(client.clientId, clientSecret!)),
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: basic(client.clientId, clientSecret!),
        dpop: await key.proof('POST', `${cluster.url}/token`),
      },
    });
    expect([bound.status, bound.body.token_type]).toEqual([200, 'DPoP']);
    const token = String(bound.body.access_token);

    const result = await acrossWorkers(async () => {
      const proof = await key.proof('GET', `${cluster.url}/api/me`, token);
      const me = () => cluster.send('/api/me', { headers: { authorization: `DPoP ${token}`, dpop: proof } });
      const first = await me();
      const replay = await me();
      return { first, replay, workers: [first.worker, replay.worker] as [number, number] };
    });
    // /api/me needs an owner: 403 means the proof passed; the same proof on the other worker is a replay.
    expect([result.first.status, result.first.body.error]).toEqual([403, 'owner_required']);
    expect([result.replay.status, result.replay.body.error]).toEqual([401, 'invalid_dpop_proof']);
  });

  it('a per-address limit counts what both workers let through', async () => {
    const answers: Array<{ status: number; worker: number }> = [];
    for (let i = 0; i < 8; i++) {
      answers.push(
        await cluster.send('/reg', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ client_name: `App ${i}`, redirect_uris: [redirectUri] }),
        }),
      );
    }
    // Six an hour from this address, one already spent by the first test: five more, whichever worker answers.
    expect(answers.map((a) => a.status)).toEqual([201, 201, 201, 201, 201, 429, 429, 429]);
    expect(new Set(answers.slice(0, 5).map((a) => a.worker))).toEqual(new Set([1, 2]));
  });

  it('a refresh token used through one worker and replayed through the other revokes the grant', async () => {
    const owner = await Owner.signUp({ url: cluster.url } as TestServer);
    const { client, clientSecret } = await new ClientStore(db).add({ name: 'Refreshing app', redirectUris: [redirectUri] });
    const app = { clientId: client.clientId, clientSecret: clientSecret! };
    const auth = basic(app.clientId, app.clientSecret);

    const result = await acrossWorkers(async () => {
      const { refreshToken } = await owner.appToken(app, 'openid offline_access');
      const used = await cluster.send('/token', form({ grant_type: 'refresh_token', refresh_token: refreshToken! }, auth));
      const replayed = await cluster.send('/token', form({ grant_type: 'refresh_token', refresh_token: refreshToken! }, auth));
      return { used, replayed, workers: [used.worker, replayed.worker] as [number, number] };
    });
    expect(result.used.status).toBe(200);
    expect([result.replayed.status, result.replayed.body.error]).toEqual([400, 'invalid_grant']);
    // The reuse revoked the grant: the token the first use issued is dead on both workers.
    const next = String(result.used.body.refresh_token);
    const fresh = await cluster.send('/token', form({ grant_type: 'refresh_token', refresh_token: next }, auth));
    expect([fresh.status, fresh.body.error]).toEqual([400, 'invalid_grant']);
    const events = await db.query<{ kind: string }>(`SELECT kind FROM events WHERE account_id = $1 AND kind = 'token.reused'`, [
      owner.accountId,
    ]);
    expect(events.rows.length).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it('20 concurrent calls over both workers with an expired upstream token refresh it exactly once', async () => {
    const owner = await Owner.signUp({ url: cluster.url } as TestServer);
    await connectFromConsole(owner, new Seen());
    const agent = await owner.agentToken([SCOPE]);
    const call = () => cluster.send(`/api/upstream/${PROVIDER}/v1/items`, { headers: { authorization: `Bearer ${agent}` } });
    expect((await call()).status).toBe(200);
    await db.query(`UPDATE connections SET expires_at = now() - interval '1 minute' WHERE account_id = $1 AND provider = $2`, [
      owner.accountId,
      PROVIDER,
    ]);
    const before = fake.refreshCount;
    const results = await Promise.all(Array.from({ length: 20 }, call));
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(new Set(results.map((r) => r.worker))).toEqual(new Set([1, 2]));
    expect(fake.refreshCount - before).toBe(1);
    // Every call went upstream with the one new access token.
    expect(new Set(fake.requests.slice(-20).map((r) => r.authorization)).size).toBe(1);
  }, 60_000);

  it('a console session signed in through one worker is valid on the other', async () => {
    const owner = await Owner.signUp({ url: cluster.url } as TestServer);
    const answers = [];
    for (let i = 0; i < 2; i++) {
      const res = await owner.browser.request('/console/api/session', { dispatcher: noKeepAlive } as RequestInit);
      answers.push({
        status: res.status,
        account: ((await res.json()) as { account_id?: string }).account_id,
        worker: await cluster.answeredBy(res),
      });
    }
    expect(answers.map((a) => [a.status, a.account])).toEqual([
      [200, owner.accountId],
      [200, owner.accountId],
    ]);
    expect(new Set(answers.map((a) => a.worker))).toEqual(new Set([1, 2]));
  }, 60_000);

  it('wrong user codes are counted across workers: the eleventh guess is refused wherever it lands', async () => {
    const guesser = new TestBrowser(cluster.url);
    const via = { dispatcher: noKeepAlive } as RequestInit;
    const guess = async (userCode: string) => {
      const page = await guesser.request('/device', via);
      expect(page.status).toBe(200);
      const { xsrf } = hiddenFields(await page.text());
      const res = await guesser.postForm('/device', { xsrf: xsrf!, user_code: userCode }, via);
      return { status: res.status, text: await res.text(), worker: await cluster.answeredBy(res) };
    };
    const answers = [];
    for (let i = 0; i < 11; i++) {
      // Each guess is two requests: one more every other time, so the guesses themselves go to each worker in turn.
      if (i % 2) await guesser.request('/healthz', via);
      answers.push(await guess(`BBBB-BB${'BCDFGHJKLMN'[i]}B`));
    }
    expect(answers.slice(0, 10).every((a) => a.status === 200 && a.text.includes('That code is not right.'))).toBe(true);
    expect(new Set(answers.slice(0, 10).map((a) => a.worker))).toEqual(new Set([1, 2]));
    expect(answers[10]!.status).toBe(429);
  }, 60_000);
});
