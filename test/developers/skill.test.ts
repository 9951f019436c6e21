import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { skillDocument, type SkillInput } from '../../src/developers/skill.js';
import { PluginRegistry } from '../../src/plugins/registry.js';
import { loadBuiltinPlugins } from '../../src/plugins/load.js';
import { scopeCatalog } from '../../src/plugins/scope-catalog.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * The skill document an agent is handed for one app. Each kind of app gets its own way to a token,
 * the scopes it may ask for in plain words, the API calls those scopes open, and nothing secret; whatever a developer
 * typed as the app's name stays text.
 */
const registry = new PluginRegistry(await loadBuiltinPlugins());
const scopes = scopeCatalog(registry, []);
const ISSUER = 'https://auth.example.com';
const API = 'https://auth.example.com/api';
const MCP = 'https://auth.example.com/mcp';

function doc(app: Partial<SkillInput['app']> & Pick<SkillInput['app'], 'kind'>): string {
  return skillDocument({
    issuer: ISSUER,
    scopes,
    resourceUrl: API,
    mcpUrl: MCP,
    calls: registry.apiCalls(),
    tools: registry.tools(),
    app: {
      clientId: 'c_Zq8-test_id',
      name: 'Release bot',
      scopes: ['openid', 'offline_access', 'tweet.post'],
      redirectUris: ['https://app.example/callback'],
      ...app,
    },
  });
}

/** The text of every fenced code block, in order. */
const codeBlocks = (markdown: string) => [...markdown.matchAll(/^(`{3,})sh\n([\s\S]*?)\n\1$/gm)].map((m) => m[2]!);
const headings = (markdown: string) => markdown.split('\n').filter((line) => /^#{1,6} /.test(line));

describe('the skill document', () => {
  it('names the discovery documents, the client id and the kind', () => {
    const text = doc({ kind: 'web' });
    expect(text).toContain(`\`${ISSUER}/.well-known/oauth-authorization-server\``);
    expect(text).toContain(`\`${ISSUER}/.well-known/openid-configuration\``);
    expect(text).toContain('| Client ID | `c_Zq8-test_id` |');
    expect(text).toContain('Confidential web app');
    expect(text).toMatch(/^---\nname: oauth3-c-zq8-test-id\n/);
  });

  it('gives a web app the authorization code flow with PKCE, a connect link for its first redirect URI, and Basic auth', () => {
    const text = doc({ kind: 'web', redirectUris: ['https://app.example/callback', 'https://other.example/cb'] });
    const link = codeBlocks(text).find((block) => block.startsWith('echo "$OAUTH3_ISSUER/auth?'))!;
    const url = new URL(link.slice('echo "$OAUTH3_ISSUER'.length, -1), ISSUER);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      client_id: 'c_Zq8-test_id',
      response_type: 'code',
      redirect_uri: 'https://app.example/callback',
      scope: 'openid offline_access tweet.post',
      resource: API,
      code_challenge: '$CHALLENGE',
      code_challenge_method: 'S256',
      state: '$STATE',
    });
    expect(text).toContain('-u "$OAUTH3_CLIENT_ID:$OAUTH3_CLIENT_SECRET"');
    expect(text).toContain('grant_type=authorization_code');
    expect(text).not.toContain('/device/auth"');
    expect(text).not.toContain('grant_type=client_credentials');
  });

  it('gives a public app PKCE with its client id and no secret at all', () => {
    const text = doc({ kind: 'public' });
    expect(text).toContain('Public app');
    expect(text).toContain('-d client_id="$OAUTH3_CLIENT_ID"');
    expect(text).not.toContain('OAUTH3_CLIENT_SECRET');
    expect(text).not.toContain('-u "');
    expect(text).toContain('code_challenge_method=S256');
  });

  it('gives an agent service the device flow and client credentials, and no browser redirect', () => {
    const text = doc({ kind: 'agent', redirectUris: [], scopes: ['tweet.read'] });
    expect(text).toContain('"$OAUTH3_ISSUER/device/auth"');
    expect(text).toContain('grant_type=urn:ietf:params:oauth:grant-type:device_code');
    expect(text).toContain('verification_uri_complete');
    expect(text).toContain('grant_type=client_credentials');
    expect(text).toContain(`--data-urlencode resource='${API}'`);
    expect(text).not.toContain('$OAUTH3_ISSUER/auth?');
    // No offline_access: the agent is told it gets no refresh token rather than shown a refresh it cannot do.
    expect(text).toContain('This app gets no refresh token (it needs the `offline_access` scope)');
  });

  it('follows the grant types the app registered', () => {
    const text = doc({ kind: 'public', grantTypes: ['urn:ietf:params:oauth:grant-type:device_code'], redirectUris: [] });
    expect(text).toContain('/device/auth');
    expect(text).not.toContain('$OAUTH3_ISSUER/auth?');
  });

  it('explains every scope in plain words and lists only the calls those scopes allow', () => {
    const text = doc({ kind: 'web', scopes: ['offline_access', 'telegram.post_any'] });
    expect(text).toContain('| `telegram.post_any` | write | Send Telegram messages: Send messages through your Telegram bot');
    expect(text).toContain('| `offline_access` | identity | Stay connected:');
    expect(headings(text)).toEqual(expect.arrayContaining(['### GET /telegram/chats', '### POST /telegram/messages']));
    expect(text).toContain(`-d '{"chat":"@mychannel","text":"Build finished"}' "$OAUTH3_API/telegram/messages"`);
    expect(text).not.toContain('/tweet');

    const x = doc({ kind: 'web', scopes: ['tweet.delete', 'tweet.read'] });
    expect(x).toContain('curl -s -X DELETE -H "Authorization: Bearer $OAUTH3_TOKEN" "$OAUTH3_API/tweet/$ID"');
    expect(x).toContain('"$OAUTH3_API/me"');
    expect(x).not.toContain('### POST /tweet');
    expect(x).not.toContain('telegram');
  });

  it('documents the proxied upstream calls of an upstream:<provider> scope', () => {
    const text = doc({ kind: 'web', scopes: ['upstream:github'] });
    expect(text).toContain('### Any method /upstream/github/…');
    expect(text).toContain('"$OAUTH3_API/upstream/github/PATH"');
  });

  it('points an app with only identity scopes at userinfo, without a resource indicator', () => {
    const text = doc({ kind: 'public', scopes: ['openid'] });
    expect(text).toContain('"$OAUTH3_ISSUER/me"');
    expect(text).not.toContain('resource=');
  });

  it('offers the MCP server instead of the API: its URL and audience, the tools the scopes allow, and a call', () => {
    const text = doc({ kind: 'agent', redirectUris: [], scopes: ['tweet.post', 'telegram.post_any'] });
    expect(text).toContain(`| MCP server | \`${MCP}\` (`);
    expect(text).toContain(`export OAUTH3_MCP='${MCP}'`);
    expect(headings(text)).toContain('## Over MCP instead of the API');
    expect(text).toContain(`with \`resource\` set to \`${MCP}\` instead of the API's`);
    expect(text).toContain(`\`${ISSUER}/.well-known/oauth-protected-resource/mcp\``);
    expect(text).toContain('| `post_tweet` | `tweet.post` | Post on X |');
    expect(text).toContain('| `send_telegram_message` | `telegram.post_any` | Send a Telegram message |');
    expect(text).not.toContain('`get_me`');
    expect(text).not.toContain('`delete_tweet`');
    expect(codeBlocks(text).find((block) => block.startsWith('curl -s "$OAUTH3_MCP"'))).toContain('"method":"tools/list"');

    expect(doc({ kind: 'public', scopes: ['openid'] })).toContain("None of this app's scopes opens an MCP tool.");
  });

  it('tells how to refresh (rotation) and revoke (RFC 7009), and names the errors an agent meets', () => {
    const text = doc({ kind: 'web' });
    expect(text).toContain('-d grant_type=refresh_token -d refresh_token="$OAUTH3_REFRESH_TOKEN"');
    expect(text).toContain('Refresh tokens rotate');
    expect(text).toContain('-d token="$OAUTH3_TOKEN" "$OAUTH3_ISSUER/token/revocation"');
    for (const code of ['invalid_token', 'insufficient_scope', 'policy_*', 'pending_approval', 'reconnect_required', 'not_connected']) {
      expect(text).toContain(`\`${code}\``);
    }
    expect(text).toMatch(/\| 202 \| `pending_approval` \|/);
    expect(text).toMatch(/\| 409 \| `reconnect_required` \|/);
  });

  it('keeps an app name with Markdown and HTML as text: no tag, link, image or heading of its own', () => {
    const name =
      '<script>alert(1)</script> **Bold** [click](javascript:alert(1)) ![x](https://evil.example/x.png)\n# Injected | cell `code` http://evil.example';
    const text = doc({ kind: 'web', name });
    expect(text).not.toMatch(/<script|<\/script/i);
    expect(text).toContain('&lt;script&gt;alert\\(1\\)&lt;/script&gt;');
    expect(text).not.toContain('](javascript:');
    expect(text).not.toContain('[click]');
    expect(text).not.toContain('![x]');
    expect(text).not.toContain('**Bold**');
    expect(text).not.toContain('http://evil');
    expect(text).toContain('\\*\\*Bold\\*\\*');
    // The newline cannot start a heading, and the pipe cannot open a table cell.
    expect(headings(text).some((h) => h.includes('Injected') && !h.startsWith('# Using'))).toBe(false);
    expect(text).toContain('\\# Injected \\| cell \\`code\\`');
  });

  it('keeps a redirect URI with backticks and quotes inside its code block and its shell quotes', () => {
    const uri = "https://app.example/cb?next=```done&q='x'";
    const text = doc({ kind: 'web', redirectUris: [uri] });
    const exchange = codeBlocks(text).find((block) => block.includes('grant_type=authorization_code'))!;
    expect(exchange).toContain(`--data-urlencode redirect_uri='https://app.example/cb?next=\`\`\`done&q='\\''x'\\'''`);
    expect(text).toContain('````sh');
  });

  it('contains no secret, whatever else the app object carries', () => {
    const secret = 'S3cr3t-value-that-must-never-appear-0123456789';
    const app = {
      clientId: 'c_1',
      name: 'Leaky',
      kind: 'web' as const,
      scopes: ['tweet.post'],
      redirectUris: ['https://a.example/cb'],
      clientSecret: secret,
      secretHash: secret,
    };
    const text = skillDocument({ issuer: ISSUER, scopes, resourceUrl: API, mcpUrl: MCP, calls: registry.apiCalls(), app });
    expect(text).not.toContain(secret);
    expect(text).toContain('export OAUTH3_CLIENT_SECRET=…');
    expect(text).not.toMatch(/(access|refresh)_token":"[^…"]/);
  });
});

/** The connect link the document gives is one this server accepts: it leads to the sign-in page, not an error. */
describe('the skill document against a running server', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('builds an authorization request the server starts a sign-in for', async () => {
    const redirectUri = 'http://127.0.0.1:9/callback';
    const { clientId } = await server.addClient({
      name: 'Skill app',
      redirectUris: [redirectUri],
      public: true,
      scope: 'openid offline_access tweet.post',
    });
    const text = skillDocument({
      issuer: server.url,
      scopes: server.app.scopes,
      resourceUrl: server.config.RESOURCE_URL,
      mcpUrl: server.config.MCP_URL,
      calls: registry.apiCalls(),
      app: { clientId, name: 'Skill app', kind: 'public', scopes: ['openid', 'offline_access', 'tweet.post'], redirectUris: [redirectUri] },
    });
    const link = codeBlocks(text)
      .find((block) => block.startsWith('echo "$OAUTH3_ISSUER/auth?'))!
      .slice('echo "$OAUTH3_ISSUER'.length, -1)
      .replace('$CHALLENGE', 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM')
      .replace('$STATE', 'abc');
    const res = await fetch(`${server.url}${link}`, { redirect: 'manual' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toMatch(/^\/interaction\//);
  });

  // The document's own shell blocks, run as an agent would run them (curl on this machine, the server on 127.0.0.1).
  (existsSync('/usr/bin/curl') ? it : it.skip)(
    'gives an agent service commands that work as written: device code, client credentials, revocation',
    async () => {
      const { clientId, clientSecret } = await server.addClient({
        name: 'Skill agent',
        grantTypes: ['urn:ietf:params:oauth:grant-type:device_code', 'client_credentials', 'refresh_token'],
        scope: 'tweet.read',
      });
      const text = skillDocument({
        issuer: server.url,
        scopes: server.app.scopes,
        resourceUrl: server.config.RESOURCE_URL,
        mcpUrl: server.config.MCP_URL,
        calls: registry.apiCalls(),
        tools: server.app.services.registry.tools(),
        app: { clientId, name: 'Skill agent', kind: 'agent', scopes: ['tweet.read'], redirectUris: [] },
      });
      const blocks = codeBlocks(text);
      const env = {
        PATH: process.env.PATH!,
        OAUTH3_ISSUER: server.url,
        OAUTH3_API: server.config.RESOURCE_URL,
        OAUTH3_CLIENT_ID: clientId,
        OAUTH3_CLIENT_SECRET: clientSecret!,
      };
      const run = async (block: string, extra: Record<string, string> = {}) =>
        (await promisify(execFile)('sh', ['-c', block], { env: { ...env, ...extra }, timeout: 10_000 })).stdout;
      const block = (needle: string) => blocks.find((b) => b.includes(needle))!;

      const device = JSON.parse(await run(block('/device/auth"'))) as Record<string, unknown>;
      expect(device).toMatchObject({
        device_code: expect.any(String),
        user_code: expect.any(String),
        verification_uri_complete: expect.stringContaining(server.url),
      });

      const tokens = JSON.parse(await run(block('grant_type=client_credentials'))) as { access_token: string; scope: string };
      expect(tokens.scope).toBe('tweet.read');
      // A client-credentials token acts for no owner, as the document says: the owner's X profile is refused.
      const me = JSON.parse(await run(block('"$OAUTH3_API/me"'), { OAUTH3_TOKEN: tokens.access_token })) as { error: string };
      expect(me.error).toBe('owner_required');

      expect(await run(block('/token/revocation"'), { OAUTH3_TOKEN: tokens.access_token })).toBe('');
      const introspection = await fetch(`${server.url}/token/introspection`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ token: tokens.access_token }),
      });
      expect(await introspection.json()).toEqual({ active: false });

      // Over MCP: a token for the MCP server's audience lists the tools with the document's call; the API's is refused.
      const tokenFor = async (resource: string) =>
        (
          JSON.parse(await run(block('grant_type=client_credentials').replace(`'${server.config.RESOURCE_URL}'`, `'${resource}'`))) as {
            access_token: string;
          }
        ).access_token;
      const mcp = { OAUTH3_MCP: server.config.MCP_URL };
      const listCall = block('curl -s "$OAUTH3_MCP"');
      const listed = JSON.parse(await run(listCall, { ...mcp, OAUTH3_MCP_TOKEN: await tokenFor(server.config.MCP_URL) })) as {
        result: { tools: { name: string }[] };
      };
      expect(listed.result.tools.map((t) => t.name)).toContain('get_me');
      const apiToken = await tokenFor(server.config.RESOURCE_URL);
      expect(await run(`${listCall} -o /dev/null -w '%{http_code}'`, { ...mcp, OAUTH3_MCP_TOKEN: apiToken })).toBe('401');
    },
  );
});
