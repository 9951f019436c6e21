import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { startFakeTelegram, type FakeTelegram, type FakeUser } from '../fakes/telegram.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { Owner, callApi } from '../helpers/owner.js';
import { TestBrowser } from '../helpers/browser.js';
import { signInToConsole } from '../helpers/console.js';
import { eventually } from '../helpers/console-api.js';
import { basic, redirectUri, type Client } from '../helpers/token-flow.js';
import { echoPlugin, startEchoUpstream } from '../resource/echo-plugin.js';
import { FakeOAuthProvider } from '../fakes/oauth-provider.js';
import { PROVIDER, SCOPE, Seen, connectFromConsole, expire } from '../upstream/through-server.js';
import type { Plugin } from '../../src/plugins/plugin.js';
import { reconnectRequired } from '../../src/plugins/open-connection.js';
import { NOTICE_KINDS, type NoticeKind } from '../../src/notices/kinds.js';
import { NoticePreferences } from '../../src/notices/preferences.js';
import { TelegramOutbox } from '../../src/notices/outbox.js';
import { kindLabel } from '../../src/accounts/event-kinds.js';
import { digestOf } from '../../src/db/at-rest-keys.js';
import { deleteExpiredRows } from '../../src/db/cleanup.js';
import { botEnv, linkChat, sentTo } from './support.js';

const ANDROID_CHROME =
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36';
const MAC_FIREFOX = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:128.0) Gecko/20100101 Firefox/128.0';

/** A browser that says what it is (User-Agent) and keeps every Set-Cookie line it was sent. */
class NamedBrowser extends TestBrowser {
  readonly setCookies: string[] = [];

  constructor(
    origin: string,
    authenticator: TestBrowser['authenticator'] | undefined,
    private readonly userAgent: string,
  ) {
    super(origin, authenticator);
  }

  override async request(url: string, init: RequestInit & { origin?: string | null } = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('user-agent', this.userAgent);
    const res = await super.request(url, { ...init, headers });
    this.setCookies.push(...res.headers.getSetCookie());
    return res;
  }
}

/** The echo plugin with a pasted credential kind, and an upstream that can stop accepting the stored credential. */
function relinkablePlugin(upstreamUrl: () => string, refuse: { credential: boolean }): Plugin {
  const base = echoPlugin(upstreamUrl);
  return {
    ...base,
    credentialKinds: base.credentialKinds.map((kind) => ({
      ...kind,
      paste: {
        fields: [{ name: 'key', label: 'Key', type: 'password' as const }],
        input: z.object({ key: z.string().min(6).max(100) }),
        verify: async (input: Record<string, unknown>) => ({ label: `echo-${String(input.key).slice(0, 3)}`, secret: { key: input.key } }),
      },
    })),
    actions: base.actions.map((action) => ({
      ...action,
      run: async (payload: never, access, deps) => {
        if (refuse.credential) throw reconnectRequired('echo');
        return action.run(payload, access, deps);
      },
    })),
  };
}

describe.each(backends())('notices in the owner’s Telegram chat (%s)', (backend) => {
  let telegram: FakeTelegram;
  let server: TestServer;
  let token: string;
  let upstream: Awaited<ReturnType<typeof startEchoUpstream>>;
  let oauthProvider: FakeOAuthProvider;
  let app: Client;
  let preferences: NoticePreferences;
  let outbox: TelegramOutbox;
  const refuse = { credential: false };
  let sentinels = 0;

  beforeAll(async () => {
    telegram = await startFakeTelegram();
    token = telegram.addBot({ username: 'oauth3_notice_bot' }).token;
    upstream = await startEchoUpstream();
    oauthProvider = await new FakeOAuthProvider().start();
    server = await startTestServer({
      backend,
      env: {
        ...botEnv(telegram, token),
        UPSTREAM_PROVIDERS: JSON.stringify([oauthProvider.config(PROVIDER)]),
      },
      plugins: [relinkablePlugin(() => upstream.url, refuse)],
    });
    app = await server.addClient({ name: 'Photo Sync', redirectUris: [redirectUri] });
    preferences = new NoticePreferences(server.db);
    outbox = new TelegramOutbox(server.db);
  });
  afterAll(async () => {
    await server?.stop();
    await upstream?.close();
    await oauthProvider?.stop();
    await telegram?.stop();
  });

  const link = (owner: Owner) => linkChat(server, telegram, token, owner);

  async function linkedOwner(): Promise<{ owner: Owner; chat: FakeUser }> {
    const owner = await Owner.signUp(server);
    return { owner, chat: await link(owner) };
  }

  /**
   * Every notice the chat got after its link confirmation, once everything queued so far has gone out: a last message
   * is queued behind them (one chat's messages go out in order) and awaited.
   */
  async function noticesIn(owner: Owner, chat: FakeUser): Promise<string[]> {
    const mark = `(end of test messages ${++sentinels})`;
    await outbox.enqueue({ accountId: owner.accountId, chatId: chat.id, kind: 'test', text: mark });
    server.app.telegramBot!.wake();
    const texts = await eventually(
      async () => sentTo(telegram, chat.id),
      (list) => list.includes(mark),
      15_000,
    );
    expect(texts).toContain(mark);
    return texts.slice(1, texts.indexOf(mark)).filter((text) => !text.startsWith('(end of test messages'));
  }

  const eventsOf = async (owner: Owner, kind: string) =>
    (
      await server.db.query<{ detail: Record<string, unknown>; client_id: string | null; grant_id: string | null }>(
        'SELECT detail, client_id, grant_id FROM events WHERE account_id = $1 AND kind = $2 ORDER BY id',
        [owner.accountId, kind],
      )
    ).rows;

  const outboxOf = async (owner: Owner) =>
    (
      await server.db.query<{ id: string; kind: string; status: string; last_error: string | null; text: string }>(
        "SELECT id::text AS id, kind, status, last_error, text FROM telegram_outbox WHERE account_id = $1 AND kind <> 'test' ORDER BY id",
        [owner.accountId],
      )
    ).rows;

  const allBut = (kind: NoticeKind) => (Object.keys(NOTICE_KINDS) as NoticeKind[]).filter((k) => k !== kind);

  /** An agent token for the echo API and the grant it belongs to. */
  async function echoToken(owner: Owner, scopes = ['echo.read', 'echo.post']): Promise<{ token: string; grantId: string }> {
    const value = await owner.agentToken(scopes);
    const { rows } = await server.db.query<{ grant_id: string }>(
      'SELECT grant_id FROM agent_tokens WHERE account_id = $1 ORDER BY created_at DESC, id LIMIT 1',
      [owner.accountId],
    );
    return { token: value, grantId: rows[0]!.grant_id };
  }

  const post = (bearer: string, text: string) => callApi(server, '/echo/posts', bearer, { body: { text } });

  describe('new access', () => {
    it("an app's consent names the app and its permissions in words, once (not again for its token exchange)", async () => {
      const { owner, chat } = await linkedOwner();
      await owner.appToken(app, 'openid profile offline_access');
      // The token endpoint's own row of the exchange is written after its answer.
      const minted = await eventually(
        () => eventsOf(owner, 'token.minted'),
        (rows) => rows.length === 1,
      );
      expect(minted).toEqual([expect.objectContaining({ detail: expect.objectContaining({ grant_type: 'authorization_code' }) })]);
      expect(await noticesIn(owner, chat)).toEqual([
        `🔑 You gave Photo Sync access to your account: Know who you are; See your profile; Stay connected.\n` +
          `If this wasn't you, or you no longer want it, revoke it at ${server.url}/console/apps`,
      ]);
    });

    it('an agent token made in the console, on the Agent tokens page and on the MCP page', async () => {
      const { owner, chat } = await linkedOwner();
      const res = await owner.api.send('POST', '/console/api/tokens', { name: 'my laptop', scopes: ['echo.read'], lifetime_hours: 2 });
      expect(res.status).toBe(201);
      const [notice] = await noticesIn(owner, chat);
      expect(notice).toMatch(
        /^🔑 An agent token "my laptop" was made for your account: Read echoes\. It works until \d+ \w+ \d{4}, \d\d:\d\d UTC\.\n/,
      );
      expect(notice).toContain(`revoke it at ${server.url}/console/apps`);

      const mcp = await owner.api.send('POST', '/console/api/tokens', {
        name: 'claude',
        scopes: ['echo.read', 'echo.post'],
        lifetime_hours: 1,
        resource: 'mcp',
      });
      expect(mcp.status).toBe(201);
      expect((await noticesIn(owner, chat)).slice(1)).toEqual([
        expect.stringContaining('🔑 An agent token "claude" was made for your account: Read echoes; Post echoes.'),
      ]);
    });

    it('an agent service registered in the console', async () => {
      const { owner, chat } = await linkedOwner();
      const res = await owner.api.send('POST', '/console/api/agents', { name: 'nightly digest', scopes: ['echo.read'] });
      expect(res.status).toBe(201);
      expect(await noticesIn(owner, chat)).toEqual([
        `🔑 An agent service "nightly digest" was registered for your account: Read echoes.\n` +
          `If this wasn't you, or you no longer want it, revoke it at ${server.url}/console/apps`,
      ]);
    });

    it('nothing when the owner switched new access off, or has no linked chat', async () => {
      const { owner, chat } = await linkedOwner();
      await preferences.set(owner.accountId, allBut('new_access'));
      await owner.appToken(app, 'openid');
      await echoToken(owner);
      expect(await noticesIn(owner, chat)).toEqual([]);

      const unlinked = await Owner.signUp(server);
      await unlinked.appToken(app, 'openid');
      await echoToken(unlinked);
      expect(await eventsOf(unlinked, 'consent.granted')).toHaveLength(1);
      expect(await outboxOf(unlinked)).toEqual([]);
    });
  });

  describe('a sign-in from a new browser', () => {
    it('is told for a browser this account never used, not for the one it signed up with or one seen before', async () => {
      const browser = new NamedBrowser(server.url, undefined, ANDROID_CHROME);
      const owner = await Owner.signIn(server, browser);
      const chat = await link(owner);

      // The same browser again (the passkey asked afresh): known since sign-up.
      await signInToConsole(browser, 'signin', '/console/login?fresh=1');
      // Another browser of the owner's, with the same passkey: new, then known.
      const laptop = new NamedBrowser(server.url, browser.authenticator, MAC_FIREFOX);
      await Owner.signIn(server, laptop);
      await signInToConsole(laptop, 'signin', '/console/login?fresh=1');

      expect((await eventsOf(owner, 'signin')).map((e) => [e.detail.new_browser, e.detail.browser])).toEqual([
        [false, 'Chrome on Android'],
        [true, 'Firefox on macOS'],
        [false, 'Firefox on macOS'],
      ]);
      const notices = await noticesIn(owner, chat);
      expect(notices).toHaveLength(1);
      expect(notices[0]).toMatch(
        new RegExp(
          `^New sign-in to your oauth3 account from Firefox on macOS, \\d+ \\w+ \\d{4}, \\d\\d:\\d\\d UTC\\. If this wasn't you, ` +
            `sign out other browsers at ${server.url.replace(/[.]/g, '\\.')}/console/sessions and check your passkeys\\.$`,
        ),
      );
    });

    it('keeps the browser id in a long-lived signed httpOnly cookie, and only its digest in the database', async () => {
      const browser = new NamedBrowser(server.url, undefined, ANDROID_CHROME);
      const owner = await Owner.signIn(server, browser);
      const line = browser.setCookies.find((l) => l.startsWith('oauth3_browser='));
      expect(line).toBeDefined();
      expect(line).toMatch(/; path=\/interaction;/);
      expect(line).toMatch(/; httponly/i);
      expect(line).toMatch(/; samesite=lax/i);
      // About 400 days, as long as browsers keep a cookie.
      const expires = Date.parse(/; expires=([^;]+)/i.exec(line!)?.[1] ?? '');
      expect(expires - Date.now()).toBeGreaterThan(399 * 24 * 3600 * 1000);
      expect(browser.setCookies.some((l) => l.startsWith('oauth3_browser.sig='))).toBe(true);

      const id = /^oauth3_browser=([^;]+)/.exec(line!)![1]!;
      const { rows } = await server.db.query<{ digest: string; description: string }>(
        'SELECT digest, description FROM known_browsers WHERE account_id = $1',
        [owner.accountId],
      );
      expect(rows).toEqual([{ digest: digestOf('Browser', id), description: 'Chrome on Android' }]);

      // A browser unseen for its cookie's lifetime is forgotten by the cleanup.
      await server.db.query("UPDATE known_browsers SET expires_at = now() - interval '1 second' WHERE account_id = $1", [owner.accountId]);
      expect(await deleteExpiredRows(server.db)).toBeGreaterThanOrEqual(1);
      expect((await server.db.query('SELECT 1 FROM known_browsers WHERE account_id = $1', [owner.accountId])).rows).toEqual([]);
      expect(JSON.stringify(rows)).not.toContain(id);
    });

    it('a browser id copied without its signature does not make a browser known', async () => {
      const browser = new NamedBrowser(server.url, undefined, ANDROID_CHROME);
      const owner = await Owner.signIn(server, browser);
      const chat = await link(owner);
      const id = /^oauth3_browser=([^;]+)/.exec(browser.setCookies.find((l) => l.startsWith('oauth3_browser='))!)![1]!;
      // Another browser holding the known id, but not the server's signature of it (oauth3_browser.sig).
      const stranger = new NamedBrowser(server.url, browser.authenticator, MAC_FIREFOX);
      (stranger as unknown as { jar: Map<string, { name: string; value: string; path: string }> }).jar.set('oauth3_browser;/interaction', {
        name: 'oauth3_browser',
        value: id,
        path: '/interaction',
      });
      await Owner.signIn(server, stranger);
      expect((await eventsOf(owner, 'signin')).map((e) => e.detail.new_browser)).toEqual([true]);
      expect(await noticesIn(owner, chat)).toEqual([expect.stringContaining('New sign-in to your oauth3 account from Firefox on macOS')]);
    });

    it('nothing when the owner switched sign-in notices off', async () => {
      const { owner, chat } = await linkedOwner();
      await preferences.set(owner.accountId, allBut('new_signin'));
      await Owner.signIn(server, new NamedBrowser(server.url, owner.browser.authenticator, MAC_FIREFOX));
      expect((await eventsOf(owner, 'signin')).map((e) => e.detail.new_browser)).toEqual([true]);
      expect(await noticesIn(owner, chat)).toEqual([]);
    });
  });

  describe('a token used twice', () => {
    it('warns the owner, naming the app, when a spent refresh token comes back', async () => {
      const { owner, chat } = await linkedOwner();
      await preferences.set(owner.accountId, allBut('new_access'));
      const { refreshToken } = await owner.appToken(app, 'openid offline_access');
      const refresh = () =>
        fetch(`${server.url}/token`, {
          method: 'POST',
          headers: { authorization: basic(app.clientId, app.clientSecret!), 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken! }),
        });
      expect((await refresh()).status).toBe(200);
      expect((await refresh()).status).toBe(400);
      await eventually(
        () => eventsOf(owner, 'token.reused'),
        (rows) => rows.length === 1,
      );
      await eventually(
        () => outboxOf(owner),
        (rows) => rows.length === 1,
      );
      expect(await noticesIn(owner, chat)).toEqual([
        `⚠️ Photo Sync presented a token that had already been used. Someone else may hold a copy, so oauth3 revoked that ` +
          `app's access. If the app needs access again, connect it again; see ${server.url}/console/apps`,
      ]);
    });
  });

  describe('connected accounts', () => {
    it('tells of a new connection, and once that it needs linking again however often the upstream refuses it', async () => {
      const { owner, chat } = await linkedOwner();
      await preferences.set(owner.accountId, allBut('new_access'));
      const connected = await owner.api.send('POST', '/console/api/connections', { kind: 'echo.key', key: 'ada-key-123456' });
      expect(connected.status).toBe(201);
      const { token: bearer } = await echoToken(owner);
      refuse.credential = true;
      try {
        expect((await post(bearer, 'first')).body.error).toBe('reconnect_required');
        expect((await post(bearer, 'second')).body.error).toBe('reconnect_required');
        // Marked again by another path: the connection already needs linking, so nothing new is recorded.
        const connection = (await server.app.connections.find(owner.accountId, 'echo'))!;
        expect(connection.status).toBe('needs_relink');
        await server.app.connections.markNeedsRelink({ ...connection, status: 'active' }, 'refused again');
      } finally {
        refuse.credential = false;
      }
      expect(await eventsOf(owner, 'connection.needs_relink')).toEqual([
        { detail: expect.objectContaining({ provider: 'echo', label: 'echo-ada' }), client_id: null, grant_id: null },
      ]);
      expect(await noticesIn(owner, chat)).toEqual([
        '✓ Connected echo as echo-ada',
        'Your echo account echo-ada needs linking again: echo no longer accepts the stored credential. Apps cannot use it ' +
          `until you reconnect at ${server.url}/console/connections`,
      ]);
      expect(kindLabel('connection.needs_relink')).toBe('Connected account needs linking again');

      // Connected again, and refused again: a new change, told again.
      expect((await owner.api.send('POST', '/console/api/connections', { kind: 'echo.key', key: 'ada-key-654321' })).status).toBe(201);
      refuse.credential = true;
      try {
        expect((await post(bearer, 'third')).body.error).toBe('reconnect_required');
      } finally {
        refuse.credential = false;
      }
      expect((await noticesIn(owner, chat)).slice(2)).toEqual([
        '✓ Connected echo as echo-ada',
        expect.stringContaining('Your echo account echo-ada needs linking again'),
      ]);
    });

    it('tells once when an upstream OAuth provider refuses to refresh the credential (marked while the row is locked)', async () => {
      const { owner, chat } = await linkedOwner();
      await preferences.set(owner.accountId, allBut('new_access'));
      const seen = new Seen();
      await connectFromConsole(owner, seen);
      const bearer = await owner.agentToken([SCOPE]);
      await expire(server, owner.accountId);
      oauthProvider.tokenMode = 'invalid_grant';
      try {
        for (let i = 0; i < 3; i++) {
          const res = await seen.api(server, `/upstream/${PROVIDER}/v1/items`, bearer);
          expect({ status: res.status, error: res.body.error }).toEqual({ status: 409, error: 'reconnect_required' });
        }
      } finally {
        oauthProvider.tokenMode = 'ok';
      }
      await eventually(
        () => outboxOf(owner),
        (rows) => rows.length === 2,
      );
      expect(await eventsOf(owner, 'connection.needs_relink')).toEqual([
        { detail: expect.objectContaining({ provider: PROVIDER, label: 'ada_upstream' }), client_id: null, grant_id: null },
      ]);
      expect(await noticesIn(owner, chat)).toEqual([
        `✓ Connected ${PROVIDER} as ada_upstream`,
        `Your ${PROVIDER} account ada_upstream needs linking again: ${PROVIDER} no longer accepts the stored credential. ` +
          `Apps cannot use it until you reconnect at ${server.url}/console/connections`,
      ]);
    });

    it('nothing when the owner switched connection notices off', async () => {
      const { owner, chat } = await linkedOwner();
      await preferences.set(owner.accountId, allBut('connections'));
      expect((await owner.api.send('POST', '/console/api/connections', { kind: 'echo.key', key: 'bob-key-123456' })).status).toBe(201);
      const connection = (await server.app.connections.find(owner.accountId, 'echo'))!;
      await server.app.connections.markNeedsRelink(connection, 'refused');
      expect(await eventsOf(owner, 'connection.needs_relink')).toHaveLength(1);
      expect(await noticesIn(owner, chat)).toEqual([]);
    });
  });

  describe('the daily limit', () => {
    it('is told once per app and day however often the app keeps calling, with one access-log row', async () => {
      const { owner, chat } = await linkedOwner();
      await preferences.set(owner.accountId, allBut('new_access'));
      await server.app.connections.save(owner.accountId, {
        provider: 'echo',
        kind: 'echo.key',
        label: 'echo',
        secret: { key: 'k-123456' },
      });
      const first = await echoToken(owner);
      await server.app.services.policies.set(owner.accountId, first.grantId, { posts_per_day: 1 });
      expect((await post(first.token, 'one')).status).toBe(201);
      for (const text of ['two', 'three', 'four']) expect((await post(first.token, text)).body.error).toBe('policy_daily_limit');

      const reached = await eventsOf(owner, 'limit.daily_reached');
      expect(reached).toEqual([
        { detail: { limit: 1, day: expect.stringMatching(/^\d{4}-\d\d-\d\d$/) }, client_id: expect.any(String), grant_id: first.grantId },
      ]);
      // Every refused call is in the access log as a refused API call already.
      expect((await eventsOf(owner, 'api.call')).filter((e) => e.detail.error === 'policy_daily_limit')).toHaveLength(3);
      const limitText =
        `reached its daily limit of 1 post(s): oauth3 refuses its posts until midnight UTC. You can change the limit at ` +
        `${server.url}/console/apps`;
      expect(await noticesIn(owner, chat)).toEqual([expect.stringMatching(/^Your agent: agent [0-9a-f]{6} reached its daily limit/)]);
      expect((await noticesIn(owner, chat))[0]).toContain(limitText);

      // Another app of the owner's reaching its own limit (0: every post refused) is told of too.
      const second = await echoToken(owner);
      await server.app.services.policies.set(owner.accountId, second.grantId, { posts_per_day: 0 });
      expect((await post(second.token, 'none')).body.error).toBe('policy_daily_limit');
      expect((await post(second.token, 'still none')).body.error).toBe('policy_daily_limit');
      expect((await noticesIn(owner, chat)).slice(1)).toEqual([expect.stringContaining('reached its daily limit of 0 post(s)')]);

      // The next day (the first app's usage and its notice moved back a day): told again, once.
      await server.db.query('UPDATE policy_usage SET day = day - 1 WHERE grant_id = $1', [first.grantId]);
      await server.db.query("UPDATE telegram_outbox SET dedupe_key = dedupe_key || '-yesterday' WHERE dedupe_key LIKE $1", [
        `daily:${first.grantId}:%`,
      ]);
      expect((await post(first.token, 'new day')).status).toBe(201);
      for (const text of ['again', 'and again']) expect((await post(first.token, text)).body.error).toBe('policy_daily_limit');
      expect(await eventsOf(owner, 'limit.daily_reached')).toHaveLength(3);
      const all = await noticesIn(owner, chat);
      expect(all.filter((t) => t.includes('reached its daily limit'))).toHaveLength(3);
      expect(kindLabel('limit.daily_reached')).toBe('App reached its daily limit');
    });

    it('nothing when the owner switched daily-limit notices off', async () => {
      const { owner, chat } = await linkedOwner();
      await preferences.set(
        owner.accountId,
        allBut('daily_limit').filter((k) => k !== 'new_access'),
      );
      await server.app.connections.save(owner.accountId, {
        provider: 'echo',
        kind: 'echo.key',
        label: 'echo',
        secret: { key: 'k-123456' },
      });
      const { token: bearer, grantId } = await echoToken(owner);
      await server.app.services.policies.set(owner.accountId, grantId, { posts_per_day: 0 });
      expect((await post(bearer, 'refused')).body.error).toBe('policy_daily_limit');
      expect(await eventsOf(owner, 'limit.daily_reached')).toHaveLength(1);
      expect(await noticesIn(owner, chat)).toEqual([]);
    });
  });

  describe('while Telegram is down', () => {
    it('the request that caused a notice succeeds, and the notice waits in the outbox until Telegram is back', async () => {
      const { owner, chat } = await linkedOwner();
      telegram.fail('sendMessage', 'server_error');
      try {
        const res = await owner.api.send('POST', '/console/api/tokens', { name: 'while down', scopes: ['echo.read'], lifetime_hours: 1 });
        expect(res.status).toBe(201);
        const rows = await eventually(
          () => outboxOf(owner),
          (list) => list.length === 1 && list[0]!.last_error !== null,
          10_000,
        );
        expect(rows).toEqual([expect.objectContaining({ kind: 'new_access', status: 'pending', last_error: expect.any(String) })]);
        expect(sentTo(telegram, chat.id)).toHaveLength(1);
      } finally {
        telegram.reset();
      }
      // The next attempt is due after a back-off; bring it forward instead of waiting for it.
      await server.db.query("UPDATE telegram_outbox SET next_attempt_at = now() WHERE account_id = $1 AND status = 'pending'", [
        owner.accountId,
      ]);
      expect(await noticesIn(owner, chat)).toEqual([expect.stringContaining('🔑 An agent token "while down" was made for your account')]);
      expect((await outboxOf(owner)).map((r) => r.status)).toEqual(['sent']);
    });
  });
});
