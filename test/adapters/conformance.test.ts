import { randomBytes } from 'node:crypto';
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { Redis } from 'ioredis';
import { errors, type Adapter } from 'oidc-provider';
import type { Database } from '../../src/db/database.js';
import { createPgliteDatabase } from '../../src/db/pglite.js';
import { createPostgresDatabase } from '../../src/db/postgres.js';
import { migrate } from '../../src/db/migrate.js';
import { createAdapterClass } from '../../adapters/index.js';
import { PostgresAdapter, digestEarlierRows } from '../../adapters/postgres.js';
import { deleteExpired } from '../../adapters/index.js';
import { ClientAdapter } from '../../adapters/client.js';
import { RedisAdapter } from '../../adapters/redis.js';
import { countRedisCommands } from '../../src/server.js';
import { hashSecret, newClientSecret } from '../../src/clients/secrets.js';
import { UserCodes } from '../../adapters/at-rest.js';
import { digestOf } from '../../src/db/at-rest-keys.js';
import { AccountStore } from '../../src/accounts/accounts.js';
import requestContext from 'oidc-provider/lib/helpers/als.js';
import { atRestCases, type AtRestBackend } from './at-rest-cases.js';
import { holdWrites, settleHeldWrites } from '../../src/db/held-writes.js';

/**
 * One adapter conformance suite, run against every storage backend (docs/architecture.md#storage). Each
 * backend then adds only the cases that concern it alone.
 */

interface Backend extends AtRestBackend {
  /** The adapter oidc-provider would be given for this model. */
  adapter(model: string): Adapter;
  /** Counts the round trips to the storage from now on: SQL statements, or Redis commands. */
  roundTrips(): () => number;
  close(): Promise<void>;
}

/** The user-code key a server derives from its master key (adapters/at-rest.ts UserCodes). */
const userCodes = new UserCodes([randomBytes(32)]);

type Setup<B extends Backend> = () => Promise<B>;

const newId = () => randomBytes(12).toString('base64url');

/** Runs `work` as oidc-provider runs a request's code: with that request's context as `Provider.ctx`. */
const inRequest = <T>(request: object, work: () => Promise<T>): Promise<T> => requestContext.run(request, work);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The same database as another process of the server (a worker, a replica) reaches it: its adapters batch their
 * statements among themselves (adapters/model-rows.ts keeps one batching per Database), never with this one's.
 */
const anotherProcess = (db: Database): Database => Object.create(db) as Database;

/**
 * The URL of a service a backend needs. Unset, that backend is skipped on a laptop; in CI a missing service must fail
 * the run, not quietly shrink it.
 */
function serviceUrl(name: 'TEST_DATABASE_URL' | 'TEST_REDIS_URL'): string | undefined {
  const url = process.env[name];
  if (!url && process.env.CI) throw new Error(`${name} is not set: in CI the adapter suite must run on every backend`);
  return url;
}

function describeAdapterConformance<B extends Backend>(
  name: string,
  setup: Setup<B> | undefined,
  backendCases?: (backend: () => B) => void,
): void {
  (setup ? describe : describe.skip)(name, () => {
    let current: B | undefined;
    const backend = (): B => {
      if (!current) throw new Error(`the ${name} backend is not set up`);
      return current;
    };
    const adapter = (model: string) => backend().adapter(model);

    beforeAll(async () => {
      current = await setup?.();
    });
    afterAll(async () => {
      await current?.close();
    });

    it('finds a payload it stored', async () => {
      const codes = adapter('AuthorizationCode');
      const id = newId();
      const payload = { kind: 'AuthorizationCode', jti: id, grantId: newId(), scope: 'openid' };
      await codes.upsert(id, payload, 60);
      expect(await codes.find(id)).toEqual(payload);
    });

    it('replaces the payload on a second upsert of the same id', async () => {
      const tokens = adapter('AccessToken');
      const id = newId();
      await tokens.upsert(id, { jti: id, scope: 'read' }, 60);
      await tokens.upsert(id, { jti: id, scope: 'write' }, 60);
      expect(await tokens.find(id)).toEqual({ jti: id, scope: 'write' });
    });

    it('finds nothing for an unknown id', async () => {
      expect(await adapter('AccessToken').find(newId())).toBeUndefined();
      expect(await adapter('Session').findByUid(newId())).toBeUndefined();
      expect(await adapter('DeviceCode').findByUserCode(newId())).toBeUndefined();
    });

    it('finds nothing once an entry has expired', async () => {
      const sessions = adapter('Session');
      const devices = adapter('DeviceCode');
      const [sessionId, uid, deviceId, userCode] = [newId(), newId(), newId(), newId()];
      await sessions.upsert(sessionId, { jti: sessionId, uid }, 1);
      await devices.upsert(deviceId, { jti: deviceId, userCode }, 1);
      await sleep(1200);
      expect(await sessions.find(sessionId)).toBeUndefined();
      expect(await sessions.findByUid(uid)).toBeUndefined();
      expect(await devices.findByUserCode(userCode)).toBeUndefined();
    });

    it('finds concurrent sessions by uid in one round trip, each caller with a payload of its own', async () => {
      const sessions = adapter('Session');
      const [a, b, uidA, uidB] = [newId(), newId(), newId(), newId()];
      await sessions.upsert(a, { jti: a, uid: uidA, accountId: 'ada' }, 60);
      await sessions.upsert(b, { jti: b, uid: uidB, accountId: 'bob' }, 60);
      await sessions.consume(b);
      const sent = backend().roundTrips();
      const found = await Promise.all([uidA, 'unknown', uidB, uidA, 'with\0nul'].map((uid) => sessions.findByUid(uid)));
      expect(sent()).toBe(1);
      expect(found.map((session) => session?.accountId)).toEqual(['ada', undefined, 'bob', 'ada', undefined]);
      expect(found[2]).toMatchObject({ consumed: expect.any(Number) });
      // oidc-provider changes what it is given: one caller's change is not another's.
      (found[0] as { accountId: string }).accountId = 'changed';
      expect(found[3]).toMatchObject({ accountId: 'ada' });
      // Each is found again by the handle it came with; a destroyed session is no longer found by its uid.
      expect(await sessions.find(found[2]!.jti as string)).toMatchObject({ uid: uidB });
      await sessions.destroy(found[0]!.jti as string);
      expect(await Promise.all([sessions.findByUid(uidA), sessions.findByUid(uidB)])).toEqual([
        undefined,
        expect.objectContaining({ uid: uidB }),
      ]);
    });

    it('finds a session by its uid and a device code by its user code, with a jti that finds, saves and destroys it again', async () => {
      const [sessionId, uid, deviceId, userCode] = [newId(), newId(), newId(), newId()];
      const sessions = adapter('Session');
      const devices = adapter('DeviceCode');
      await sessions.upsert(sessionId, { jti: sessionId, uid, accountId: 'alice' }, 60);
      await devices.upsert(deviceId, { jti: deviceId, userCode, clientId: 'app' }, 60);

      // The caller never presented the session's id or the device code, so `jti` is a stand-in, never the value.
      const session = await sessions.findByUid(uid);
      expect(session).toEqual({ jti: expect.any(String), uid, accountId: 'alice' });
      expect(session!.jti).not.toBe(sessionId);
      const device = await devices.findByUserCode(userCode);
      expect(device).toEqual({ jti: expect.any(String), userCode, clientId: 'app' });
      expect(device!.jti).not.toBe(deviceId);

      // oidc-provider saves what it found under that jti (a device approved on the verification page)...
      await devices.upsert(device!.jti!, { ...device!, accountId: 'alice' }, 60);
      expect(await devices.find(deviceId)).toEqual({ jti: deviceId, userCode: expect.any(String), clientId: 'app', accountId: 'alice' });
      expect(await devices.findByUserCode(userCode)).toMatchObject({ userCode, accountId: 'alice' });
      // ... and destroys it (the console ends a browser session found by its uid).
      await sessions.destroy(session!.jti!);
      expect(await sessions.find(sessionId)).toBeUndefined();
      expect(await sessions.findByUid(uid)).toBeUndefined();
    });

    it('keeps a uid pointing at the newer session when the older one is destroyed', async () => {
      const sessions = adapter('Session');
      const [older, newer, uid] = [newId(), newId(), newId()];
      await sessions.upsert(older, { jti: older, uid }, 60);
      await sessions.upsert(newer, { jti: newer, uid }, 60);
      await sessions.destroy(older);
      const found = await sessions.findByUid(uid);
      expect(found).toEqual({ jti: expect.any(String), uid });
      await sessions.destroy(found!.jti!);
      expect(await sessions.find(newer)).toBeUndefined();
    });

    it('marks a consumed entry with the time it was consumed', async () => {
      const codes = adapter('AuthorizationCode');
      const id = newId();
      await codes.upsert(id, { jti: id, grantId: newId() }, 60);
      const before = Math.floor(Date.now() / 1000);
      await codes.consume(id);
      const found = await codes.find(id);
      expect(found).toMatchObject({ jti: id });
      expect(found?.consumed).toBeGreaterThanOrEqual(before - 1);
      expect(found?.consumed).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 1);
    });

    it('rejects a second redemption of the same code as invalid_grant', async () => {
      const codes = adapter('AuthorizationCode');
      const id = newId();
      await codes.upsert(id, { jti: id, grantId: newId() }, 60);
      await codes.consume(id);
      await expect(codes.consume(id)).rejects.toBeInstanceOf(errors.InvalidGrant);
    });

    it('lets exactly one of 20 parallel redemptions of one code succeed', async () => {
      const codes = adapter('AuthorizationCode');
      const id = newId();
      await codes.upsert(id, { jti: id, grantId: newId() }, 60);
      const results = await Promise.allSettled(Array.from({ length: 20 }, () => codes.consume(id)));
      const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(rejected).toHaveLength(19);
      for (const { reason } of rejected) expect(reason).toBeInstanceOf(errors.InvalidGrant);
    });

    it('refuses to consume an unknown code', async () => {
      await expect(adapter('AuthorizationCode').consume(newId())).rejects.toBeInstanceOf(errors.InvalidGrant);
    });

    it('finds nothing once an entry is destroyed, by id, uid or user code', async () => {
      const [sessionId, uid, deviceId, userCode] = [newId(), newId(), newId(), newId()];
      await adapter('Session').upsert(sessionId, { jti: sessionId, uid }, 60);
      await adapter('DeviceCode').upsert(deviceId, { jti: deviceId, userCode, grantId: newId() }, 60);
      await adapter('Session').destroy(sessionId);
      await adapter('DeviceCode').destroy(deviceId);
      expect(await adapter('Session').find(sessionId)).toBeUndefined();
      expect(await adapter('Session').findByUid(uid)).toBeUndefined();
      expect(await adapter('DeviceCode').find(deviceId)).toBeUndefined();
      expect(await adapter('DeviceCode').findByUserCode(userCode)).toBeUndefined();
    });

    it('revokes every entry of a grant and no entry of another grant', async () => {
      const codes = adapter('AuthorizationCode');
      const [revoked, kept] = [newId(), newId()];
      const [first, second, other] = [newId(), newId(), newId()];
      await codes.upsert(first, { jti: first, grantId: revoked }, 60);
      await codes.upsert(second, { jti: second, grantId: revoked }, 600);
      await codes.upsert(other, { jti: other, grantId: kept }, 60);
      await codes.revokeByGrantId(revoked);
      expect(await codes.find(first)).toBeUndefined();
      expect(await codes.find(second)).toBeUndefined();
      expect(await codes.find(other)).toEqual({ jti: other, grantId: kept });
    });

    it('revokes a grant only within the model asked', async () => {
      const grantId = newId();
      const [code, device] = [newId(), newId()];
      await adapter('AuthorizationCode').upsert(code, { jti: code, grantId }, 60);
      await adapter('DeviceCode').upsert(device, { jti: device, grantId }, 60);
      await adapter('AuthorizationCode').revokeByGrantId(grantId);
      expect(await adapter('AuthorizationCode').find(code)).toBeUndefined();
      expect(await adapter('DeviceCode').find(device)).toEqual({ jti: device, grantId });
    });

    atRestCases(backend);

    backendCases?.(backend);
  });
}

// --- Postgres-backed storage (PGlite and Postgres): the same SQL, plus the clients table and the expiry sweep.

interface SqlBackend extends Backend {
  db: Database;
}

function sqlBackend(db: Database, cleanup: () => Promise<void> = async () => {}): SqlBackend {
  return {
    db,
    adapter: (model) => new PostgresAdapter(model, db, userCodes),
    roundTrips() {
      const from = db.statementsSent();
      return () => db.statementsSent() - from;
    },
    async dump() {
      const { rows } = await db.query<{ row: string }>("SELECT row_to_json(m)::text AS row FROM oidc_models m WHERE model <> 'Filler'");
      return rows.map((r) => ({ text: r.row, key: (JSON.parse(r.row) as { id: string }).id }));
    },
    async close() {
      await db.close();
      await cleanup();
    },
  };
}

function sqlCases(backend: () => SqlBackend): void {
  it('deleteExpired removes expired rows and keeps live ones', async () => {
    const { db } = backend();
    const tokens = new PostgresAdapter('AccessToken', db);
    const [expired, live] = [newId(), newId()];
    await tokens.upsert(expired, { jti: expired }, 1);
    await tokens.upsert(live, { jti: live }, 60);
    await sleep(1200);
    expect(await deleteExpired(db)).toBeGreaterThanOrEqual(1);
    const { rows } = await db.query<{ id: string }>('SELECT id FROM oidc_models WHERE id = ANY($1)', [
      [expired, live].map((id) => digestOf('AccessToken', id)),
    ]);
    expect(rows.map((row) => row.id)).toEqual([digestOf('AccessToken', live)]);
  });

  it('finds a client with its stored secret digest as client_secret', async () => {
    const { db } = backend();
    const clientId = newId();
    const digest = hashSecret(newClientSecret());
    const metadata = { client_name: 'Agent', redirect_uris: ['https://agent.example/cb'], grant_types: ['authorization_code'] };
    await db.query('INSERT INTO clients (client_id, metadata) VALUES ($1, $2)', [clientId, metadata]);
    await db.query('INSERT INTO client_secrets (id, client_id, secret_hash) VALUES ($1, $2, $3)', [newId(), clientId, digest]);
    expect(await new ClientAdapter(db).find(clientId)).toEqual({
      ...metadata,
      client_id: clientId,
      client_secret: digest,
    });
  });

  it('answers concurrent finds in one batch, each with a payload of its own', async () => {
    const { db } = backend();
    const tokens = new PostgresAdapter('AccessToken', db);
    const [a, b, unknown] = [newId(), newId(), newId()];
    await tokens.upsert(a, { jti: a, scope: 'x' }, 60);
    await tokens.upsert(b, { jti: b, scope: 'y' }, 60);
    const found = await Promise.all([tokens.find(a), tokens.find(unknown), tokens.find(a), tokens.find(b)]);
    expect(found.map((p) => p?.jti)).toEqual([a, undefined, a, b]);
    // oidc-provider changes what it is given: one caller's change is not another's.
    (found[0] as { scope: string }).scope = 'changed';
    expect(found[2]).toMatchObject({ scope: 'x' });
    await tokens.consume(b);
    expect(await tokens.find(b)).toMatchObject({ jti: b, consumed: expect.any(Number) });
  });

  it("finds and writes every model's entries of the same moment in one statement each, each model its own rows", async () => {
    const { db } = backend();
    const [access, service, refresh] = ['AccessToken', 'ClientCredentials', 'RefreshToken'].map((model) => new PostgresAdapter(model, db));
    const [value, other] = [newId(), newId()];
    let sent = db.statementsSent();
    // A refresh rotation's writes: a refresh token and an access token.
    await Promise.all([
      access!.upsert(value, { jti: value, kind: 'AccessToken' }, 60),
      refresh!.upsert(other, { jti: other, kind: 'RefreshToken' }, 60),
    ]);
    expect(db.statementsSent() - sent).toBe(1);
    sent = db.statementsSent();
    // An introspection's lookups: the value as each kind of token. An access token and a client-credentials token share
    // a digest, yet the value is only an access token.
    const found = await Promise.all([access!.find(value), service!.find(value), refresh!.find(value), refresh!.find(other)]);
    expect(db.statementsSent() - sent).toBe(1);
    expect(found.map((payload) => payload?.kind)).toEqual(['AccessToken', undefined, undefined, 'RefreshToken']);
  });

  it("reads a token's grant and owner in the token's own statement, for the request that found the token alone, once", async () => {
    const { db } = backend();
    const [refresh, access, grants] = ['RefreshToken', 'AccessToken', 'Grant'].map((model) => new PostgresAdapter(model, db));
    const accounts = new AccountStore(db);
    const [grantId, token, accessToken, accountId] = [newId(), newId(), newId(), newId()];
    await db.query('INSERT INTO accounts (id, display_name) VALUES ($1, $2)', [accountId, 'Ada']);
    const grant = { jti: grantId, kind: 'Grant', accountId, clientId: 'app' };
    await grants!.upsert(grantId, grant, 60);
    await refresh!.upsert(token, { jti: token, kind: 'RefreshToken', grantId, accountId }, 60);
    await access!.upsert(accessToken, { jti: accessToken, kind: 'AccessToken', grantId, accountId }, 60);
    const [request, other] = [{ name: 'a refresh' }, { name: 'another request' }];
    const statements = async <T>(find: () => Promise<T>): Promise<[T, number]> => {
      const before = db.statementsSent();
      const found = await find();
      return [found, db.statementsSent() - before];
    };

    // The request that found the token gets its grant and owner without a statement of their own, once each.
    expect(await inRequest(request, () => statements(() => refresh!.find(token)))).toEqual([expect.objectContaining({ grantId }), 1]);
    expect(await inRequest(other, () => statements(() => grants!.find(grantId)))).toEqual([grant, 1]);
    expect(await statements(() => grants!.find(grantId))).toEqual([grant, 1]);
    expect(await inRequest(other, () => statements(() => accounts.find(accountId, other)))).toEqual([
      expect.objectContaining({ displayName: 'Ada' }),
      1,
    ]);
    expect(await inRequest(request, () => statements(() => grants!.find(grantId)))).toEqual([grant, 0]);
    expect(await inRequest(request, () => statements(() => accounts.find(accountId, request)))).toEqual([
      { ...(await accounts.find(accountId)), displayName: 'Ada' },
      0,
    ]);
    expect(await inRequest(request, () => statements(() => grants!.find(grantId)))).toEqual([grant, 1]);
    expect(await inRequest(request, () => statements(() => accounts.find(accountId, request)))).toEqual([
      expect.objectContaining({ displayName: 'Ada' }),
      1,
    ]);
    // An access token brings its grant (introspection, userinfo), not its owner (introspection never reads it).
    await inRequest(request, () => access!.find(accessToken));
    expect((await inRequest(request, () => statements(() => grants!.find(grantId))))[1]).toBe(0);
    expect((await inRequest(request, () => statements(() => accounts.find(accountId, request))))[1]).toBe(1);

    // A grant the request itself writes is read again; a grant revoked and an owner disabled before a request began
    // are seen so by it.
    await inRequest(request, async () => {
      await refresh!.find(token);
      await grants!.upsert(grantId, { ...grant, openid: { scope: 'openid' } }, 60);
      expect(await grants!.find(grantId)).toMatchObject({ openid: { scope: 'openid' } });
    });
    await inRequest(request, () => refresh!.find(token));
    await grants!.destroy(grantId);
    await db.query('UPDATE accounts SET disabled_at = now() WHERE id = $1', [accountId]);
    const later = { name: 'a later request' };
    expect(
      await inRequest(later, async () => [await refresh!.find(token), await grants!.find(grantId), await accounts.find(accountId, later)]),
    ).toEqual([expect.objectContaining({ grantId }), undefined, expect.objectContaining({ disabledAt: expect.any(Date) })]);
    // Outside any request nothing is read ahead: the token and its grant are two statements.
    await grants!.upsert(grantId, grant, 60);
    expect((await statements(() => refresh!.find(token)))[1] + (await statements(() => grants!.find(grantId)))[1]).toBe(2);
  });

  it("reads the session a token ends with in the token's own statement, when sessions are stored there, once", async () => {
    const { db } = backend();
    const here = { sessionsHere: true };
    const [access, sessions] = ['AccessToken', 'Session'].map((model) => new PostgresAdapter(model, db, undefined, here));
    const elsewhere = new PostgresAdapter('AccessToken', db);
    const [sessionId, uid, bound, unbound, accountId] = [newId(), newId(), newId(), newId(), newId()];
    await sessions!.upsert(sessionId, { jti: sessionId, uid, accountId, kind: 'Session' }, 60);
    await access!.upsert(bound, { jti: bound, kind: 'AccessToken', accountId, sessionUid: uid, expiresWithSession: true }, 60);
    await access!.upsert(unbound, { jti: unbound, kind: 'AccessToken', accountId, sessionUid: uid }, 60);
    const statements = async <T>(find: () => Promise<T>): Promise<[T, number]> => {
      const before = db.statementsSent();
      const found = await find();
      return [found, db.statementsSent() - before];
    };
    /** The statements one request sends to find a token and then the session with that uid, and the session found. */
    const findBoth = (request: object, adapter = access!) =>
      inRequest(request, async () => {
        const [, sent] = await statements(() => adapter.find(bound));
        const [session, more] = await statements(() => sessions!.findByUid(uid));
        return { session, statements: sent + more };
      });

    const request = { name: 'an introspection' };
    expect(await findBoth(request)).toEqual({ session: expect.objectContaining({ accountId, uid }), statements: 1 });
    // Once: the same request's next find of it, and another request's, read the database.
    expect((await inRequest(request, () => statements(() => sessions!.findByUid(uid))))[1]).toBe(1);
    expect((await inRequest({}, () => statements(() => sessions!.findByUid(uid))))[1]).toBe(1);
    // What was read ahead is the session itself: its handle finds, saves and destroys it as a find by uid's would.
    const { session } = await findBoth({});
    expect(await sessions!.find(session!.jti as string)).toMatchObject({ uid, accountId });
    // A token that does not end with its session brings none; nor does one whose sessions live elsewhere (Redis).
    const unboundRequest = {};
    await inRequest(unboundRequest, () => access!.find(unbound));
    expect((await inRequest(unboundRequest, () => statements(() => sessions!.findByUid(uid))))[1]).toBe(1);
    expect(await findBoth({}, elsewhere)).toMatchObject({ statements: 2 });

    // A session the request itself writes or ends is read again; one ended or expired before a request began is seen so.
    await inRequest({}, async () => {
      await access!.find(bound);
      await sessions!.destroy(sessionId);
      expect(await sessions!.findByUid(uid)).toBeUndefined();
    });
    expect(await findBoth({})).toEqual({ session: undefined, statements: 2 });
    await sessions!.upsert(sessionId, { jti: sessionId, uid, accountId, kind: 'Session' }, 60);
    expect(await findBoth({})).toMatchObject({ session: expect.objectContaining({ uid }), statements: 1 });
    await db.query(`UPDATE oidc_models SET expires_at = now() - interval '1 second' WHERE model = 'Session' AND uid = $1`, [uid]);
    expect(await findBoth({})).toEqual({ session: undefined, statements: 2 });
  });

  it('consumes concurrent redemptions in one statement per process, each token exactly once, also when two processes race', async () => {
    const { db } = backend();
    const [one, other] = [new PostgresAdapter('RefreshToken', db), new PostgresAdapter('RefreshToken', anotherProcess(db))];
    const ids = Array.from({ length: 10 }, newId);
    await Promise.all(ids.map((id) => one.upsert(id, { jti: id, grantId: newId() }, 60)));
    const sent = db.statementsSent();
    // Every token presented four times at once: twice to each process.
    const attempts = ids.map((id) => Promise.allSettled([one.consume(id), one.consume(id), other.consume(id), other.consume(id)]));
    const outcomes = await Promise.all(attempts);
    expect(db.statementsSent() - sent).toBe(2);
    for (const results of outcomes) {
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(errors.InvalidGrant);
    }
    // Spent, whoever spent them: none is redeemed again.
    const again = await Promise.allSettled(ids.map((id) => other.consume(id)));
    expect(again.every((r) => r.status === 'rejected' && r.reason instanceof errors.InvalidGrant)).toBe(true);
    for (const id of ids) expect(await one.find(id)).toMatchObject({ jti: id, consumed: expect.any(Number) });
  });

  it('spends a token within its own page once inserts have filled that page (an update that writes no index entry)', async () => {
    const { db } = backend();
    const tokens = new PostgresAdapter('RefreshToken', db);
    // Forty tokens of a refresh token's size, written in one statement: they fill one page after another.
    const ids = Array.from({ length: 40 }, newId);
    const payload = (id: string) => ({
      jti: id,
      kind: 'RefreshToken',
      grantId: newId(),
      accountId: newId(),
      clientId: newId(),
      scope: 'openid offline_access tweet.read tweet.post users.read',
      sessionUid: newId(),
      claims: { id_token: { auth_time: null } },
      rotations: 3,
      iat: 1_765_000_000,
      exp: 1_766_000_000,
    });
    await Promise.all(ids.map((id) => tokens.upsert(id, payload(id), 600)));
    const blockOf = async (id: string) => {
      const { rows } = await db.query<{ block: string }>(
        "SELECT (ctid::text::point)[0]::text AS block FROM oidc_models WHERE model = 'RefreshToken' AND id = $1",
        [digestOf('RefreshToken', id)],
      );
      return rows[0]!.block;
    };
    // One token of each page the inserts filled (every page but the last token's, which may have room left by
    // nothing but its end): whether a consume stays in its page then depends on the room inserts leave, not on how
    // many consumes of one statement share a page.
    const blocks = await Promise.all(ids.map(blockOf));
    const filled = [...new Set(blocks)].filter((block) => block !== blocks.at(-1));
    expect(filled.length).toBeGreaterThanOrEqual(2);
    const spent = filled.map((block) => ids[blocks.indexOf(block)]!);
    await Promise.all(spent.map((id) => tokens.consume(id)));
    expect(await Promise.all(spent.map(blockOf))).toEqual(filled);
    for (const id of spent) expect(await tokens.find(id)).toMatchObject({ jti: id, consumed: expect.any(Number) });
  });

  it('spends a refresh token with the tokens its token request stores, in one statement: one winner per token, nothing of a loser or a failure', async () => {
    const { db } = backend();
    const [one, other] = [new PostgresAdapter('RefreshToken', db), new PostgresAdapter('RefreshToken', anotherProcess(db))];
    const access = new PostgresAdapter('AccessToken', db);
    const present = async (adapter: PostgresAdapter, id: string, payload: Record<string, unknown> = {}) => {
      const request = {};
      const [next, token] = [newId(), newId()];
      await inRequest(request, async () => {
        holdWrites(request);
        await adapter.consume(id);
        await adapter.upsert(next, { jti: next, grantId: 'g', ...payload }, 60);
        await access.upsert(token, { jti: token, grantId: 'g' }, 60);
      });
      return { next, token, settled: settleHeldWrites(request) };
    };
    const ids = Array.from({ length: 5 }, newId);
    await Promise.all(ids.map((id) => one.upsert(id, { jti: id, grantId: 'g' }, 60)));
    const sent = db.statementsSent();
    // Every token presented four times at once, twice to each of two processes: one statement each, racing.
    const attempts = await Promise.all(ids.flatMap((id) => [one, one, other, other].map((adapter) => present(adapter, id))));
    const outcomes = await Promise.allSettled(attempts.map(({ settled }) => settled));
    expect(db.statementsSent() - sent).toBe(2);
    for (const [i, id] of ids.entries()) {
      const mine = outcomes.slice(i * 4, i * 4 + 4);
      expect(mine.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of mine) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(errors.InvalidGrant);
      expect(await one.find(id)).toMatchObject({ consumed: expect.any(Number) });
    }
    // The winners' successor and access token are stored; a loser's are not.
    for (const [i, { next, token }] of attempts.entries()) {
      const won = outcomes[i]!.status === 'fulfilled';
      expect([(await one.find(next)) !== undefined, (await access.find(token)) !== undefined]).toEqual([won, won]);
    }
    // Spent: presented again, nothing is stored.
    const late = await present(other, ids[0]!);
    await expect(late.settled).rejects.toBeInstanceOf(errors.InvalidGrant);
    expect(await access.find(late.token)).toBeUndefined();

    // A request whose statement the database refuses (JSON with a NUL) spends nothing, and fails no neighbour.
    const [kept, fine] = [newId(), newId()];
    await Promise.all([kept, fine].map((id) => one.upsert(id, { jti: id, grantId: 'g' }, 60)));
    const [bad, good] = await Promise.all([present(one, kept, { note: 'a\u0000b' }), present(one, fine)]);
    const settled = await Promise.allSettled([bad.settled, good.settled]);
    expect(settled.map((r) => r.status)).toEqual(['rejected', 'fulfilled']);
    expect(await one.find(kept)).not.toHaveProperty('consumed');
    expect(await access.find(bad.token)).toBeUndefined();
    expect(await access.find(good.token)).toBeDefined();
    // A storage key with NUL is none stored: refused, and nothing stored with it.
    const nul = await present(one, `${newId()}\0`);
    await expect(nul.settled).rejects.toBeInstanceOf(errors.InvalidGrant);
    expect(await access.find(nul.token)).toBeUndefined();
  });

  it('refuses a redemption carrying a NUL character without failing the others in its batch', async () => {
    const { db } = backend();
    const codes = new PostgresAdapter('AuthorizationCode', db);
    const id = newId();
    await codes.upsert(id, { jti: id, grantId: newId() }, 60);
    const [bad, good] = await Promise.allSettled([codes.consume(`${newId()}\0`), codes.consume(id)]);
    expect(bad).toMatchObject({ status: 'rejected', reason: expect.any(errors.InvalidGrant) });
    expect(good.status).toBe('fulfilled');
  });

  it('digests in SQL exactly as the adapters do (migration 009 oauth3_digest)', async () => {
    const value = `${newId()}é✓`;
    const { rows } = await backend().db.query<{ d: string }>('SELECT oauth3_digest($1, $2) AS d', ['AccessToken', value]);
    expect(rows[0]!.d).toBe(digestOf('AccessToken', value));
  });

  it('brings rows an earlier version wrote in the old form to digests, and drops its interactions and device codes', async () => {
    const { db } = backend();
    const [token, service, interaction, device] = [newId(), newId(), newId(), newId()];
    const insert = (model: string, id: string, payload: object) =>
      db.query("INSERT INTO oidc_models (model, id, payload, expires_at) VALUES ($1, $2, $3, now() + interval '1 hour')", [
        model,
        id,
        payload,
      ]);
    await insert('RefreshToken', token, { jti: token, kind: 'RefreshToken', grantId: 'g1' });
    await insert('ClientCredentials', service, { jti: service, kind: 'ClientCredentials', clientId: 'svc' });
    await insert('Interaction', interaction, { jti: interaction, returnTo: `http://x/auth/${interaction}` });
    await insert('DeviceCode', device, { jti: device, userCode: 'BCDFGHJK' });
    await insert('Grant', 'g1', { jti: 'g1', kind: 'Grant', accountId: 'alice', clientId: 'app' });
    expect(await digestEarlierRows(db)).toBeGreaterThanOrEqual(4);

    expect(await new PostgresAdapter('RefreshToken', db).find(token)).toEqual({ jti: token, kind: 'RefreshToken', grantId: 'g1' });
    expect(await new PostgresAdapter('ClientCredentials', db).find(service)).toEqual({
      jti: service,
      kind: 'ClientCredentials',
      clientId: 'svc',
    });
    expect(await new PostgresAdapter('Grant', db).find('g1')).toEqual({ jti: 'g1', kind: 'Grant', accountId: 'alice', clientId: 'app' });
    const { rows } = await db.query<{ row: string }>("SELECT row_to_json(m)::text AS row FROM oidc_models m WHERE model <> 'Filler'");
    for (const value of [token, service, interaction, device]) expect(rows.filter((r) => r.row.includes(value))).toEqual([]);
  });

  it('finds no client for an unknown client_id', async () => {
    expect(await new ClientAdapter(backend().db).find(newId())).toBeUndefined();
  });
}

describeAdapterConformance(
  'PGlite',
  async () => {
    const db = await createPgliteDatabase(undefined);
    await migrate(db);
    return sqlBackend(db);
  },
  sqlCases,
);

const databaseUrl = serviceUrl('TEST_DATABASE_URL');

/** A schema of its own on the test database, so test files sharing the database never see each other's rows. */
async function postgresBackend(prepare: (db: Database) => Promise<void> = async () => {}): Promise<SqlBackend> {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const admin = createPostgresDatabase({ url: databaseUrl!, poolSize: 1, timeoutMs: 10_000 });
  await admin.exec(`CREATE SCHEMA ${schema}`);
  const url = new URL(databaseUrl!);
  url.searchParams.set('options', `-c search_path=${schema}`);
  const db = createPostgresDatabase({ url: url.toString(), poolSize: 5, timeoutMs: 10_000 });
  await migrate(db);
  await prepare(db);
  return sqlBackend(db, async () => {
    await admin.exec(`DROP SCHEMA ${schema} CASCADE`);
    await admin.close();
  });
}

describeAdapterConformance('Postgres', databaseUrl ? () => postgresBackend() : undefined, sqlCases);

// Past 1 MB, each connection keeps the plans of the finds and consumes by key (migrations/020_kept_token_plans.sql):
// the same cases with those plans. The rows that make the table large are of a model nothing here reads.
describeAdapterConformance(
  'Postgres, a table large enough that plans are kept',
  databaseUrl
    ? () =>
        postgresBackend(async (db) => {
          await db.exec(
            `INSERT INTO oidc_models (model, id, payload)
             SELECT 'Filler', 'filler-' || n, jsonb_build_object('text', repeat('x', 200)) FROM generate_series(1, 6000) AS n`,
          );
          const { rows } = await db.query<{ size: string }>("SELECT pg_relation_size('oidc_models') AS size");
          expect(Number(rows[0]!.size)).toBeGreaterThanOrEqual(1024 * 1024);
        })
    : undefined,
  sqlCases,
);

// --- Redis: the short-lived models, under a random key prefix removed afterwards (never FLUSHALL a shared server).

interface RedisBackend extends Backend {
  redis: Redis;
}

const redisUrl = serviceUrl('TEST_REDIS_URL');
describeAdapterConformance(
  'Redis',
  redisUrl
    ? async (): Promise<RedisBackend> => {
        const prefix = `test:${randomBytes(6).toString('hex')}:`;
        const redis = new Redis(redisUrl, { keyPrefix: prefix });
        return {
          redis,
          adapter: (model) => new RedisAdapter(model, redis, userCodes),
          roundTrips: () => countRedisCommands(redis),
          async dump() {
            // Every key under the prefix with everything it holds: hashes, sets and strings.
            const plain = new Redis(redisUrl);
            const entries: { text: string; key: string }[] = [];
            for await (const keys of plain.scanStream({ match: `${prefix}*`, count: 500 })) {
              for (const key of keys as string[]) {
                const type = await plain.type(key);
                const value =
                  type === 'hash'
                    ? JSON.stringify(await plain.hgetall(key))
                    : type === 'set'
                      ? JSON.stringify(await plain.smembers(key))
                      : String(await plain.get(key));
                entries.push({ text: `${key} ${value}`, key: key.slice(key.lastIndexOf(':') + 1) });
              }
            }
            await plain.quit();
            return entries;
          },
          async close() {
            // SCAN patterns and the keys it returns are not prefixed by ioredis, so clean up on a plain connection.
            const plain = new Redis(redisUrl);
            for await (const keys of plain.scanStream({ match: `${prefix}*`, count: 500 })) {
              if ((keys as string[]).length) await plain.del(...(keys as string[]));
            }
            await plain.quit();
            await redis.quit();
          },
        };
      }
    : undefined,
  (backend) => {
    it('keeps a grant index at least as long as its longest-lived entry', async () => {
      const { redis } = backend();
      const codes = new RedisAdapter('AuthorizationCode', redis);
      const grantId = newId();
      const [short, long, later] = [newId(), newId(), newId()];
      await codes.upsert(short, { jti: short, grantId }, 60);
      await codes.upsert(long, { jti: long, grantId }, 600); // lengthens the index
      await codes.upsert(later, { jti: later, grantId }, 60); // does not shorten it
      expect(await redis.ttl(`oauth3:AuthorizationCode:by-grant:${grantId}`)).toBeGreaterThan(590);
    });

    it('finds a session by its uid, or a device code by its user code, in one command each', async () => {
      const { redis } = backend();
      const sessions = new RedisAdapter('Session', redis);
      const devices = new RedisAdapter('DeviceCode', redis, userCodes);
      const [sessionId, uid, deviceId, userCode] = [newId(), newId(), newId(), newId()];
      await sessions.upsert(sessionId, { jti: sessionId, uid }, 60);
      await devices.upsert(deviceId, { jti: deviceId, userCode }, 60);
      await devices.consume(deviceId);
      const sent = countRedisCommands(redis);
      expect(await sessions.findByUid(uid)).toMatchObject({ uid });
      expect(await devices.findByUserCode(userCode)).toMatchObject({ userCode, consumed: expect.any(Number) });
      expect(await sessions.findByUid(newId())).toBeUndefined();
      expect(sent()).toBe(3);
    });

    it('routes short-lived models to Redis, clients to their own tables, and the others to Postgres', () => {
      // Constructing a PostgresAdapter does not touch the database; the client cache only subscribes.
      const db = { listen: () => async () => {} } as unknown as Database;
      const RoutedAdapter = createAdapterClass({ db, redis: backend().redis, userCodes });
      for (const model of ['Session', 'Interaction', 'AuthorizationCode', 'DeviceCode', 'PushedAuthorizationRequest']) {
        expect(new RoutedAdapter(model)).toBeInstanceOf(RedisAdapter);
      }
      for (const model of ['AccessToken', 'RefreshToken', 'Grant']) {
        expect(new RoutedAdapter(model)).toBeInstanceOf(PostgresAdapter);
      }
      expect(new RoutedAdapter('Client')).toBeInstanceOf(ClientAdapter);
      expect(new (createAdapterClass({ db, userCodes }))('Session')).toBeInstanceOf(PostgresAdapter);
    });
  },
);

describe("oidc-provider's batched writes", () => {
  /** A database that fails the first statement sending several rows with a deadlock, as Postgres would. */
  function deadlockOnce() {
    const sent: { model: string; id: string; payload: { n: number } }[][] = [];
    let failed = false;
    const db = {
      async query(_sql: string, params?: unknown[]) {
        const rows = JSON.parse(params![0] as string) as (typeof sent)[number];
        sent.push(rows);
        if (rows.length > 1 && !failed) {
          failed = true;
          throw Object.assign(new Error('deadlock detected'), { code: '40P01' });
        }
        return { rows: [], rowCount: rows.length };
      },
    } as unknown as Database;
    return { db, sent };
  }

  it('sends one batch in one order, the later of two writes of an entry, and writes it call by call after a deadlock', async () => {
    const { db, sent } = deadlockOnce();
    const [grants, tokens] = [new PostgresAdapter('Grant', db), new PostgresAdapter('AccessToken', db)];
    await Promise.all([
      tokens.upsert('b', { n: 1 }, 60),
      grants.upsert('z', { n: 2 }, 60),
      tokens.upsert('a', { n: 3 }, 60),
      grants.upsert('z', { n: 4 }, 60),
    ]);
    // Model, then storage key (the digest, for a token): two batches touching the same rows lock them in one order.
    const accessRows = [
      ['AccessToken', digestOf('AccessToken', 'b'), 1],
      ['AccessToken', digestOf('AccessToken', 'a'), 3],
    ].sort((x, y) => (String(x[1]) < String(y[1]) ? -1 : 1));
    expect(sent[0]!.map(({ model, id, payload }) => [model, id, payload.n])).toEqual([...accessRows, ['Grant', 'z', 4]]);
    // Then every call alone, each written.
    expect(sent.slice(1).map((rows) => rows.map((row) => row.payload.n))).toEqual([[1], [2], [3], [4]]);
  });
});
