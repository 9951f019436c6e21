import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Connection, ConnectionStore } from '../../src/connections/store.js';
import type { UpstreamTokenService } from '../../src/upstream/tokens.js';
import type { OAuthSecret } from '../../src/upstream/token-endpoint.js';
import { FakeOAuthProvider } from '../fakes/oauth-provider.js';
import { serviceUrl } from '../helpers/services.js';
import { capturedLogger, newAccount, openTestDb, secondPool, upstreamServices, type TestDb } from './harness.js';

const backendsHere: ('pglite' | 'postgres')[] = ['pglite', ...(serviceUrl('TEST_DATABASE_URL') ? ['postgres' as const] : [])];

/**
 * Threat model G5 and G6 at the service level: UpstreamTokenService against a fake provider and a real database.
 */
describe.each(backendsHere)('upstream access tokens on %s', (backend) => {
  let fake: FakeOAuthProvider;
  let store: TestDb;
  let connections: ConnectionStore;
  let tokens: UpstreamTokenService;
  let logs: string[];
  const errors: string[] = [];

  beforeAll(async () => {
    fake = await new FakeOAuthProvider().start();
    store = await openTestDb(backend);
    const captured = capturedLogger();
    logs = captured.logs;
    ({ connections, tokens } = upstreamServices(store.db, fake.config(), captured.logger, 1000));
  });
  afterAll(async () => {
    await store?.close();
    await fake?.stop();
  });

  async function connection(expiresInMs: number): Promise<Connection> {
    const accountId = await newAccount(store.db);
    return connections.save(accountId, {
      provider: 'fakeoauth',
      kind: 'oauth2',
      label: 'Fake OAuth',
      secret: { ...fake.issue(), token_type: 'bearer' },
      expiresAt: new Date(Date.now() + expiresInMs),
    });
  }

  const stored = (c: Connection) => connections.secret<OAuthSecret>(c);
  async function failure(promise: Promise<unknown>) {
    const error = (await promise.then(
      () => undefined,
      (e: unknown) => e,
    )) as { code?: string; status?: number; message?: string; cause?: unknown };
    errors.push(String(error?.message), JSON.stringify(error ?? null), String((error?.cause as Error | undefined)?.message));
    return error;
  }

  it('uses the stored access token while it has more than a minute left, without calling the provider', async () => {
    const c = await connection(3600_000);
    const before = fake.refreshCount;
    expect(await tokens.accessToken(c)).toBe((await stored(c)).access_token);
    expect(fake.refreshCount).toBe(before);
  });

  it('refreshes a token about to expire (less than a minute left)', async () => {
    const c = await connection(30_000);
    const old = await stored(c);
    const token = await tokens.accessToken(c);
    expect(token).not.toBe(old.access_token);
    expect(fake.accessTokens.has(token)).toBe(true);
  });

  it('answers 20 concurrent calls with an expired token with exactly one refresh, the new tokens saved before use', async () => {
    const c = await connection(-1000);
    const old = await stored(c);
    const before = fake.refreshCount;
    const seenAtFirstUse: OAuthSecret[] = [];
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        tokens.accessToken(c).then(async (t) => {
          if (!seenAtFirstUse.length) seenAtFirstUse.push(await stored(c));
          return t;
        }),
      ),
    );
    expect(fake.refreshCount - before).toBe(1);
    expect(new Set(results).size).toBe(1);
    const now = await stored(c);
    expect(seenAtFirstUse[0]!.access_token).toBe(results[0]);
    expect(now.refresh_token).not.toBe(old.refresh_token);
    expect(fake.refreshTokens.has(now.refresh_token!)).toBe(true); // the rotated one is the one kept
    expect(fake.refreshTokens.has(old.refresh_token!)).toBe(false);
  });

  if (backend === 'postgres') {
    it('refreshes once even when two processes (two pools, two services) ask at the same moment', async () => {
      const otherDb = secondPool(store.url!);
      try {
        const other = upstreamServices(otherDb, fake.config(), capturedLogger().logger, 1000);
        const c = await connection(-1000);
        const before = fake.refreshCount;
        fake.tokenMode = 'slow';
        fake.slowMs = 300; // both processes are waiting while the first refresh is in flight
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? tokens : other.tokens).accessToken(c)));
        expect(fake.refreshCount - before).toBe(1);
        expect(new Set(results).size).toBe(1);
        expect((await stored(c)).access_token).toBe(results[0]);
      } finally {
        fake.tokenMode = 'ok';
        await otherDb.close();
      }
    });
  }

  it('keeps the old refresh token when the provider fails, and works again once it is back', async () => {
    const c = await connection(-1000);
    const old = await stored(c);
    fake.tokenMode = 'fail';
    expect(await failure(tokens.accessToken(c))).toMatchObject({ code: 'upstream_unavailable', status: 502 });
    fake.tokenMode = 'slow';
    fake.slowMs = 1500; // longer than the 1 s upstream timeout
    expect(await failure(tokens.accessToken(c))).toMatchObject({ code: 'upstream_timeout', status: 504 });
    fake.tokenMode = 'not_json';
    expect(await failure(tokens.accessToken(c))).toMatchObject({ code: 'upstream_unavailable', status: 502 });
    fake.tokenMode = 'ok';
    expect(await stored(c)).toEqual(old);
    expect((await connections.findById(c.accountId, c.id))!.status).toBe('active');
    const token = await tokens.accessToken(c);
    expect(fake.accessTokens.has(token)).toBe(true);
  });

  it('keeps the old refresh token when the provider does not rotate it', async () => {
    const c = await connection(-1000);
    const old = await stored(c);
    fake.tokenMode = 'no_refresh_token';
    try {
      const token = await tokens.accessToken(c);
      expect(await stored(c)).toMatchObject({ access_token: token, refresh_token: old.refresh_token });
    } finally {
      fake.tokenMode = 'ok';
    }
  });

  it('marks the connection for re-linking when the provider says invalid_grant, and stays 409 without asking again (G6)', async () => {
    const c = await connection(-1000);
    fake.tokenMode = 'invalid_grant';
    try {
      expect(await failure(tokens.accessToken(c))).toMatchObject({ code: 'reconnect_required', status: 409 });
      const after = (await connections.findById(c.accountId, c.id))!;
      expect(after.status).toBe('needs_relink');
      expect(after.lastError).toMatch(/invalid_grant/);
      const calls = fake.refreshCount;
      expect(await failure(tokens.accessToken(after))).toMatchObject({ code: 'reconnect_required', status: 409 });
      expect(await failure(tokens.accessToken(c))).toMatchObject({ code: 'reconnect_required', status: 409 }); // a stale object too
      expect(fake.refreshCount).toBe(calls);
    } finally {
      fake.tokenMode = 'ok';
    }
  });

  it('forces one refresh for a token the provider refused although it looked fresh', async () => {
    const c = await connection(3600_000);
    const rejected = (await stored(c)).access_token;
    const before = fake.refreshCount;
    const [a, b] = await Promise.all([tokens.accessToken(c, { rejected }), tokens.accessToken(c, { rejected })]);
    expect(a).toBe(b);
    expect(a).not.toBe(rejected);
    expect(fake.refreshCount - before).toBe(1);
  });

  it('never writes a token, refresh token or the client secret to a log line or an error message (G2)', () => {
    expect(fake.secrets.size).toBeGreaterThan(10);
    const text = logs.join('\n') + errors.join('\n');
    for (const secret of fake.secrets) expect(text).not.toContain(secret);
  });
});
