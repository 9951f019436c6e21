import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createPostgresDatabase } from '../../src/db/postgres.js';
import type { Database } from '../../src/db/database.js';
import { ClientStore } from '../../src/clients/store.js';
import { LoadBalancer, ServerProcess } from '../helpers/replicas.js';
import { createTestSchema, serviceUrl } from '../helpers/services.js';
import { basic } from '../helpers/token-flow.js';
import { DpopKey } from '../helpers/dpop.js';

const databaseUrl = serviceUrl('TEST_DATABASE_URL');
const redisUrl = serviceUrl('TEST_REDIS_URL');

/**
 * A DPoP proof is good once across every replica (RFC 9449 §11.1, threat model J5): two oauth3 processes on one
 * Postgres (and Redis, where the replay cache then lives) behind a load balancer; a proof accepted by one is refused
 * by the other.
 */
const storages = [...(databaseUrl ? ['Postgres'] : []), ...(databaseUrl && redisUrl ? ['Postgres and Redis'] : [])];

(storages.length ? describe.each(storages) : describe.skip.each(['Postgres']))('DPoP proofs across two replicas on %s', (storage) => {
  const replicas: ServerProcess[] = [];
  let lb: LoadBalancer;
  let schema: Awaited<ReturnType<typeof createTestSchema>>;
  let db: Database;
  let dataDir: string;
  let key: DpopKey;
  let token: string;

  /** GET /api/me through the load balancer to one replica: the route needs an owner, so 403 means the proof passed. */
  async function me(replica: number, proof: string): Promise<{ status: number; error?: string }> {
    lb.target = replica;
    const res = await fetch(`${lb.url}/api/me`, { headers: { authorization: `DPoP ${token}`, dpop: proof } });
    return { status: res.status, error: ((await res.json()) as { error?: string }).error };
  }

  beforeAll(async () => {
    schema = await createTestSchema(databaseUrl!);
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-dpop-replicas-'));
    lb = await new LoadBalancer(() => replicas.map((r) => r.port)).start();
    const env = {
      NODE_ENV: 'test',
      ISSUER: lb.url,
      DATA_DIR: dataDir,
      DATABASE_URL: schema.url,
      MASTER_KEY: randomBytes(32).toString('base64url'),
      LOG_LEVEL: 'warn',
      ...(storage === 'Postgres and Redis' ? { REDIS_URL: redisUrl! } : {}),
    };
    replicas.push(await new ServerProcess(env).start());
    replicas.push(await new ServerProcess(env).start());
    db = createPostgresDatabase({ url: schema.url, poolSize: 2, timeoutMs: 5000 });
    const { client, clientSecret } = await new ClientStore(db).add({ name: 'DPoP machine', grantTypes: ['client_credentials'] });

    key = await DpopKey.generate();
    lb.target = 0;
    const res = await fetch(`${lb.url}/token`, {
      method: 'POST',
      headers: {
        authorization: basic(client.clientId, clientSecret!),
        'content-type': 'application/x-www-form-urlencoded',
        dpop: await key.proof('POST', `${lb.url}/token`),
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'tweet.read' }),
    });
    const body = (await res.json()) as { access_token: string; token_type: string };
    expect(body.token_type).toBe('DPoP');
    token = body.access_token;
  }, 120_000);
  afterAll(async () => {
    const codes = await Promise.all(replicas.map((r) => r.stop()));
    replicas.length = 0;
    expect(codes).toEqual([0, 0]);
    await lb?.stop();
    await db?.close();
    await schema?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('refuses on one replica a proof the other accepted, and accepts a fresh one there', async () => {
    const proof = await key.proof('GET', `${lb.url}/api/me`, token);
    expect(await me(0, proof)).toEqual({ status: 403, error: 'owner_required' });
    expect(await me(1, proof)).toEqual({ status: 401, error: 'invalid_dpop_proof' });
    expect(await me(0, proof)).toEqual({ status: 401, error: 'invalid_dpop_proof' });
    expect(await me(1, await key.proof('GET', `${lb.url}/api/me`, token))).toEqual({ status: 403, error: 'owner_required' });
  });

  it('lets exactly one of two replicas accept a proof sent to both at once', async () => {
    const proof = await key.proof('GET', `${lb.url}/api/me`, token);
    const results = await Promise.all(
      [0, 1, 0, 1].map(async (replica) => {
        const res = await fetch(`http://127.0.0.1:${replicas[replica]!.port}/api/me`, {
          headers: { authorization: `DPoP ${token}`, dpop: proof },
        });
        return res.status;
      }),
    );
    expect(results.filter((status) => status === 403)).toHaveLength(1);
    expect(results.filter((status) => status === 401)).toHaveLength(3);
  });
});
