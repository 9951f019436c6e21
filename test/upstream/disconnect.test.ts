import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { FakeOAuthProvider } from '../fakes/oauth-provider.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { Owner } from '../helpers/owner.js';
import { FaultyGateway } from './gateway.js';
import { Seen, connectFromConsole, firstLeak, providerEntry, stored, upstreamSecrets } from './through-server.js';

/**
 * Disconnecting an OAuth account gives back what oauth3 held: the provider is asked to revoke the refresh and access
 * tokens (RFC 7009), and the connection goes even when the provider cannot be reached.
 */
describe('disconnecting an upstream OAuth account', () => {
  let fake: FakeOAuthProvider;
  let gateway: FaultyGateway;
  let server: TestServer;
  const seen = new Seen();

  beforeAll(async () => {
    fake = await new FakeOAuthProvider().start();
    gateway = await new FaultyGateway(() => fake.url).start();
    const entry = { ...providerEntry(fake, gateway), revocationUrl: `${fake.url}/revoke` };
    server = await startTestServer({ env: { UPSTREAM_PROVIDERS: JSON.stringify([entry]), UPSTREAM_TIMEOUT_MS: '500' } });
    seen.logs.push(server.logs);
  });
  afterAll(async () => {
    await server?.stop();
    await gateway?.stop();
    await fake?.stop();
  });

  it('asks the provider to revoke the refresh and access tokens, then removes the connection', async () => {
    const owner = await Owner.signUp(server);
    await connectFromConsole(owner, seen);
    const { connection, secret } = await stored(server, owner.accountId);
    expect(fake.refreshTokens.has(secret.refresh_token!)).toBe(true);

    const res = await owner.api.send('DELETE', `/console/api/connections/${connection.id}`);
    await seen.response(res);
    expect(res.status).toBeLessThan(300);
    expect(fake.requests.filter((r) => r.path === '/revoke' && r.method === 'POST')).toHaveLength(2);
    expect(fake.refreshTokens.has(secret.refresh_token!)).toBe(false);
    expect(fake.accessTokens.has(secret.access_token)).toBe(false);
    expect(await seen.connections(owner)).toEqual([]);
  });

  it('still removes the connection when the provider cannot be reached, and logs no token', async () => {
    const owner = await Owner.signUp(server);
    await connectFromConsole(owner, seen);
    const { connection } = await stored(server, owner.accountId);
    await fake.stop();
    const res = await owner.api.send('DELETE', `/console/api/connections/${connection.id}`);
    await seen.response(res);
    expect(res.status).toBeLessThan(300);
    expect(await seen.connections(owner)).toEqual([]);
    expect(server.logs.join('')).toMatch(/upstream token revocation failed/);
    expect(firstLeak([...seen.texts, ...seen.logs.flat()], upstreamSecrets(fake))).toBeUndefined();
  });
});
