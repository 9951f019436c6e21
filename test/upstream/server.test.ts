import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../../src/cli/oauth3.js';
import { masterKeyFiles } from '../../src/keys/master-key.js';
import { FakeOAuthProvider } from '../fakes/oauth-provider.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { Owner } from '../helpers/owner.js';
import { FaultyGateway } from './gateway.js';
import { PROVIDER, SCOPE, Seen, connectFromConsole, expire, firstLeak, providerEntry, stored, upstreamSecrets } from './through-server.js';

const API = `/upstream/${PROVIDER}`;
/** Short, so the hang tests stay quick, yet long enough for 20 concurrent calls through two servers on a loaded CI machine. */
const UPSTREAM_TIMEOUT_MS = 1500;

/**
 * The generic upstream OAuth client through real servers: an operator configures a provider by
 * UPSTREAM_PROVIDERS alone, an owner connects it from the console, an agent calls its API through /api/upstream.
 * Threat model G2, G5 and G6 are tried as attacks on the running server, G5 with two servers on one Postgres, and
 * the master key is rotated under a running embedded server (G4).
 */
describe.each(backends())('the generic upstream client through a real server on %s', (backend) => {
  let fake: FakeOAuthProvider;
  let gateway: FaultyGateway;
  let server: TestServer;
  let env: Record<string, string>;
  let dataDir: string | undefined;
  let owner: Owner;
  let token: string;
  const seen = new Seen();

  const call = (at: TestServer, p = `${API}/v1/items?page=2`, bearer = token) => seen.api(at, p, bearer);

  beforeAll(async () => {
    fake = await new FakeOAuthProvider().start();
    gateway = await new FaultyGateway(() => fake.url).start();
    env = { UPSTREAM_PROVIDERS: JSON.stringify([providerEntry(fake, gateway)]), UPSTREAM_TIMEOUT_MS: String(UPSTREAM_TIMEOUT_MS) };
    // Embedded: our own DATA_DIR, kept across the restart below.
    if (backend === 'pglite') dataDir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-upstream-'));
    server = await startTestServer({ backend, env, ...(dataDir ? { storage: { dataDir } } : {}) });
    seen.logs.push(server.logs);
    owner = await Owner.signUp(server);
    token = await owner.agentToken([SCOPE]);
  });
  afterAll(async () => {
    await server?.stop();
    await gateway?.stop();
    await fake?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('connects from the console through the provider and lists the account by its profile name, with no secret', async () => {
    await connectFromConsole(owner, seen);
    const list = await seen.connections(owner);
    expect(list).toEqual([
      expect.objectContaining({ provider: PROVIDER, kind: 'oauth2', label: 'ada_upstream', status: 'active', needs_relink: false }),
    ]);
    expect(JSON.stringify(list)).not.toMatch(/sealed|secret|refresh|access_token/);
    expect(firstLeak([JSON.stringify(list)], upstreamSecrets(fake))).toBeUndefined();
    // The code was exchanged with the PKCE verifier kept on the server, never seen by the browser.
    expect(gateway.tokenForms.at(-1)!.get('grant_type')).toBe('authorization_code');
    expect(gateway.tokenForms.at(-1)!.get('code_verifier')).toEqual(expect.any(String));
  });

  it("forwards an agent's call under an allowed path with the owner's access token, which never comes back", async () => {
    const { secret } = await stored(server, owner.accountId);
    const res = await call(server);
    expect(res.status).toBe(200);
    expect(fake.requests.at(-1)).toEqual({ method: 'GET', path: '/api/v1/items?page=2', authorization: `Bearer ${secret.access_token}` });
    // The fake echoes the bearer it got: oauth3 blanks it before the agent sees the answer.
    expect(res.body).toMatchObject({ path: '/api/v1/items', query: '?page=2', bearer: '[redacted]' });
    expect(res.text).not.toContain(secret.access_token);
  });

  it('refuses a path outside allowedPaths with 400 invalid_path, and nothing reaches the provider', async () => {
    const before = fake.requests.length;
    for (const p of [`${API}/v2/admin`, `${API}/v1/../v2/admin`, `${API}/v1/%2e%2e/v2`, `${API}/v10`]) {
      const res = await call(server, p);
      expect({ p, status: res.status, error: res.body.error }).toEqual({ p, status: 400, error: 'invalid_path' });
    }
    expect(fake.requests.length).toBe(before);
  });

  it(`refuses a token without ${SCOPE} with 403 insufficient_scope`, async () => {
    const other = await owner.agentToken(['tweet.read']);
    const before = fake.requests.length;
    const res = await call(server, `${API}/v1/items`, other);
    expect(res.status).toBe(403);
    expect(res.body.error).toBe('insufficient_scope');
    expect(res.headers.get('www-authenticate')).toMatch(/insufficient_scope/);
    expect(fake.requests.length).toBe(before);
  });

  it('refreshes an expired access token exactly once for 20 concurrent calls (G5, one process)', async () => {
    const before = await stored(server, owner.accountId);
    await expire(server, owner.accountId);
    const refreshes = fake.refreshCount;
    const results = await Promise.all(Array.from({ length: 20 }, () => call(server)));
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(fake.refreshCount - refreshes).toBe(1);
    const after = await stored(server, owner.accountId);
    expect(after.secret.refresh_token).not.toBe(before.secret.refresh_token);
    expect(fake.refreshTokens.has(after.secret.refresh_token!)).toBe(true);
    expect(fake.requests.slice(-20).map((r) => r.authorization)).toEqual(Array(20).fill(`Bearer ${after.secret.access_token}`));
  });

  if (backend !== 'pglite') {
    describe('two server processes on one database (G5)', () => {
      let peer: TestServer;
      beforeAll(async () => {
        // A second process on the same schema; tokens name the first one's resource URL, which both serve.
        peer = await startTestServer({
          storage: { dataDir: server.config.DATA_DIR, databaseUrl: server.config.DATABASE_URL! },
          env: { ...env, RESOURCE_URL: server.config.RESOURCE_URL },
          ...(backend === 'postgres+redis' ? { redis: true } : {}),
        });
        seen.logs.push(peer.logs);
      });
      afterAll(async () => {
        await peer?.stop();
      });

      it('10 concurrent calls on each with an expired token: one refresh, the new refresh token stored, the old one never spent again', async () => {
        expect((await call(peer)).status).toBe(200);
        const before = await stored(server, owner.accountId);
        await expire(server, owner.accountId);
        const refreshes = fake.refreshCount;
        const spent = gateway.refreshTokensSpent().length;
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => call(i % 2 ? peer : server)));
        expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
        expect(fake.refreshCount - refreshes).toBe(1);
        expect(gateway.refreshTokensSpent().slice(spent)).toEqual([before.secret.refresh_token]);

        const after = await stored(peer, owner.accountId);
        expect(after.secret.refresh_token).not.toBe(before.secret.refresh_token);
        expect(fake.refreshTokens.has(after.secret.refresh_token!)).toBe(true);
        expect(fake.requests.slice(-20).map((r) => r.authorization)).toEqual(Array(20).fill(`Bearer ${after.secret.access_token}`));

        // The next refresh, from either process, spends the new refresh token: the old one is never presented again.
        await expire(server, owner.accountId);
        expect((await Promise.all([call(peer), call(server)])).map((r) => r.status)).toEqual([200, 200]);
        expect(gateway.refreshTokensSpent().slice(spent)).toEqual([before.secret.refresh_token, after.secret.refresh_token]);
        expect(gateway.refreshTokensSpent().filter((t) => t === before.secret.refresh_token)).toHaveLength(1);
      });
    });
  }

  describe('a failing provider (G2: nothing it echoes reaches the caller or a log line)', () => {
    /** A refresh that fails for a passing reason leaves the connection, and its refresh token, as it was. */
    async function expectUnchangedAndWorking(before: Awaited<ReturnType<typeof stored>>) {
      const now = await stored(server, owner.accountId);
      expect(now.connection.status).toBe('active');
      expect(now.secret.refresh_token).toBe(before.secret.refresh_token);
      expect((await call(server)).status).toBe(200);
      expect(gateway.refreshTokensSpent().at(-1)).toBe(before.secret.refresh_token);
    }

    it('passes an API 500 through with the access token it echoed blanked', async () => {
      gateway.fault('/api/', '500');
      try {
        const res = await call(server);
        expect(res.status).toBe(500);
        expect(res.text).toContain('[redacted]');
      } finally {
        gateway.fault('/api/', undefined);
      }
    });

    it('answers 502 when the token endpoint fails with a 500 echoing the refresh token and client secret', async () => {
      const before = await stored(server, owner.accountId);
      await expire(server, owner.accountId);
      gateway.fault('/token', '500');
      try {
        const res = await call(server);
        expect({ status: res.status, error: res.body.error }).toEqual({ status: 502, error: 'upstream_unavailable' });
      } finally {
        gateway.fault('/token', undefined);
      }
      await expectUnchangedAndWorking(before);
    });

    it('answers 502 to a token response that is not JSON (and quotes the refresh token)', async () => {
      const before = await stored(server, owner.accountId);
      await expire(server, owner.accountId);
      fake.tokenMode = 'not_json';
      try {
        const res = await call(server);
        expect({ status: res.status, error: res.body.error }).toEqual({ status: 502, error: 'upstream_unavailable' });
      } finally {
        fake.tokenMode = 'ok';
      }
      await expectUnchangedAndWorking(before);
    });

    it('answers 504 when the API or the token endpoint hangs beyond UPSTREAM_TIMEOUT_MS', async () => {
      gateway.fault('/api/', 'hang');
      const started = Date.now();
      let res = await call(server);
      gateway.fault('/api/', undefined);
      expect({ status: res.status, error: res.body.error }).toEqual({ status: 504, error: 'upstream_timeout' });
      expect(Date.now() - started).toBeLessThan(UPSTREAM_TIMEOUT_MS + 3000);

      const before = await stored(server, owner.accountId);
      await expire(server, owner.accountId);
      gateway.fault('/token', 'hang');
      res = await call(server);
      gateway.fault('/token', undefined);
      expect({ status: res.status, error: res.body.error }).toEqual({ status: 504, error: 'upstream_timeout' });
      await expectUnchangedAndWorking(before);
    });
  });

  describe('a grant the provider revoked (G6)', () => {
    it('answers 409 reconnect_required and the console lists the connection as needing a re-link', async () => {
      await expire(server, owner.accountId);
      fake.tokenMode = 'invalid_grant';
      const refreshes = fake.refreshCount;
      const res = await call(server);
      expect({ status: res.status, error: res.body.error }).toEqual({ status: 409, error: 'reconnect_required' });
      expect(fake.refreshCount - refreshes).toBe(1);
      expect(await seen.connections(owner)).toEqual([
        expect.objectContaining({ provider: PROVIDER, status: 'needs_relink', needs_relink: true }),
      ]);
    });

    it('answers 409 to later calls without calling the provider', async () => {
      const requests = fake.requests.length;
      for (let i = 0; i < 3; i++) expect((await call(server)).status).toBe(409);
      expect(fake.requests.length).toBe(requests);
    });

    it('works again once the owner connects the account again from the console', async () => {
      fake.tokenMode = 'ok';
      await connectFromConsole(owner, seen);
      expect(await seen.connections(owner)).toEqual([
        expect.objectContaining({ provider: PROVIDER, status: 'active', label: 'ada_upstream' }),
      ]);
      const { secret } = await stored(server, owner.accountId);
      expect((await call(server)).status).toBe(200);
      expect(fake.requests.at(-1)!.authorization).toBe(`Bearer ${secret.access_token}`);
    });
  });

  if (backend === 'pglite') {
    describe('master-key rotation through the admin socket while the embedded server runs (G4)', () => {
      const cliEnv = () => ({ NODE_ENV: 'test', DATA_DIR: dataDir!, LOG_LEVEL: 'silent' });
      const sealedRow = async () =>
        (await server.db.query<{ sealed: string }>('SELECT sealed FROM connections WHERE account_id = $1', [owner.accountId])).rows[0]!
          .sealed;

      it('re-wraps everything under a new key; the connection and a connect in progress keep working', async () => {
        const files = masterKeyFiles(dataDir!);
        const oldKey = readFileSync(files.current, 'utf8').trim();
        const sealedBefore = await sealedRow();
        const { secret } = await stored(server, owner.accountId);
        const start = await owner.api.send('POST', `/console/api/connections/oauth/${PROVIDER}`);
        const inProgress = (JSON.parse(await seen.response(start)) as { authorization_url: string }).authorization_url;

        const out: string[] = [];
        const err: string[] = [];
        // The server holds the embedded database: the CLI hands the command over DATA_DIR/admin.sock.
        const code = await runCli(
          ['keys', 'rotate-master', '--generate'],
          cliEnv(),
          (l) => out.push(l),
          (l) => err.push(l),
        );
        expect({ code, err }).toEqual({ code: 0, err: [] });
        expect(out.join('\n')).toMatch(/connections: 1 re-wrapped/);
        expect(out.join('\n')).toMatch(/upstream_auth_requests: 1 re-wrapped/);
        expect(readFileSync(files.current, 'utf8').trim()).not.toBe(oldKey);
        expect(readFileSync(files.previous, 'utf8')).toContain(oldKey);
        expect(await sealedRow()).not.toBe(sealedBefore);

        expect((await call(server)).status).toBe(200);
        expect(fake.requests.at(-1)!.authorization).toBe(`Bearer ${secret.access_token}`);
        // The verifier sealed under the old key opens at the callback after the rotation.
        await connectFromConsole(owner, seen, inProgress);
        expect((await call(server)).status).toBe(200);
        // A refresh now seals under the new key (checked below, once the old key is gone).
        await expire(server, owner.accountId);
        expect((await call(server)).status).toBe(200);
      });

      it('after a restart on the same DATA_DIR with the old key removed, the same connection and token still work', async () => {
        const { connection, secret } = await stored(server, owner.accountId);
        const { PORT, ISSUER } = { PORT: String(server.config.PORT), ISSUER: server.config.ISSUER };
        await server.stop();
        rmSync(masterKeyFiles(dataDir!).previous);
        expect(existsSync(masterKeyFiles(dataDir!).next)).toBe(false);
        server = await startTestServer({ storage: { dataDir: dataDir! }, env: { ...env, PORT, ISSUER } });
        seen.logs.push(server.logs);

        const res = await call(server);
        expect(res.status).toBe(200);
        expect(fake.requests.at(-1)!.authorization).toBe(`Bearer ${secret.access_token}`);
        expect(await seen.connections(owner)).toEqual([expect.objectContaining({ id: connection.id, status: 'active' })]);
        await expire(server, owner.accountId);
        expect((await call(server)).status).toBe(200);
      });
    });
  }

  it('never put an upstream token or the client secret in any response, header or log line (G2)', () => {
    const secrets = upstreamSecrets(fake);
    expect(secrets.filter((s) => s.startsWith('rt_')).length).toBeGreaterThan(3);
    // Run last: it has seen the fault and re-link answers above, and every server's log.
    expect(seen.texts.some((t) => t.startsWith('504 '))).toBe(true);
    expect(seen.texts.some((t) => t.startsWith('409 '))).toBe(true);
    // Two servers' logs: the restarted one on embedded storage, the second process on Postgres.
    expect(seen.logs).toHaveLength(2);
    expect(firstLeak(seen.texts, secrets)).toBeUndefined();
    expect(firstLeak(seen.logs.flat(), secrets)).toBeUndefined();
  });
});
