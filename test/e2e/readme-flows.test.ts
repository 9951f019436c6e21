import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TokenFlow, basic } from '../helpers/token-flow.js';
import { runCommand } from '../helpers/cli.js';

/** The README's "Flows with curl" and its tables of pages show what a server really answers and serves. */

const root = path.resolve(import.meta.dirname, '../..');
const readme = readFileSync(path.join(root, 'README.md'), 'utf8');

/**
 * The response the README prints (a `# {…}` comment line) right after the line containing `marker`: its fields, where
 * "…" stands for any value, and whether a trailing `,…` allows more fields.
 */
function documentedResponse(marker: string): { fields: Record<string, unknown>; more: boolean } {
  const lines = readme.split('\n');
  const at = lines.findIndex((l) => l.includes(marker));
  expect(at).toBeGreaterThanOrEqual(0);
  const comment = lines.slice(at + 1).find((l) => l.startsWith('# {'));
  expect(comment).toBeDefined();
  let text = comment!.slice(2).trim();
  const more = text.endsWith(',…}');
  if (more) text = `${text.slice(0, -3)}}`;
  return { fields: JSON.parse(text) as Record<string, unknown>, more };
}

/** The real response matches the documented one: each field there, each value equal unless documented as "…". */
function expectDocumented(body: Record<string, unknown>, documented: ReturnType<typeof documentedResponse>) {
  for (const [key, value] of Object.entries(documented.fields)) {
    expect(body).toHaveProperty(key);
    if (value !== '…') expect({ [key]: body[key] }).toEqual({ [key]: value });
  }
  if (!documented.more) expect(Object.keys(body).sort()).toEqual(Object.keys(documented.fields).sort());
}

describe('the README against a running server', () => {
  let server: TestServer;
  let flow: TokenFlow;
  beforeAll(async () => {
    server = await startTestServer();
    flow = new TokenFlow(server);
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('the authorization code + PKCE example prints the token response the server gives', async () => {
    const app = await server.addClient({ name: 'My app', redirectUris: ['http://localhost:8080/callback'] });
    // The README's request: openid offline_access tweet.post, with prompt=consent (which offline_access needs).
    const grant = await flow.code(app, { scope: 'openid tweet.post', offline: true, redirectUri: 'http://localhost:8080/callback' });
    const reply = await flow.redeem(grant, app);
    expect(reply.status).toBe(200);
    expectDocumented(reply.body, documentedResponse('-d redirect_uri=http://localhost:8080/callback -d code_verifier='));
  }, 120_000);

  it('the client credentials example prints the token response the server gives', async () => {
    const machine = await server.addClient({ name: 'Machine', grantTypes: ['client_credentials'], scope: 'tweet.read' });
    const res = await fetch(`${server.url}/token`, {
      method: 'POST',
      headers: { authorization: basic(machine.clientId, machine.clientSecret!), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'tweet.read' }),
    });
    expect(res.status).toBe(200);
    expectDocumented(
      (await res.json()) as Record<string, unknown>,
      documentedResponse('-d grant_type=client_credentials -d scope=tweet.read'),
    );
  });

  it('`clients add --resource-server` alone registers a client that introspects tokens', async () => {
    // The server holds the embedded database: the command goes to it over the admin socket, as in the README.
    const { code, out, err } = await runCommand(['clients', 'add', '--name', 'My API', '--resource-server', '--json'], {
      NODE_ENV: 'test',
      DATA_DIR: server.config.DATA_DIR,
      LOG_LEVEL: 'silent',
    });
    expect({ code, err }).toEqual({ code: 0, err: '' });
    const rs = JSON.parse(out) as { client_id: string; client_secret: string; grant_types: string[]; redirect_uris: string[] };
    expect(rs).toMatchObject({ grant_types: ['client_credentials'], redirect_uris: [], resource_server: true });
    const { accessToken } = await flow.tokens(await server.addClient({ name: 'App', redirectUris: ['https://app.example.com/callback'] }));
    const reply = await flow.post(
      '/token/introspection',
      { token: accessToken },
      { clientId: rs.client_id, clientSecret: rs.client_secret },
    );
    expect(reply.body).toMatchObject({ active: true, aud: server.config.RESOURCE_URL });
  }, 120_000);

  it.each([
    ['/console/agents', "## Owner's console"],
    ['/developers/playground', '## Developer portal'],
  ])("%s is in the README's table of pages, and exists", async (page, section) => {
    const start = readme.indexOf(`\n${section}\n`);
    expect(start).toBeGreaterThan(0);
    const end = readme.indexOf('\n## ', start + 1);
    expect(readme.slice(start, end)).toMatch(new RegExp(`^\\| \`${page}\` \\|`, 'm'));
    // Without a session the page sends the browser to sign in (it exists), where an unknown page is 404.
    const res = await fetch(`${server.url}${page}`, { redirect: 'manual' });
    expect(res.status).not.toBe(404);
    expect((await fetch(`${server.url}${page}-nothing-here`, { redirect: 'manual' })).status).toBe(404);
  });
});
