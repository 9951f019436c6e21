import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import Koa from 'koa';
import type Provider from 'oidc-provider';
import { AccountStore } from '../../src/accounts/accounts.js';
import { EventLog } from '../../src/accounts/events.js';
import { loadConfig } from '../../src/config.js';
import { AuthRequests } from '../../src/upstream/auth-requests.js';
import { callbackRoutes } from '../../src/upstream/callback.js';
import { startConnect } from '../../src/upstream/connect.js';
import type { FakeOAuthProvider } from '../fakes/oauth-provider.js';
import { newAccount, startUpstreamRig, type TestDb, type UpstreamRig } from './harness.js';

/**
 * The connect flow against the fake provider, with the callback's real stages; the owner's console session is
 * played by a header (`x-test-owner`) read through a stand-in for oidc-provider's Session.get.
 */
describe.each(['basic', 'post'] as const)('connecting an upstream account (client auth %s)', (authMethod) => {
  let rig: UpstreamRig;
  let fake: FakeOAuthProvider;
  let store: TestDb;
  let base: string;
  let logs: string[];
  let services: UpstreamRig['services'];
  let requests: AuthRequests;
  let owner: string;
  let other: string;
  const pages: string[] = [];
  let start: (returnTo?: string) => Promise<string>;

  beforeAll(async () => {
    rig = await startUpstreamRig({ authMethod });
    ({ fake, store, logs, services, base } = rig);
    requests = new AuthRequests(store.db, services.connections.vault);
    const config = loadConfig({ NODE_ENV: 'test', ISSUER: base, LOG_LEVEL: 'silent' });
    const oidc = {
      Session: { get: async (ctx: Koa.Context) => ({ accountId: ctx.get('x-test-owner') || undefined, uid: 'u1', loginTs: 0 }) },
    } as unknown as Provider;
    const router = callbackRoutes(
      {
        config,
        logger: rig.logger,
        accounts: new AccountStore(store.db),
        events: new EventLog(store.db, rig.logger),
        connections: services.connections,
        requests,
        provider: async (id) => (id === 'fakeoauth' ? services.provider : undefined),
      },
      oidc,
    );
    const app = new Koa();
    app.use(router.routes());
    const handle = app.callback();
    rig.server.on('request', (req, res) => void handle(req, res));
    owner = await newAccount(store.db);
    other = await newAccount(store.db);
    start = (returnTo?: string) =>
      startConnect(
        { config, requests, provider: async (id) => (id === 'fakeoauth' ? services.provider : undefined) },
        owner,
        'fakeoauth',
        returnTo,
      );
  });
  afterAll(async () => {
    await rig?.close();
  });

  /** The owner's browser at the provider: it approves and sends back the callback URL. */
  async function atProvider(url: string): Promise<string> {
    const res = await fetch(url, { redirect: 'manual' });
    return res.headers.get('location')!;
  }
  async function callback(url: string, as = owner) {
    const res = await fetch(url, { redirect: 'manual', headers: { 'x-test-owner': as } });
    const text = await res.text();
    pages.push(text, String(res.headers.get('location')), String(res.headers.get('set-cookie')));
    return { status: res.status, location: res.headers.get('location'), text };
  }

  it('asks the provider with state, PKCE S256, the scopes and the fixed callback URL', async () => {
    const url = new URL(await start());
    expect(url.origin + url.pathname).toBe(`${fake.url}/authorize`);
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      response_type: 'code',
      client_id: fake.clientId,
      redirect_uri: `${base}/connections/callback`,
      scope: 'read write',
      code_challenge_method: 'S256',
    });
    expect(url.searchParams.get('state')).toMatch(/^[\w-]{43}$/);
  });

  it('saves the connection sealed, labelled from the profile, and returns to the console', async () => {
    const back = await atProvider(await start('/console/connections?from=test'));
    const res = await callback(back);
    expect(res).toMatchObject({ status: 303, location: '/console/connections?from=test' });
    const saved = await services.connections.find(owner, 'fakeoauth');
    expect(saved).toMatchObject({ kind: 'oauth2', label: 'ada_upstream', status: 'active' });
    const secret = await services.connections.secret<{ access_token: string; refresh_token: string }>(saved!);
    expect(fake.accessTokens.has(secret.access_token)).toBe(true);
    expect(fake.refreshTokens.has(secret.refresh_token)).toBe(true);
    const { rows } = await store.db.query<{ kind: string }>("SELECT kind FROM events WHERE account_id = $1 AND kind = 'connection.added'", [
      owner,
    ]);
    expect(rows).toHaveLength(1);
  });

  it("refuses a state used twice, another owner's state, a missing code and a denial, saving nothing", async () => {
    await services.connections.remove(owner, (await services.connections.find(owner, 'fakeoauth'))?.id ?? '');
    const back = await atProvider(await start());
    const foreign = await callback(back, other);
    expect(foreign.status).toBe(400);
    expect(await services.connections.find(other, 'fakeoauth')).toBeUndefined();
    expect((await callback(back)).status).toBe(303); // the owner's own state still works after the foreign attempt
    await services.connections.remove(owner, (await services.connections.find(owner, 'fakeoauth'))!.id);
    const replay = await callback(back);
    expect(replay.status).toBe(400);
    expect(replay.text).toContain('already used');

    const noCode = new URL(await atProvider(await start()));
    noCode.searchParams.delete('code');
    expect((await callback(noCode.toString())).status).toBe(400);
    fake.authorizeMode = 'deny';
    const denied = await callback(await atProvider(await start()));
    fake.authorizeMode = 'approve';
    expect(denied.status).toBe(403);
    expect(denied.text).toContain('did not allow');
    expect(await services.connections.find(owner, 'fakeoauth')).toBeUndefined();
  });

  it('refuses an expired state', async () => {
    const back = await atProvider(await start());
    await store.db.query("UPDATE upstream_auth_requests SET expires_at = now() - interval '1 second'");
    expect((await callback(back)).status).toBe(400);
    expect(await services.connections.find(owner, 'fakeoauth')).toBeUndefined();
  });

  it('never sends the owner anywhere but a console path', async () => {
    const back = await atProvider(await start('https://evil.example/console'));
    expect((await callback(back)).location).toBe('/console/connections');
  });

  it('never shows a code, token or the client secret in a page, header or log line (G2)', () => {
    const text = pages.join('\n') + logs.join('\n');
    for (const s of fake.secrets) expect(text).not.toContain(s);
  });
});
