import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { removeStorage, restartTestServer, startTestServer, storageOf, type KeptStorage, type TestServer } from '../helpers/server.js';
import { backends, serviceUrl } from '../helpers/services.js';
import { callApi } from '../helpers/owner.js';
import { echoPlugin, startEchoUpstream } from '../resource/echo-plugin.js';
import { COOKIE_KEY, RecordingBrowser, dumpStorage, foundIn, postForm, runFlows, signedCookie, type Issued } from '../helpers/at-rest.js';
import { digestOf } from '../../src/db/at-rest-keys.js';

/** Every model the adapters digest (adapters/at-rest.ts), each of which an earlier version stored under its value. */
const DIGESTED = [
  'AccessToken',
  'ClientCredentials',
  'RefreshToken',
  'AuthorizationCode',
  'DeviceCode',
  'Session',
  'Interaction',
  'PushedAuthorizationRequest',
  'RegistrationAccessToken',
  'InitialAccessToken',
];

interface StoredRow {
  model: string;
  id: string;
  payload: Record<string, unknown>;
}

/** The value each stored key (model, digest) stands for, among the values the flows gave out. */
function valuesByKey(received: Set<string>): Map<string, string> {
  const byKey = new Map<string, string>();
  for (const model of DIGESTED) for (const value of received) byKey.set(`${model}:${digestOf(model, value)}`, value);
  return byKey;
}

/** A payload as the version before digests at rest stored it: `jti` is the value, the interaction's URL names it. */
function formerPayload(model: string, value: string, payload: Record<string, unknown>): Record<string, unknown> {
  const former: Record<string, unknown> = { ...payload, jti: value };
  if (model === 'Interaction' && typeof former.returnTo === 'string') former.returnTo = former.returnTo.replace('{uid}', value);
  return former;
}

/**
 * Puts the server's storage back in the form the version before migration 009 wrote: every entry keyed by its value
 * with `jti` in its payload, user codes and session ids in the clear, and migration 009 not yet applied.
 */
async function toFormerVersion(server: TestServer, issued: Issued): Promise<void> {
  const byKey = valuesByKey(issued.received);
  const pendingDevice = digestOf('DeviceCode', issued.pending.deviceCode);
  const pendingUserCode = issued.pending.userCode.replace('-', '');
  const { rows } = await server.db.query<StoredRow>(`SELECT model, id, payload FROM oidc_models WHERE model <> 'Grant'`);
  for (const row of rows) {
    const value = byKey.get(`${row.model}:${row.id}`);
    if (!value) continue;
    const payload = formerPayload(row.model, value, row.payload);
    const userCode = row.id === pendingDevice ? pendingUserCode : null;
    if (row.model === 'DeviceCode') payload.userCode = userCode ?? undefined;
    await server.db.query('UPDATE oidc_models SET id = $3, payload = $4, user_code = $5 WHERE model = $1 AND id = $2', [
      row.model,
      row.id,
      value,
      payload,
      userCode,
    ]);
  }
  await server.db.query('UPDATE browser_sessions SET session_id = $1 WHERE session_id = $2', [
    issued.sessionCookie,
    digestOf('Session', issued.sessionCookie),
  ]);
  await server.db.query('DROP INDEX oidc_models_undigested');
  await server.db.query('DROP FUNCTION oauth3_digest(text, text)');
  await server.db.query('DELETE FROM schema_migrations WHERE version = 9');
  if (server.config.REDIS_URL) await redisToFormerVersion(byKey, pendingDevice, pendingUserCode);
}

/** The same for the short-lived models in Redis: each entry renamed to its value, its index keys naming the value. */
async function redisToFormerVersion(byKey: Map<string, string>, pendingDevice: string, pendingUserCode: string): Promise<void> {
  const redis = new Redis(serviceUrl('TEST_REDIS_URL')!);
  try {
    for (const [modelKey, value] of byKey) {
      const [model, key] = modelKey.split(':') as [string, string];
      const entry = `oauth3:${model}:${key}`;
      const { payload, consumed } = await redis.hgetall(entry);
      if (!payload) continue;
      const ttl = await redis.ttl(entry);
      const former = formerPayload(model, value, JSON.parse(payload) as Record<string, unknown>);
      if (model === 'DeviceCode') former.userCode = key === pendingDevice ? pendingUserCode : undefined;
      const multi = redis
        .multi()
        .del(entry)
        .hset(`oauth3:${model}:${value}`, { payload: JSON.stringify(former), ...(consumed ? { consumed } : {}) });
      if (ttl > 0) multi.expire(`oauth3:${model}:${value}`, ttl);
      if (typeof former.uid === 'string') multi.set(`oauth3:${model}:by-uid:${former.uid}`, value, 'EX', Math.max(ttl, 1));
      if (typeof former.grantId === 'string')
        multi.srem(`oauth3:${model}:by-grant:${former.grantId}`, key).sadd(`oauth3:${model}:by-grant:${former.grantId}`, value);
      if (typeof former.userCode === 'string') multi.set(`oauth3:${model}:by-user-code:${former.userCode}`, value, 'EX', Math.max(ttl, 1));
      await multi.exec();
    }
  } finally {
    await redis.quit();
  }
}

/** The Redis entries keyed by one of these values, with the seconds each has left. */
async function formerRedisEntries(values: Iterable<string>): Promise<{ key: string; ttl: number }[]> {
  const redis = new Redis(serviceUrl('TEST_REDIS_URL')!);
  try {
    const keys = [...values].flatMap((value) => DIGESTED.map((model) => `oauth3:${model}:${value}`));
    const exists = await Promise.all(keys.map(async (key) => ((await redis.exists(key)) ? { key, ttl: await redis.ttl(key) } : undefined)));
    return exists.filter((entry): entry is { key: string; ttl: number } => entry !== undefined);
  } finally {
    await redis.quit();
  }
}

/**
 * docs/threat-model.md J2 on upgrade: storage written by the version before digests at rest is brought to digests by
 * migration 009 exactly as the README says (Deployment, "Upgrading to digests at rest"). Tokens keep working and no
 * longer appear in the clear; sessions stored in the database stay signed in, those in Redis sign in again; sign-ins
 * and device approvals in progress start again.
 */
describe.each(backends())('an upgrade to digests at rest on %s storage', (backend) => {
  let before: TestServer;
  let server: TestServer;
  let upstream: Awaited<ReturnType<typeof startEchoUpstream>>;
  let storage: KeptStorage;
  let issued: Issued;
  let formerDump: string[];
  const redis = backend === 'postgres+redis';

  beforeAll(async () => {
    upstream = await startEchoUpstream();
    const plugins = [echoPlugin(() => upstream.url)];
    before = await startTestServer({ backend, keepStorage: true, env: { COOKIE_KEYS: COOKIE_KEY }, plugins });
    storage = storageOf(before);
    issued = await runFlows(before, new RecordingBrowser(before.url));
    for (let i = 0; i < 60 && !(await before.db.query('SELECT 1 FROM browser_sessions')).rows.length; i++)
      await new Promise((r) => setTimeout(r, 50));
    await toFormerVersion(before, issued);
    formerDump = await dumpStorage(before);
    await before.stop();
    server = await restartTestServer(before, { backend, env: { COOKIE_KEYS: COOKIE_KEY }, plugins });
  });
  afterAll(async () => {
    await server?.stop();
    await upstream?.close();
    await removeStorage(storage);
  });

  it('started from storage in the former form: tokens, session ids and codes in the clear', () => {
    for (const value of [
      issued.accessToken,
      issued.refreshToken,
      issued.serviceToken,
      issued.agentToken,
      issued.registrationAccessToken,
      issued.initialAccessToken,
      issued.sessionCookie,
    ]) {
      expect({ value, stored: formerDump.some((text) => text.includes(value)) }).toEqual({ value, stored: true });
    }
  });

  it('J2 leaves none of those values in the database after migration 009', async () => {
    const { rows } = await server.db.query<{ version: number }>('SELECT version FROM schema_migrations WHERE version = 9');
    expect(rows).toHaveLength(1);
    const tables = (await dumpStorage(server)).filter((text) => !text.startsWith('oauth3:'));
    expect(foundIn(tables, issued.received)).toEqual([]);
  });

  it('H6 keeps every token working: access, agent, device and client-credentials tokens, refresh, registration tokens', async () => {
    for (const token of [issued.accessToken, issued.agentToken, issued.deviceAccessToken])
      expect((await callApi(server, '/echo/items/1', token)).status).toBe(200);
    expect((await postForm(server, '/token/introspection', { token: issued.serviceToken }, issued.service)).body.active).toBe(true);
    const refreshed = await postForm(server, '/token', { grant_type: 'refresh_token', refresh_token: issued.refreshToken }, issued.app);
    expect(refreshed.status).toBe(200);
    expect((await callApi(server, '/echo/items/2', String(refreshed.body.access_token))).status).toBe(200);
    const read = await fetch(issued.registrationClientUri, { headers: { authorization: `Bearer ${issued.registrationAccessToken}` } });
    expect(read.status).toBe(200);
    const register = await fetch(`${server.url}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${issued.initialAccessToken}` },
      body: JSON.stringify({ client_name: 'After the upgrade', redirect_uris: ['https://app.example.com/callback'] }),
    });
    expect(register.status).toBe(201);
  });

  it(
    redis
      ? 'signs the owner out once: sessions in Redis are not converted'
      : 'keeps the owner signed in: sessions in the database are digested in place',
    async () => {
      const res = await fetch(`${server.url}/console`, {
        headers: { cookie: signedCookie('_session', issued.sessionCookie) },
        redirect: 'manual',
      });
      expect(res.status).toBe(redis ? 302 : 200);
      const { rows } = await server.db.query<{ session_id: string }>('SELECT session_id FROM browser_sessions');
      // The console lists the browser while its session lives, under the session's digest.
      expect(rows.map((r) => r.session_id)).toEqual(redis ? [] : [digestOf('Session', issued.sessionCookie)]);
    },
  );

  it('drops device approvals and sign-ins in progress: the device starts again', async () => {
    const poll = await postForm(
      server,
      '/token',
      { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: issued.pending.deviceCode },
      issued.cli,
    );
    expect(poll.body.error).toBe('invalid_grant');
    const { rows } = await server.db.query(`SELECT 1 FROM oidc_models WHERE model IN ('Interaction', 'DeviceCode')`);
    expect(rows).toEqual([]);
  });

  if (redis)
    it('leaves the Redis entries of the former version to expire', async () => {
      const former = await formerRedisEntries(issued.received);
      expect(former.length).toBeGreaterThan(0);
      for (const { key, ttl } of former) expect({ key, expires: ttl > 0 }).toEqual({ key, expires: true });
    });
});
