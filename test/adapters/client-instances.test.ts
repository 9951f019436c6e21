import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { ClientAdapter } from '../../adapters/client.js';
import { ManualClock } from '../../src/clock.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TokenFlow } from '../helpers/token-flow.js';
import { backends } from '../helpers/services.js';

/**
 * oidc-provider's Client instances are handed out again while the client cache keeps their row
 * (adapters/client-instances.ts): without the adapter's lookup, and never past a change to the client or its secrets,
 * nor past the end of a grace period (threat model F3, F5).
 */
describe.each(backends())('Client instances reused while their row is kept, on %s', (backend) => {
  let server: TestServer;
  const clock = new ManualClock();
  const HOUR = 3_600_000;
  const adapterFinds = () => jest.spyOn(ClientAdapter.prototype, 'find');

  beforeAll(async () => {
    server = await startTestServer({ backend, clock });
  });
  afterAll(async () => {
    await server?.stop();
  });
  afterEach(() => {
    jest.restoreAllMocks();
  });

  /** A client-credentials token request: its status. */
  const token = async (clientId: string, clientSecret: string) =>
    (await new TokenFlow(server).token({ grant_type: 'client_credentials', scope: 'tweet.read' }, { clientId, clientSecret })).status;

  it('hands out the same instance without asking the adapter again', async () => {
    const { clientId } = await server.addClient({ name: 'Reused', grantTypes: ['client_credentials'], scope: 'tweet.read' });
    const first = await keptInstance(server, clientId);
    const finds = adapterFinds();
    for (let i = 0; i < 3; i++) expect(await server.app.provider.Client.find(clientId)).toBe(first);
    expect(finds).not.toHaveBeenCalled();
  });

  it('builds a new one after the client changes, and finds none once it is disabled', async () => {
    const { clientId, clientSecret } = await server.addClient({ name: 'Before', grantTypes: ['client_credentials'], scope: 'tweet.read' });
    expect(await token(clientId, clientSecret!)).toBe(200);
    const before = await keptInstance(server, clientId);
    expect(before.clientName).toBe('Before');

    await server.app.clients.update(clientId, { name: 'After', redirectUris: [], scope: 'tweet.read' });
    const after = await server.app.provider.Client.find(clientId);
    expect(after).not.toBe(before);
    expect(after?.clientName).toBe('After');

    await server.app.clients.setDisabled(clientId, true);
    expect(await server.app.provider.Client.find(clientId)).toBeUndefined();
    expect(await token(clientId, clientSecret!)).toBe(401);
  });

  it('stops taking a rotated-out secret when its grace period ends, with nothing changed in the database', async () => {
    const { clientId, clientSecret: old } = await server.addClient({
      name: 'Rotating',
      grantTypes: ['client_credentials'],
      scope: 'tweet.read',
    });
    const { clientSecret: fresh } = await server.app.clients.secrets().rotate(clientId, 3600);
    expect(await token(clientId, old!)).toBe(200);
    expect(await token(clientId, fresh)).toBe(200);
    const during = await keptInstance(server, clientId);
    expect(await server.app.provider.Client.find(clientId)).toBe(during);

    clock.advance(HOUR + 1000);
    const finds = adapterFinds();
    expect(await token(clientId, old!)).toBe(401);
    expect(await token(clientId, fresh)).toBe(200);
    // The end of the grace period is what made it look again: the row itself is still the one kept.
    expect(finds).toHaveBeenCalled();
  });
});

/**
 * The instance found once the client cache keeps the client's row: the database's announcement of the client's
 * creation arrives a moment after it and drops the row once, and the cache keeps rows only while it listens.
 */
async function keptInstance(server: TestServer, clientId: string) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const finds = jest.spyOn(ClientAdapter.prototype, 'find');
    const client = await server.app.provider.Client.find(clientId);
    const asked = finds.mock.calls.length;
    finds.mockRestore();
    if (client && asked === 0) return client;
    if (Date.now() > deadline) throw new Error('the client was never found without the adapter');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
