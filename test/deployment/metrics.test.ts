import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import net from 'node:net';
import { freePort, startTestServer, type TestServer } from '../helpers/server.js';
import { Owner, callApi } from '../helpers/owner.js';
import { TokenFlow, basic, issued, redirectUri } from '../helpers/token-flow.js';
import { FakeOAuthProvider } from '../fakes/oauth-provider.js';
import { echoPlugin, startEchoUpstream } from '../resource/echo-plugin.js';

/** One sample of the Prometheus text format: its name, labels and value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the text exposition format (version 0.0.4): `name{a="x",b="y"} value`, comments skipped. */
function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one sample with this name and (at least) these labels; 0 when there is none yet. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0]?.value ?? 0;
}

/** TCP listeners of this process (the embedded database's admin socket is a Unix socket, not counted). */
const listeningTcpServers = () =>
  (process as unknown as { _getActiveHandles(): unknown[] })
    ._getActiveHandles()
    .filter((h) => h instanceof net.Server && h.listening && typeof h.address() === 'object').length;

describe('Prometheus metrics on METRICS_PORT', () => {
  let server: TestServer;
  let metricsPort: number;
  let echo: Awaited<ReturnType<typeof startEchoUpstream>>;
  let fake: FakeOAuthProvider;
  let flow: TokenFlow;
  let listenersOpened: number;
  /** Every secret value the test handles: none may appear in a scrape. */
  const secrets = new Set<string>();

  const scrape = async () => {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    return { text, samples: parse(text) };
  };
  /** How much each named sample moved while `run` ran. */
  async function delta(run: () => Promise<void>, probes: [string, Record<string, string>][]): Promise<number[]> {
    const before = (await scrape()).samples;
    await run();
    const after = (await scrape()).samples;
    return probes.map(([name, labels]) => value(after, name, labels) - value(before, name, labels));
  }

  beforeAll(async () => {
    echo = await startEchoUpstream();
    fake = await new FakeOAuthProvider().start();
    metricsPort = await freePort();
    const before = listeningTcpServers();
    server = await startTestServer({
      plugins: [echoPlugin(() => echo.url)],
      env: {
        METRICS_PORT: String(metricsPort),
        METRICS_HOST: '127.0.0.1',
        UPSTREAM_PROVIDERS: JSON.stringify([fake.config('fakeoauth'), fake.config('fakeother')]),
        UPSTREAM_TIMEOUT_MS: '1000',
      },
    });
    listenersOpened = listeningTcpServers() - before;
    flow = new TokenFlow(server);
  }, 180_000);
  afterAll(async () => {
    await server?.stop();
    await echo?.close();
    await fake?.stop();
  });

  /** A client-credentials token for the machine client, which must be issued; the token joins the secrets checked. */
  async function machineToken(machine: { clientId: string; clientSecret?: string }): Promise<void> {
    const cc = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: { authorization: basic(machine.clientId, machine.clientSecret!), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'echo.read', resource: server.config.RESOURCE_URL }),
    });
    expect(cc.status).toBe(200);
    secrets.add(((await cc.json()) as { access_token: string }).access_token);
  }

  it('serves the text format at GET /metrics on its own port, with the process metrics, and nothing else there', async () => {
    expect(server.metricsUrl).toBe(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(listenersOpened).toBe(2);
    const { samples } = await scrape();
    expect(value(samples, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(samples.some((s) => s.name === 'nodejs_eventloop_lag_seconds')).toBe(true);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { method: 'POST' })).status).toBe(404);
    // The app's port does not serve them.
    expect((await fetch(`${server.url}/metrics`)).status).toBe(404);
  });

  it('counts tokens by grant type, a refresh-token replay as a reuse detection, and times the token route', async () => {
    const app = await server.addClient({ name: 'Metrics app', redirectUris: [redirectUri] });
    const machine = await server.addClient({ name: 'Metrics machine', grantTypes: ['client_credentials'], scope: 'echo.read' });
    secrets.add(app.clientSecret!).add(machine.clientSecret!);
    const [codes, refreshes, machines, reuse, tokenOk, tokenBad] = await delta(async () => {
      const first = issued(await flow.redeem(await flow.code(app, { scope: 'openid echo.read', offline: true }), app));
      const rotated = await flow.refresh(first.refreshToken, app);
      expect(rotated.status).toBe(200);
      // The spent refresh token comes back: oidc-provider revokes the grant (RFC 9700 §4.14).
      const replay = await flow.refresh(first.refreshToken, app);
      expect(replay.status).toBe(400);
      expect(replay.body.error).toBe('invalid_grant');
      expect(await flow.active(app, issued(rotated).accessToken)).toBe(false);
      await machineToken(machine);
    }, [
      ['oauth3_tokens_issued_total', { grant_type: 'authorization_code' }],
      ['oauth3_tokens_issued_total', { grant_type: 'refresh_token' }],
      ['oauth3_tokens_issued_total', { grant_type: 'client_credentials' }],
      ['oauth3_token_reuse_detected_total', { grant_type: 'refresh_token' }],
      ['oauth3_http_request_duration_seconds_count', { method: 'POST', route: 'token', status_class: '2xx' }],
      ['oauth3_http_request_duration_seconds_count', { method: 'POST', route: 'token', status_class: '4xx' }],
    ]);
    expect({ codes, refreshes, machines, reuse, tokenOk, tokenBad }).toEqual({
      codes: 1,
      refreshes: 1,
      machines: 1,
      reuse: 1,
      tokenOk: 3,
      tokenBad: 1,
    });
    for (const s of flow.secrets) secrets.add(s);
  });

  it('counts a refresh as issued only once its tokens are stored: of parallel refreshes with one token, the winner alone', async () => {
    const app = await server.addClient({ name: 'Metrics race app', redirectUris: [redirectUri] });
    secrets.add(app.clientSecret!);
    const { refreshToken } = issued(await flow.redeem(await flow.code(app, { scope: 'openid echo.read', offline: true }), app));
    let won = 0;
    const [refreshes, refused] = await delta(async () => {
      // oidc-provider reports every one of them issued before its answer; the one statement that spends the token
      // and stores the new ones decides which is.
      const replies = await Promise.all(Array.from({ length: 10 }, () => flow.refresh(refreshToken, app)));
      won = replies.filter((r) => r.status === 200).length;
      expect(won).toBeLessThanOrEqual(1);
      expect(replies.filter((r) => r.status === 400)).toHaveLength(10 - won);
    }, [
      ['oauth3_tokens_issued_total', { grant_type: 'refresh_token' }],
      ['oauth3_http_request_duration_seconds_count', { method: 'POST', route: 'token', status_class: '4xx' }],
    ]);
    expect({ refreshes, refused }).toEqual({ refreshes: won, refused: 10 - won });
    for (const s of flow.secrets) secrets.add(s);
  });

  it('counts the SQL statements the server sends, and no Redis commands without Redis', async () => {
    const machine = await server.addClient({ name: 'Statements machine', grantTypes: ['client_credentials'], scope: 'echo.read' });
    secrets.add(machine.clientSecret!);
    const [statements] = await delta(async () => {
      await machineToken(machine);
    }, [['oauth3_db_statements_total', {}]]);
    // At least the token's write (stored in SQL without Redis).
    expect(statements).toBeGreaterThanOrEqual(1);
    const { samples } = await scrape();
    expect(value(samples, 'oauth3_db_statements_total')).toBeGreaterThan(statements!);
    expect(samples.some((s) => s.name === 'oauth3_redis_commands_total')).toBe(false);
  });

  it('labels requests by route pattern, never by the raw path with its ids', async () => {
    const { samples } = await scrape();
    const routes = new Set(samples.filter((s) => s.name === 'oauth3_http_request_duration_seconds_count').map((s) => s.labels.route));
    // The consent pages went through /interaction/<uid>: counted under the pattern.
    expect([...routes].some((r) => r?.includes('/interaction/:uid'))).toBe(true);
    expect([...routes].some((r) => /\/interaction\/(?!:)/.test(r ?? ''))).toBe(false);
    expect(routes).toContain('authorization');
    for (const route of routes) expect(route).toMatch(/^(\/[\w/:*.-]*|[a-z_]+)$/);
  });

  it("counts resource API calls that used an owner's upstream account, by provider and outcome, and vault operations", async () => {
    const owner = await Owner.signUp(server);
    const [sealed] = await delta(async () => {
      await server.app.connections.save(owner.accountId, {
        provider: 'echo',
        kind: 'echo.key',
        label: 'echo',
        secret: { key: 'echo-key-metrics-secret' },
      });
    }, [['oauth3_vault_operations_total', { operation: 'seal', outcome: 'ok' }]]);
    expect(sealed).toBe(1);
    secrets.add('echo-key-metrics-secret');
    const token = await owner.agentToken(['echo.read']);
    secrets.add(token);

    const [ok, failed, opened, route] = await delta(async () => {
      expect((await callApi(server, '/echo/me', token)).status).toBe(200);
      expect((await callApi(server, '/echo/me', token)).status).toBe(200);
      echo.state.fail = true;
      const res = await callApi(server, '/echo/me', token);
      echo.state.fail = false;
      expect(res.status).toBe(502);
      // No upstream account used: not an upstream call.
      expect((await callApi(server, '/echo/items/7', token)).status).toBe(200);
    }, [
      ['oauth3_upstream_calls_total', { provider: 'echo', outcome: 'ok' }],
      // A plugin's own 5xx is not shown to the caller, nor named in a label.
      ['oauth3_upstream_calls_total', { provider: 'echo', outcome: 'server_error' }],
      ['oauth3_vault_operations_total', { operation: 'open', outcome: 'ok' }],
      ['oauth3_http_request_duration_seconds_count', { method: 'GET', route: '/api/echo/items/:id', status_class: '2xx' }],
    ]);
    expect({ ok, failed, opened, route }).toEqual({ ok: 2, failed: 1, opened: 3, route: 1 });
  });

  it('counts upstream token refreshes and their failures by provider', async () => {
    const owner = await Owner.signUp(server);
    const expired = () => ({
      kind: 'oauth2' as const,
      label: 'Fake',
      secret: { ...fake.issue(), token_type: 'bearer' },
      expiresAt: new Date(Date.now() - 1000),
    });
    await server.app.connections.save(owner.accountId, { provider: 'fakeoauth', ...expired() });
    await server.app.connections.save(owner.accountId, { provider: 'fakeother', ...expired() });
    const token = await owner.agentToken(['upstream:fakeoauth', 'upstream:fakeother']);
    secrets.add(token);
    const [refreshed, failed, revoked, callsOk, callsFailed] = await delta(async () => {
      expect((await callApi(server, '/upstream/fakeoauth/v1/me', token)).status).toBe(200);
      fake.tokenMode = 'fail';
      const res = await callApi(server, '/upstream/fakeother/v1/me', token);
      fake.tokenMode = 'ok';
      expect(res.status).toBe(502);
    }, [
      ['oauth3_upstream_token_refreshes_total', { provider: 'fakeoauth', outcome: 'ok' }],
      ['oauth3_upstream_token_refreshes_total', { provider: 'fakeother', outcome: 'failed' }],
      ['oauth3_upstream_token_refreshes_total', { provider: 'fakeother', outcome: 'revoked' }],
      ['oauth3_upstream_calls_total', { provider: 'fakeoauth', outcome: 'ok' }],
      ['oauth3_upstream_calls_total', { provider: 'fakeother', outcome: 'upstream_unavailable' }],
    ]);
    expect({ refreshed, failed, revoked, callsOk, callsFailed }).toEqual({
      refreshed: 1,
      failed: 1,
      revoked: 0,
      callsOk: 1,
      callsFailed: 1,
    });
    for (const s of fake.secrets) secrets.add(s);
  });

  it('never shows a token, a secret or a credential', async () => {
    const { text } = await scrape();
    expect(secrets.size).toBeGreaterThan(10);
    for (const secret of secrets) expect(text).not.toContain(secret);
  });
});

describe('metrics turned off', () => {
  it('METRICS_PORT=0 opens no listener besides the app', async () => {
    const before = listeningTcpServers();
    const off = await startTestServer({ env: { METRICS_PORT: '0' } });
    try {
      expect(off.metricsUrl).toBeUndefined();
      expect(listeningTcpServers() - before).toBe(1);
      expect((await fetch(`${off.url}/metrics`)).status).toBe(404);
    } finally {
      await off.stop();
    }
  }, 180_000);
});
