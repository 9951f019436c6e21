import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { serviceUrl } from '../helpers/services.js';
import { Owner, callApi } from '../helpers/owner.js';
import { echoPlugin, startEchoUpstream } from './echo-plugin.js';
import { startFakeTelegram, type FakeTelegram } from '../fakes/telegram.js';

/**
 * ROLE=resource (docs/architecture.md#roles): a second process serves only the resource API against the same
 * database, and accepts tokens the main server issued. Needs Postgres: two servers cannot share one PGlite.
 */
const describeWithPostgres = serviceUrl('TEST_DATABASE_URL') ? describe : describe.skip;

describeWithPostgres('a resource-only process', () => {
  let main: TestServer;
  let resource: TestServer;
  let upstream: Awaited<ReturnType<typeof startEchoUpstream>>;
  let telegram: FakeTelegram;
  let owner: Owner;

  beforeAll(async () => {
    upstream = await startEchoUpstream();
    telegram = await startFakeTelegram();
    const plugins = [echoPlugin(() => upstream.url)];
    main = await startTestServer({ backend: 'postgres', plugins, keepStorage: true });
    resource = await startTestServer({
      storage: { dataDir: main.config.DATA_DIR, databaseUrl: main.config.DATABASE_URL! },
      // Tokens are minted for the main server's resource URL, which both processes share (RFC 8707 audience).
      // With oauth3's own bot token too, which only a ROLE=all process acts on.
      env: {
        ROLE: 'resource',
        RESOURCE_URL: main.config.RESOURCE_URL,
        TELEGRAM_BOT_TOKEN: telegram.addBot({ username: 'oauth3_role_bot' }).token,
        TELEGRAM_API_ROOT: telegram.url,
      },
      plugins,
    });
    owner = await Owner.signUp(main);
    await main.app.connections.save(owner.accountId, {
      provider: 'echo',
      kind: 'echo.key',
      label: 'echo',
      secret: { key: 'role-secret-key-0000' },
    });
  });
  afterAll(async () => {
    await resource?.stop();
    await main?.stop();
    await upstream?.close();
    await telegram?.stop();
  });

  it('accepts a token the main server issued, with the credential sealed by the main server', async () => {
    const token = await owner.agentToken(['echo.read', 'echo.post']);
    const res = await callApi(resource, '/echo/me', token);
    expect(res.status).toBe(200);
    expect(upstream.received.at(-1)).toMatchObject({ path: '/me', key: 'role-secret-key-0000' });
    expect((await callApi(resource, '/echo/posts', token, { body: { text: 'from the resource role' } })).status).toBe(201);
  });

  it('stops accepting it as soon as the owner revokes it on the main server', async () => {
    const token = await owner.agentToken(['echo.read']);
    expect((await callApi(resource, '/echo/me', token)).status).toBe(200);
    const { tokens } = (await (await owner.api.get('/console/api/tokens')).json()) as {
      tokens: { id: string; revoked_at: string | null }[];
    };
    for (const t of tokens.filter((x) => !x.revoked_at)) await owner.api.send('DELETE', `/console/api/tokens/${t.id}`);
    expect((await callApi(resource, '/echo/me', token)).status).toBe(401);
  });

  it('serves the metadata and health endpoints, and 404s the authorization server, pages and console', async () => {
    for (const path of ['/.well-known/oauth-protected-resource', '/healthz', '/readyz']) {
      expect((await fetch(`${resource.url}${path}`)).status).toBe(200);
    }
    for (const path of [
      '/auth',
      '/token',
      '/console',
      '/console/api/session',
      '/.well-known/openid-configuration',
      '/',
      '/jwks',
      '/connections/callback',
    ]) {
      expect({ path, status: (await fetch(`${resource.url}${path}`, { redirect: 'manual' })).status }).toEqual({ path, status: 404 });
    }
    const token = await fetch(`${resource.url}/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'client_credentials' }) });
    expect(token.status).toBe(404);
  });

  it("runs no Telegram bot, even with the bot token set: its console's process does", () => {
    expect(resource.app.telegramBot).toBeUndefined();
    expect(telegram.calls).toEqual([]);
  });
});
