import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { FakeOAuthProvider } from '../fakes/oauth-provider.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { callApi, Owner } from '../helpers/owner.js';
import { loadConfig } from '../../src/config.js';
import { checkOwnUrl } from '../../src/upstream/owner-providers.js';
import { outboundFetch } from '../../src/provider/outbound-fetch.js';
import { randomBytes } from 'node:crypto';
import { OwnerProviderStore } from '../../src/upstream/owner-providers.js';
import { loadUpstreamProviders } from '../../src/upstream/providers.js';
import { PluginRegistry } from '../../src/plugins/registry.js';
import { Vault } from '../../src/vault/vault.js';
import { keyRing } from '../../src/keys/sealing.js';
import { rewrapAll } from '../../src/cli/rotate-master.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { newAccount, openTestDb } from './harness.js';
import { firstLeak, upstreamSecrets } from './through-server.js';

const ID = 'own-my-calendar';
const SCOPE = 'upstream:own';
const MCP_HEADERS = {
  accept: 'application/json, text/event-stream',
  'content-type': 'application/json',
  'mcp-protocol-version': '2025-11-25',
};

/**
 * "Bring your own OAuth app" through a real server: an owner adds a provider the operator never configured, in the
 * console only, connects through it and lets an app call its API with `upstream:own`; the client secret never comes
 * back; another owner can neither see, use nor connect it; bad URLs are refused; removing it disconnects.
 */
describe.each(backends())("owners' own OAuth apps on %s", (backend) => {
  let fake: FakeOAuthProvider;
  let server: TestServer;
  let owner: Owner;
  let other: Owner;
  const texts: string[] = [];

  /** The form's values for the fake provider. */
  const appInput = (extra: Record<string, unknown> = {}) => ({
    title: 'My calendar',
    authorizationUrl: `${fake.url}/authorize`,
    tokenUrl: `${fake.url}/token`,
    clientId: fake.clientId,
    clientSecret: fake.clientSecret,
    scopes: 'read write',
    apiBaseUrl: `${fake.url}/api`,
    allowedPaths: ['/v1'],
    ...extra,
  });

  async function send(who: Owner, method: 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown) {
    const res = await who.api.send(method, path, body);
    const text = await res.text();
    texts.push(text);
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown>, text };
  }
  async function get(who: Owner, path: string) {
    const res = await who.api.get(path);
    const text = await res.text();
    texts.push(text);
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown>, text };
  }

  /** Connect from the console: the provider's authorization page approves and sends the browser back. */
  async function connect(who: Owner) {
    const start = await send(who, 'POST', `/console/api/connections/oauth/${ID}`);
    expect(start.status).toBe(200);
    const url = new URL(start.body.authorization_url as string);
    expect(url.origin + url.pathname).toBe(`${fake.url}/authorize`);
    expect(url.searchParams.get('client_id')).toBe(fake.clientId);
    expect(url.searchParams.get('redirect_uri')).toBe(`${server.url}/connections/callback`);
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    const atProvider = await fetch(url, { redirect: 'manual' });
    expect(atProvider.status).toBe(302);
    const landed = await who.browser.navigate(atProvider.headers.get('location')!);
    texts.push(await landed.response.text());
    expect({ url: landed.url, status: landed.response.status }).toEqual({ url: `${server.url}/console/connections`, status: 200 });
  }

  beforeAll(async () => {
    fake = await new FakeOAuthProvider().start();
    server = await startTestServer({ backend, env: { UPSTREAM_OWN_ALLOW_HOSTS: new URL(fake.url).host, UPSTREAM_TIMEOUT_MS: '2000' } });
    owner = await Owner.signUp(server);
    other = await Owner.signUp(server);
  });
  afterAll(async () => {
    await server?.stop();
    await fake?.stop();
  });

  it('saves an own app in the console, namespaced own-<slug>, and never shows its client secret again', async () => {
    const saved = await send(owner, 'POST', '/console/api/connections/own', appInput());
    expect(saved.status).toBe(201);
    expect(saved.body.provider).toMatchObject({ id: ID, title: 'My calendar', client_secret_set: true, scopes: ['read', 'write'] });
    const listed = await get(owner, '/console/api/connections/own');
    expect(listed.body).toEqual({ providers: [expect.objectContaining({ id: ID })], redirect_uri: `${server.url}/connections/callback` });
    const page = await owner.browser.request('/console/connections');
    const html = await page.text();
    texts.push(html);
    expect(html).toContain('Connect another service with your own OAuth app');
    expect(html).toContain(`${server.url}/connections/callback`);
    expect(html).toContain('Client secret (set)');
    const ways = await get(owner, '/console/api/connections');
    expect(ways.body.ways).toEqual(expect.arrayContaining([expect.objectContaining({ provider: ID, method: 'oauth' })]));
    // The secret is sealed at rest, not in the settings.
    const { rows } = await server.db.query<{ settings: unknown; sealed: string }>('SELECT settings, sealed FROM owner_providers');
    expect(JSON.stringify(rows)).not.toContain(fake.clientSecret);
  });

  it('connects through it (authorization redirect with PKCE, callback, token) and an app calls its API with upstream:own', async () => {
    await connect(owner);
    const connections = await get(owner, '/console/api/connections');
    expect(connections.body.connections).toEqual([expect.objectContaining({ provider: ID, kind: 'oauth2', status: 'active' })]);
    const token = await owner.agentToken([SCOPE]);
    const res = await callApi(server, `/upstream/${ID}/v1/items?page=2`, token);
    texts.push(res.text);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ path: '/api/v1/items', query: '?page=2', bearer: '[redacted]' });
    // Outside the paths the owner allowed, nothing reaches the provider.
    const before = fake.requests.length;
    expect((await callApi(server, `/upstream/${ID}/v2/admin`, token)).status).toBe(400);
    expect(fake.requests.length).toBe(before);
    // Without the scope: refused.
    const noScope = await callApi(server, `/upstream/${ID}/v1/items`, await owner.agentToken(['tweet.read']));
    expect({ status: noScope.status, error: noScope.body.error }).toEqual({ status: 403, error: 'insufficient_scope' });
  });

  it('refreshes its token through the own app', async () => {
    await server.db.query(`UPDATE connections SET expires_at = now() - interval '1 minute' WHERE account_id = $1 AND provider = $2`, [
      owner.accountId,
      ID,
    ]);
    const refreshes = fake.refreshCount;
    const res = await callApi(server, `/upstream/${ID}/v1/items`, await owner.agentToken([SCOPE]));
    expect(res.status).toBe(200);
    expect(fake.refreshCount - refreshes).toBe(1);
  });

  it('answers through the upstream_own MCP tool for the owner only', async () => {
    const call = async (who: Owner) => {
      const token = await who.agentToken([SCOPE], 1, 'mcp');
      const res = await fetch(`${server.url}/mcp`, {
        method: 'POST',
        headers: { ...MCP_HEADERS, authorization: `Bearer ${token}` },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'tools/call',
          params: { name: 'upstream_own', arguments: { provider: ID, path: '/v1/items' } },
        }),
      });
      const text = await res.text();
      texts.push(text);
      return JSON.parse(text) as { result: { isError?: boolean; structuredContent?: Record<string, unknown> } };
    };
    const mine = await call(owner);
    expect(mine.result.isError).toBeFalsy();
    expect(mine.result.structuredContent).toMatchObject({ status: 200, body: { path: '/api/v1/items', bearer: '[redacted]' } });
    const theirs = await call(other);
    expect(theirs.result.isError).toBe(true);
    expect(JSON.stringify(theirs)).toContain('unknown_provider');
  });

  it('is invisible and unusable to another owner: not listed, not connectable, not callable, not editable', async () => {
    const list = await get(other, '/console/api/connections/own');
    expect(list.body.providers).toEqual([]);
    const ways = await get(other, '/console/api/connections');
    expect(JSON.stringify(ways.body.ways)).not.toContain(ID);
    expect((await send(other, 'POST', `/console/api/connections/oauth/${ID}`)).status).toBe(404);
    const call = await callApi(server, `/upstream/${ID}/v1/items`, await other.agentToken([SCOPE]));
    expect({ status: call.status, error: call.body.error }).toEqual({ status: 404, error: 'unknown_provider' });
    expect((await send(other, 'PATCH', `/console/api/connections/own/${ID}`, appInput())).status).toBe(404);
    expect((await send(other, 'DELETE', `/console/api/connections/own/${ID}`)).status).toBe(404);
    // The same name is theirs to use: a provider of their own, apart from the first owner's.
    const theirs = await send(other, 'POST', '/console/api/connections/own', appInput({ clientSecret: undefined }));
    expect(theirs.status).toBe(201);
    expect(theirs.body.provider).toMatchObject({ id: ID, client_secret_set: false });
    expect((await get(owner, '/console/api/connections/own')).body.providers).toEqual([
      expect.objectContaining({ id: ID, client_secret_set: true }),
    ]);
  });

  it('keeps the secret on an edit without one, and removes it when asked', async () => {
    const kept = await send(owner, 'PATCH', `/console/api/connections/own/${ID}`, appInput({ clientSecret: undefined, title: 'Calendar' }));
    expect(kept.body.provider).toMatchObject({ title: 'Calendar', client_secret_set: true });
    const removed = await send(
      owner,
      'PATCH',
      `/console/api/connections/own/${ID}`,
      appInput({ clientSecret: undefined, removeSecret: true }),
    );
    expect(removed.body.provider).toMatchObject({ client_secret_set: false });
    const { rows } = await server.db.query<{ has_secret: boolean }>('SELECT has_secret FROM owner_providers WHERE account_id = $1', [
      owner.accountId,
    ]);
    expect(rows).toEqual([{ has_secret: false }]);
    // A public app must use PKCE.
    const noPkce = await send(other, 'PATCH', `/console/api/connections/own/${ID}`, appInput({ clientSecret: undefined, usePkce: false }));
    expect({ status: noPkce.status, error: noPkce.body.error }).toEqual({ status: 400, error: 'invalid_provider' });
    expect(noPkce.body.error_description).toMatch(/PKCE/);
    expect((await send(owner, 'PATCH', `/console/api/connections/own/${ID}`, appInput())).body.provider).toMatchObject({
      client_secret_set: true,
    });
  });

  it('refuses bad URLs and bad input with clear errors', async () => {
    const refusals: [Record<string, unknown>, RegExp][] = [
      [{ tokenUrl: 'http://auth.example.com/token' }, /Token URL: must start with https/],
      [{ authorizationUrl: 'https://10.0.0.8/authorize' }, /Authorization URL: must be on the public internet/],
      [{ apiBaseUrl: 'https://[::1]/api' }, /API base URL: must be on the public internet/],
      [{ tokenUrl: 'https://metadata.internal/token' }, /Token URL: must be on the public internet/],
      [{ tokenUrl: 'https://user:pw@auth.example.com/token' }, /user name or password/],
      [{ authorizationUrl: 'not a url' }, /Authorization URL: is not a URL/],
      [{ title: '' }, /Name of the service: give the service a name/],
      [{ allowedPaths: ['v1'] }, /Allowed API paths/],
      [{ surprise: true }, /Unknown field: surprise/],
    ];
    for (const [change, message] of refusals) {
      const res = await send(owner, 'POST', '/console/api/connections/own', appInput({ title: 'Other', ...change }));
      expect({ change, status: res.status, error: res.body.error }).toEqual({ change, status: 400, error: 'invalid_provider' });
      expect(res.body.error_description).toMatch(message);
    }
    const badJson = await owner.browser.request('/console/api/connections/own', {
      method: 'POST',
      headers: { accept: 'application/json', 'content-type': 'application/json', 'x-csrf-token': owner.csrf },
      body: '{"title": ',
    });
    expect(badJson.status).toBe(400);
    const duplicate = await send(owner, 'POST', '/console/api/connections/own', appInput());
    expect(duplicate.status).toBe(409);
  });

  it('refuses at call time a host name that resolves to a private address (the guarded fetch)', async () => {
    // Written past the form's checks, as if DNS had pointed a public name at a private address later.
    await server.db.query(
      `UPDATE owner_providers SET settings = jsonb_set(settings, '{tokenUrl}', to_jsonb($3::text)) WHERE account_id = $1 AND provider = $2`,
      [owner.accountId, ID, `https://localhost:${new URL(fake.url).port}/token`],
    );
    await server.db.query(`UPDATE connections SET expires_at = now() - interval '1 minute' WHERE account_id = $1 AND provider = $2`, [
      owner.accountId,
      ID,
    ]);
    const before = fake.requests.length;
    const res = await callApi(server, `/upstream/${ID}/v1/items`, await owner.agentToken([SCOPE]));
    expect({ status: res.status, error: res.body.error }).toEqual({ status: 502, error: 'upstream_unavailable' });
    expect(fake.requests.length).toBe(before);
    await send(owner, 'PATCH', `/console/api/connections/own/${ID}`, appInput({ clientSecret: undefined }));
  });

  it('removing the app disconnects its account; a form post adds one back', async () => {
    const removed = await send(owner, 'DELETE', `/console/api/connections/own/${ID}`);
    expect(removed.body).toEqual({ removed: true });
    expect((await get(owner, '/console/api/connections')).body.connections).toEqual([]);
    const call = await callApi(server, `/upstream/${ID}/v1/items`, await owner.agentToken([SCOPE]));
    expect(call.status).toBe(404);
    // The other owner's app of the same name is untouched.
    expect((await get(other, '/console/api/connections/own')).body.providers).toEqual([expect.objectContaining({ id: ID })]);

    const form = await owner.browser.postForm('/console/connections/own', {
      csrf: owner.csrf,
      title: 'From the page',
      authorizationUrl: `${fake.url}/authorize`,
      tokenUrl: `${fake.url}/token`,
      clientId: fake.clientId,
      clientSecret: fake.clientSecret!,
      usePkce: 'on',
      tokenAuthMethod: 'basic',
      scopes: 'read',
      apiBaseUrl: '',
      allowedPaths: '',
    });
    expect(form.status).toBe(303);
    expect((await get(owner, '/console/api/connections/own')).body.providers).toEqual([
      expect.objectContaining({ id: 'own-from-the-page', client_secret_set: true, api_base_url: null }),
    ]);
    // The page's edit form: no secret typed keeps the saved one; the box removes it (PKCE stays on).
    const edit = (fields: Record<string, string>) =>
      owner.browser.postForm('/console/connections/own/own-from-the-page', {
        csrf: owner.csrf,
        title: 'Renamed',
        authorizationUrl: `${fake.url}/authorize`,
        tokenUrl: `${fake.url}/token`,
        clientId: fake.clientId,
        clientSecret: '',
        usePkce: 'on',
        ...fields,
      });
    expect((await edit({})).status).toBe(303);
    expect((await get(owner, '/console/api/connections/own')).body.providers).toEqual([
      expect.objectContaining({ id: 'own-from-the-page', title: 'Renamed', client_secret_set: true }),
    ]);
    expect((await edit({ removeSecret: 'on' })).status).toBe(303);
    expect((await get(owner, '/console/api/connections/own')).body.providers).toEqual([
      expect.objectContaining({ id: 'own-from-the-page', client_secret_set: false, use_pkce: true }),
    ]);
    const refused = await owner.browser.postForm('/console/connections/own', {
      csrf: owner.csrf,
      title: 'Bad',
      authorizationUrl: 'https://192.168.1.1/authorize',
      tokenUrl: `${fake.url}/token`,
      clientId: 'x',
      clientSecret: 'cs_typed_secret_never_echoed',
    });
    const page = await refused.text();
    expect(refused.status).toBe(400);
    expect(page).toContain('must be on the public internet');
    expect(page).not.toContain('cs_typed_secret_never_echoed');
  });

  it('never puts the client secret or an upstream token in a response or a log line', () => {
    expect(firstLeak([...texts, ...server.logs], upstreamSecrets(fake))).toBeUndefined();
  });
});

describe('own app URLs', () => {
  it('are fetched only on public addresses, the names resolved first; allowed hosts only are exempt', async () => {
    const fake = await new FakeOAuthProvider().start();
    try {
      const { host, port } = new URL(fake.url);
      const guarded = outboundFetch({ timeoutMs: 2000, allowHosts: [host], httpForAllowHosts: true });
      expect((await guarded(`${fake.url}/me`)).status).toBe(401);
      // localhost resolves to a loopback address: refused before any connection, whatever the scheme would do.
      await expect(guarded(`https://localhost:${port}/token`)).rejects.toMatchObject({ cause: { code: 'ENOTPUBLIC' } });
      await expect(guarded(`http://localhost:${port}/token`)).rejects.toThrow(/only https/);
      const before = fake.requests.length;
      await expect(outboundFetch({ timeoutMs: 2000 })(`http://${host}/me`)).rejects.toThrow(/only https/);
      expect(fake.requests.length).toBe(before);
    } finally {
      await fake.stop();
    }
  });

  it('are https on a public host, unless UPSTREAM_OWN_ALLOW_HOSTS names them (refused in production)', () => {
    expect(checkOwnUrl('tokenUrl', 'https://auth.example.com/token', [])).toBe('https://auth.example.com/token');
    expect(() => checkOwnUrl('tokenUrl', 'http://127.0.0.1:8080/token', [])).toThrow(/https/);
    expect(checkOwnUrl('tokenUrl', 'http://127.0.0.1:8080/token', ['127.0.0.1:8080'])).toBe('http://127.0.0.1:8080/token');
    for (const host of ['169.254.169.254', '[fd00::1]', '0x7f000001', 'localhost', 'printer.local', 'intranet'])
      expect(() => checkOwnUrl('tokenUrl', `https://${host}/token`, [])).toThrow(/public internet/);
    expect(() =>
      loadConfig({ NODE_ENV: 'production', ISSUER: 'https://auth.example.com', UPSTREAM_OWN_ALLOW_HOSTS: '127.0.0.1:1' }),
    ).toThrow(/UPSTREAM_OWN_ALLOW_HOSTS: development and tests only/);
  });
});

describe("own apps at rest and in the operator's configuration", () => {
  it('master-key rotation re-wraps their sealed secrets, which then open under the new key alone (G4, G15)', async () => {
    const store = await openTestDb('pglite');
    const { db } = store;
    try {
      const [oldKey, newKey] = [randomBytes(32), randomBytes(32)];
      const options = { allowHosts: [], fetch: (() => Promise.reject(new Error('no fetch here'))) as never };
      const accountId = await newAccount(db);
      await new OwnerProviderStore(db, new Vault(keyRing(oldKey)), options).save(accountId, {
        title: 'Calendar',
        authorizationUrl: 'https://auth.example.com/authorize',
        tokenUrl: 'https://auth.example.com/token',
        clientId: 'client',
        clientSecret: 'cs_rotated_secret',
      });
      const counts = await rewrapAll(db, keyRing(newKey, [oldKey]));
      expect(counts.find((c) => c.table === 'owner_providers')).toEqual({ table: 'owner_providers', rewrapped: 1, current: 0, failed: [] });
      const found = await new OwnerProviderStore(db, new Vault(keyRing(newKey)), options).find(accountId, 'own-calendar');
      expect(found).toMatchObject({ id: 'own-calendar', clientSecret: 'cs_rotated_secret', ownerId: accountId });
    } finally {
      await store.close();
    }
  });

  it('an operator provider may not take an own- id', () => {
    const config = loadConfig({
      NODE_ENV: 'test',
      UPSTREAM_PROVIDERS: JSON.stringify([
        { id: 'own-calendar', authorizationUrl: 'https://a.example.com/a', tokenUrl: 'https://a.example.com/t', clientId: 'c' },
      ]),
    });
    expect(() => loadUpstreamProviders(config, new PluginRegistry([]))).toThrow(/ids starting with own- are kept for owners/);
  });

  it('counts own apps in metrics as one provider, "own", never by their names', async () => {
    const metrics = new Metrics();
    metrics.refresh('own-my-secret-project', 'ok');
    const text = await metrics.scrape();
    expect(text).toContain('provider="own"');
    expect(text).not.toContain('my-secret-project');
  });
});
