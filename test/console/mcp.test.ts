import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Owner } from '../helpers/owner.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/** A provider with an API whose title is HTML: its tool ("Call the … API") and scope must show as text. */
const sneakyHub = {
  id: 'sneakyhub',
  title: '<script>alert(1)</script>Hub',
  authorizationUrl: 'http://127.0.0.1:9/oauth/authorize',
  tokenUrl: 'http://127.0.0.1:9/oauth/token',
  clientId: 'sneakyhub-client',
  scopes: ['read'],
  apiBaseUrl: 'http://127.0.0.1:9/api',
  allowedPaths: ['/v1'],
};

const MCP_HEADERS = { accept: 'application/json, text/event-stream', 'content-type': 'application/json' };
const initialize = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'console test', version: '1.0.0' } },
};

/** The text of a read-only field or box of the page, by its id, as the browser shows it (entities decoded). */
function fieldText(page: string, id: string): string | undefined {
  const input = new RegExp(`id="${id}"[^>]*value="([^"]*)"`).exec(page)?.[1];
  const box = new RegExp(`id="${id}"[^>]*>([^<]*)</textarea>`).exec(page)?.[1];
  const text = input ?? box;
  return text
    ?.replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&#96;/g, '`')
    .replace(/&amp;/g, '&');
}

/**
 * "Use with an MCP client" (/console/mcp): the owner reads the MCP server's address, what to paste into common
 * clients and which tool needs which permission, and mints a token that works at the MCP server and nowhere else.
 */
describe('the MCP page of the console', () => {
  let server: TestServer;
  let owner: Owner;
  const seen: string[] = [];

  const mcpCall = (token: string, body: unknown = initialize) =>
    fetch(`${server.url}/mcp`, {
      method: 'POST',
      headers: { ...MCP_HEADERS, authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });

  /** Posts the form and, after a mint, follows its redirect to the one-time view of the token. */
  async function mintFromPage(fields: Record<string, string>) {
    const posted = await owner.browser.postForm('/console/mcp', { csrf: owner.csrf, ...fields });
    if (posted.status === 303) expect(posted.headers.get('location')).toBe('/console/mcp?done=minted');
    const res = posted.status === 303 ? await owner.browser.request(posted.headers.get('location')!) : posted;
    const page = await res.text();
    const token = fieldText(page, 'new-mcp-token-value');
    if (token) seen.push(token);
    return { res, page, token };
  }

  beforeAll(async () => {
    server = await startTestServer({ env: { UPSTREAM_PROVIDERS: JSON.stringify([sneakyHub]) } });
    owner = await Owner.signUp(server);
  });
  afterAll(() => server?.stop());

  it('shows a signed-in owner the address, the settings to paste and every tool with the permission it needs', async () => {
    const res = await owner.browser.request('/console/mcp');
    expect(res.status).toBe(200);
    const page = await res.text();
    const url = `${server.url}/mcp`;
    expect(url).toBe(server.config.MCP_URL);
    expect(page).toContain('<h1>Use with an MCP client</h1>');
    expect(page).toMatch(/<a href="\/console\/mcp" aria-current="page">/);
    expect(fieldText(page, 'mcp-url')).toBe(url);
    expect(JSON.parse(fieldText(page, 'mcp-mcp-servers')!)).toEqual({ mcpServers: { oauth3: { url } } });
    expect(JSON.parse(fieldText(page, 'mcp-vscode')!)).toEqual({ servers: { oauth3: { type: 'http', url } } });
    expect(fieldText(page, 'mcp-claude-code')).toBe(`claude mcp add --transport http oauth3 ${url}`);
    expect(fieldText(page, 'mcp-inspector')).toBe('npx @modelcontextprotocol/inspector');
    expect(page).toContain('Streamable HTTP');
    expect(page).toContain('<a href="/console/apps">Connected apps</a>');

    for (const [tool, scope] of [
      ['get_me', 'tweet.read'],
      ['post_tweet', 'tweet.post'],
      ['delete_tweet', 'tweet.delete'],
      ['send_telegram_message', 'telegram.post_any'],
      ['upstream_sneakyhub', 'upstream:sneakyhub'],
    ]) {
      expect(page).toMatch(new RegExp(`<code>${tool}</code>[\\s\\S]*?<code class="scope-name">${scope}</code>`));
    }
    // The form offers only what some tool needs.
    expect(page).toContain('name="scope:tweet.post"');
    expect(page).not.toContain('name="scope:openid"');
  });

  it('keeps an upstream title and a token name with HTML as text', async () => {
    const page = await (await owner.browser.request('/console/mcp')).text();
    expect(page).not.toContain('<script>alert(1)</script>');
    expect(page).toContain('Call the &lt;script&gt;alert(1)&lt;/script&gt;Hub API');

    const { res, page: shown, token } = await mintFromPage({ name: '<img src=x onerror=alert(1)>"', 'scope:tweet.read': 'on' });
    expect(res.status).toBe(200);
    expect(token).toEqual(expect.any(String));
    expect(shown).not.toContain('<img src=x');
    expect(shown).toContain('for “&lt;img src=x onerror=alert(1)&gt;&quot;”');
  });

  it('answers the same as JSON for scripts', async () => {
    const res = await owner.api.get('/console/api/mcp');
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      url: string;
      self_registration: boolean;
      tools: { name: string; scope: string; read_only: boolean }[];
    };
    expect(body.url).toBe(server.config.MCP_URL);
    expect(body.self_registration).toBe(true);
    expect(body.tools).toContainEqual(expect.objectContaining({ name: 'get_me', scope: 'tweet.read', read_only: true }));
    expect(body.tools).toContainEqual(expect.objectContaining({ name: 'post_tweet', scope: 'tweet.post', read_only: false }));
    expect(body.tools).toContainEqual(expect.objectContaining({ name: 'upstream_sneakyhub', scope: 'upstream:sneakyhub' }));
  });

  it('mints a token from the page, shown once with the settings that carry it, that works at /mcp and not at /api', async () => {
    const { res, page, token } = await mintFromPage({ name: 'Desktop assistant', 'scope:tweet.read': 'on', lifetime_hours: '1' });
    expect(res.status).toBe(200);
    expect(page).toContain('Token made. Copy it now');
    expect(token).toMatch(/^[\w-]{20,}$/);
    const url = server.config.MCP_URL;
    const headers = { Authorization: `Bearer ${token}` };
    expect(JSON.parse(fieldText(page, 'new-mcp-mcp-servers')!)).toEqual({ mcpServers: { oauth3: { url, headers } } });
    expect(JSON.parse(fieldText(page, 'new-mcp-vscode')!)).toEqual({ servers: { oauth3: { type: 'http', url, headers } } });
    expect(fieldText(page, 'new-mcp-claude-code')).toBe(
      `claude mcp add --transport http oauth3 ${url} --header 'Authorization: Bearer ${token}'`,
    );

    const init = await mcpCall(token!);
    expect(init.status).toBe(200);
    expect(await init.json()).toMatchObject({ jsonrpc: '2.0', id: 1, result: { serverInfo: { name: 'oauth3' } } });
    const api = await fetch(`${server.url}/api/me`, { headers: { authorization: `Bearer ${token}` } });
    expect(api.status).toBe(401);
    expect((await api.json()) as { error: string }).toMatchObject({ error: 'invalid_token' });

    // Shown once: the page and the lists never hold it again; Agent tokens marks it as an MCP token.
    expect(await (await owner.browser.request('/console/mcp')).text()).not.toContain(token!);
    const tokensPage = await (await owner.browser.request('/console/tokens')).text();
    expect(tokensPage).not.toContain(token!);
    expect(tokensPage).toMatch(/<strong>Desktop assistant<\/strong>[^\n]*For MCP/);
    const listed = ((await (await owner.api.get('/console/api/tokens')).json()) as { tokens: { name: string; resource: string }[] }).tokens;
    expect(listed.find((t) => t.name === 'Desktop assistant')?.resource).toBe('mcp');
  });

  it('mints an MCP token from the Agent tokens form and through the JSON API too', async () => {
    const viaForm = await owner.browser.postForm('/console/tokens', {
      csrf: owner.csrf,
      name: 'Form MCP',
      'scope:tweet.read': 'on',
      resource: 'mcp',
    });
    expect(viaForm.status).toBe(303);
    const shown = await (await owner.browser.request(viaForm.headers.get('location')!)).text();
    const fromForm = fieldText(shown, 'new-token-value')!;
    seen.push(fromForm);
    expect(shown).toContain('<a href="/console/mcp">Use with an MCP client</a>');
    expect((await mcpCall(fromForm)).status).toBe(200);

    const viaApi = await owner.api.send('POST', '/console/api/tokens', { name: 'API MCP', scopes: ['tweet.read'], resource: 'mcp' });
    expect(viaApi.status).toBe(201);
    const minted = (await viaApi.json()) as { token: string; resource: string };
    seen.push(minted.token);
    expect(minted.resource).toBe('mcp');
    expect((await mcpCall(minted.token)).status).toBe(200);

    // A plain agent token is for the API, as before, and refused at the MCP server.
    const apiToken = await owner.agentToken(['tweet.read']);
    seen.push(apiToken);
    expect((await mcpCall(apiToken)).status).toBe(401);
  });

  it('shows a problem in the form again, with what was typed, and mints nothing', async () => {
    const before = ((await (await owner.api.get('/console/api/tokens')).json()) as { tokens: unknown[] }).tokens.length;
    const { res, page, token } = await mintFromPage({ name: 'Nothing picked', lifetime_hours: '24' });
    expect(res.status).toBe(400);
    expect(token).toBeUndefined();
    expect(page).toContain('role="alert"');
    expect(page).toContain('Permissions (pick at least one)');
    expect(page).toContain('value="Nothing picked"');
    expect(((await (await owner.api.get('/console/api/tokens')).json()) as { tokens: unknown[] }).tokens).toHaveLength(before);
  });

  it('sends a signed-out visitor to sign in, answers the JSON API 401, and mints nothing without the CSRF token', async () => {
    const page = await fetch(`${server.url}/console/mcp`, { redirect: 'manual' });
    expect(page.status).toBe(302);
    expect(page.headers.get('location')).toBe('/console/login?return=%2Fconsole%2Fmcp');
    expect((await fetch(`${server.url}/console/api/mcp`)).status).toBe(401);

    const form = { name: 'Sneaky', 'scope:tweet.read': 'on' };
    expect((await owner.browser.postForm('/console/mcp', form)).status).toBe(403);
    expect((await owner.browser.postForm('/console/mcp', { csrf: owner.csrf, ...form }, { origin: 'https://evil.example' })).status).toBe(
      403,
    );
    const anonymous = await fetch(`${server.url}/console/mcp`, {
      method: 'POST',
      redirect: 'manual',
      headers: { origin: server.url, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf: owner.csrf, ...form }),
    });
    expect(anonymous.status).toBe(302);
    expect(anonymous.headers.get('location')).toBe('/console/login?return=%2Fconsole%2Fmcp');
    const listed = ((await (await owner.api.get('/console/api/tokens')).json()) as { tokens: { name: string }[] }).tokens;
    expect(listed.map((t) => t.name)).not.toContain('Sneaky');
  });

  it('never writes a token value into the access log, the agent_tokens rows or the server log', async () => {
    const everything =
      JSON.stringify((await server.db.query('SELECT * FROM events')).rows) +
      JSON.stringify((await server.db.query('SELECT * FROM agent_tokens')).rows) +
      server.logs.join('');
    expect(seen.length).toBeGreaterThan(3);
    for (const value of seen) expect(everything).not.toContain(value);
  });
});
