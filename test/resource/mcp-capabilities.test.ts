import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Owner } from '../helpers/owner.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * What the MCP server promises a client at initialisation: tools, and no tool-list notifications, which a stateless
 * server (no session, no stream) could never send.
 */
describe('the MCP server at initialisation', () => {
  let server: TestServer;
  let token: string;
  beforeAll(async () => {
    server = await startTestServer();
    const owner = await Owner.signUp(server);
    const minted = await owner.api.send('POST', '/console/api/tokens', { name: 'MCP', scopes: ['tweet.read'], resource: 'mcp' });
    token = ((await minted.json()) as { token: string }).token;
  });
  afterAll(() => server?.stop());

  it('declares tools without listChanged', async () => {
    const res = await fetch(server.config.MCP_URL, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, accept: 'application/json, text/event-stream', 'content-type': 'application/json' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'test', version: '1' } },
      }),
    });
    expect(res.status).toBe(200);
    const { result } = (await res.json()) as { result: { capabilities: Record<string, unknown> } };
    expect(result.capabilities.tools).toEqual({ listChanged: false });
  });
});
