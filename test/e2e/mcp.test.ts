import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError, type OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { backends } from '../helpers/services.js';
import { TestBrowser, authorize, type AuthorizeOptions } from '../helpers/browser.js';
import { Owner } from '../helpers/owner.js';
import { closeServer } from '../fakes/local-server.js';
import { FakeX } from '../fakes/x.js';
import { selfSign } from '../helpers/self-signed.js';

const redirectUri = 'http://127.0.0.1:8765/callback';

/** An https server on 127.0.0.1 (self-signed, trusted by oauth3 only through its development escape hatch) serving one client metadata document. */
async function documentServer(dir: string): Promise<{ url: string; stop: () => Promise<void> }> {
  let url = '';
  const server = https.createServer(
    { key: readFileSync(path.join(dir, 'key.pem')), cert: readFileSync(path.join(dir, 'cert.pem')) },
    (req, res) => {
      if (req.url !== '/mcp-agent.json') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          client_id: url,
          client_name: 'E2E MCP agent',
          redirect_uris: [redirectUri],
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
          token_endpoint_auth_method: 'none',
        }),
      );
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/mcp-agent.json`;
  return { url, stop: () => closeServer(server) };
}

/**
 * The MCP SDK's OAuth client provider as an agent implements it, with the owner's browser standing in for the agent's
 * user: every authorization it starts goes through the real passkey and consent pages at once, and the callback is
 * kept for `finishAuth`.
 */
class BrowserAuthProvider implements OAuthClientProvider {
  readonly redirectUrl = redirectUri;
  readonly clientMetadata: OAuthClientMetadata = {
    client_name: 'E2E MCP agent',
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  };
  /** Each authorization request the SDK made: its scope and resource. */
  readonly requests: { scope: string | null; resource: string | null; clientId: string | null }[] = [];
  private info?: OAuthClientInformationMixed;
  private saved?: OAuthTokens;
  private verifier = '';
  private callback?: URL;

  constructor(
    private readonly browser: TestBrowser,
    readonly clientMetadataUrl: string,
    private next: AuthorizeOptions,
  ) {}

  clientInformation() {
    return this.info;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.info = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens;
  }
  saveCodeVerifier(verifier: string) {
    this.verifier = verifier;
  }
  codeVerifier() {
    return this.verifier;
  }
  async redirectToAuthorization(url: URL) {
    this.requests.push({
      scope: url.searchParams.get('scope'),
      resource: url.searchParams.get('resource'),
      clientId: url.searchParams.get('client_id'),
    });
    this.callback = new URL(await authorize(this.browser, url.href, this.next));
    // Signed in from now on: later authorizations (step-up) see only the consent page.
    this.next = { passkey: 'none', consent: 'approve' };
  }
  /** The code of the last authorization, once. */
  takeCode(): string {
    const code = this.callback?.searchParams.get('code');
    this.callback = undefined;
    if (!code) throw new Error('no authorization code came back');
    return code;
  }
}

const backendsForE2e = backends().filter((backend) => backend !== 'postgres');

/**
 * An agent built on the MCP TypeScript SDK, starting from nothing but the /mcp URL: RFC 9728 discovery, a client
 * metadata document as its client id, the owner's passkey and consent, tools/list, a post that reaches the fake X
 * once, step-up from tweet.read to tweet.post, the owner's approval of a held post, a policy refusal as an error
 * result, and revocation ending it on the next call.
 */
describe.each(backendsForE2e)('an agent on the MCP SDK, against %s storage', (backend) => {
  let dir: string;
  let docs: Awaited<ReturnType<typeof documentServer>>;
  let x: FakeX;
  let server: TestServer;
  let browser: TestBrowser;
  let auth: BrowserAuthProvider;
  let client: Client;
  let transport: StreamableHTTPClientTransport;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'oauth3-mcp-e2e-'));
    selfSign(dir);
    docs = await documentServer(dir);
    x = await FakeX.start();
    server = await startTestServer({
      backend,
      env: x.env({
        CLIENT_METADATA_ALLOW_HOSTS: new URL(docs.url).host,
        CLIENT_METADATA_DEV_CA_FILE: path.join(dir, 'cert.pem'),
      }),
    });
    browser = new TestBrowser(server.url);
    auth = new BrowserAuthProvider(browser, docs.url, { passkey: 'signup', consent: 'approve' });
  });
  afterAll(async () => {
    await client?.close();
    await server?.stop();
    await docs?.stop();
    await x?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Connects as an SDK agent does: a 401 starts authorization; once the code is back, it connects again. */
  async function connect(): Promise<void> {
    const attempt = async () => {
      transport = new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { authProvider: auth });
      client = new Client({ name: 'e2e-agent', version: '1.0.0' });
      await client.connect(transport);
    };
    try {
      await attempt();
    } catch (error) {
      if (!(error instanceof UnauthorizedError)) throw error;
      await transport.finishAuth(auth.takeCode());
      await attempt();
    }
  }

  /** A tool call that may need a step-up: the SDK re-authorizes on 403 insufficient_scope, then the call is sent again. */
  async function callTool(name: string, args: Record<string, unknown> = {}): Promise<CallToolResult> {
    try {
      return (await client.callTool({ name, arguments: args })) as CallToolResult;
    } catch (error) {
      if (!(error instanceof UnauthorizedError)) throw error;
      await transport.finishAuth(auth.takeCode());
      return (await client.callTool({ name, arguments: args })) as CallToolResult;
    }
  }

  const owner = () => Owner.signIn(server, browser);

  it('discovers oauth3 from the /mcp URL, signs the owner up, asks consent for the read scopes and lists the tools', async () => {
    await connect();
    expect(auth.requests).toEqual([{ scope: 'tweet.read', resource: `${server.url}/mcp`, clientId: docs.url }]);
    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(
      expect.arrayContaining(['get_me', 'list_tweets', 'post_tweet', 'delete_tweet', 'send_telegram_message', 'list_telegram_chats']),
    );
    const post = tools.find((tool) => tool.name === 'post_tweet')!;
    expect(post.inputSchema.required).toEqual(['text']);
    expect(post.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: false });
  });

  it('is one of the Connected apps, named by its metadata document, with the MCP server as its resource', async () => {
    const me = await owner();
    const cookie = x.signIn(x.user('mcp_e2e'));
    expect(
      (await me.api.send('POST', '/console/api/connections', { kind: 'x.cookie', auth_token: cookie.auth_token, ct0: cookie.ct0 })).status,
    ).toBe(201);
    const { apps } = (await (await me.api.get('/console/api/apps')).json()) as { apps: { client_id: string; scopes: string[] }[] };
    expect(apps).toEqual([expect.objectContaining({ client_id: docs.url, scopes: ['tweet.read'] })]);
  });

  it('reads with tweet.read, then steps up to tweet.post by itself and posts exactly once', async () => {
    const me = await callTool('get_me');
    expect(me.structuredContent).toMatchObject({ username: 'mcp_e2e' });

    const posted = await callTool('post_tweet', { text: 'posted by an MCP agent' });
    expect(posted.isError).toBeFalsy();
    expect(posted.structuredContent).toMatchObject({ status: 'done', result: { text: 'posted by an MCP agent' } });
    expect(x.posts.filter((p) => p.text === 'posted by an MCP agent')).toHaveLength(1);
    // The step-up asked for what it had plus what it needed, for the same resource, and the owner consented again.
    expect(auth.requests.at(-1)).toEqual({ scope: 'tweet.read tweet.post', resource: `${server.url}/mcp`, clientId: docs.url });
    expect((await callTool('get_me')).isError).toBeFalsy();
  });

  it("holds a post for the owner's approval and sends it once the owner approves it", async () => {
    const me = await owner();
    const { apps } = (await (await me.api.get('/console/api/apps')).json()) as { apps: { grant_id: string; client_id: string }[] };
    const agent = apps.find((app) => app.client_id === docs.url)!;
    await server.app.services.policies.set(me.accountId, agent.grant_id, { hold_for_approval: true, blocked_words: ['spam'] });

    const held = await callTool('post_tweet', { text: 'needs the owner first' });
    expect(held.isError).toBeFalsy();
    expect(held.structuredContent).toMatchObject({ status: 'pending_approval', approval: { id: expect.stringMatching(/^held_/) } });
    expect(x.posts.filter((p) => p.text === 'needs the owner first')).toHaveLength(0);
    const id = (held.structuredContent!.approval as { id: string }).id;
    expect((await me.api.send('POST', `/console/api/approvals/${id}/approve`)).status).toBe(200);
    expect(x.posts.filter((p) => p.text === 'needs the owner first')).toHaveLength(1);

    const refused = await callTool('post_tweet', { text: 'buy spam now' });
    expect(refused.isError).toBe(true);
    expect(refused._meta?.['oauth3/error']).toMatchObject({ error: 'policy_blocked_word' });
    expect(refused.structuredContent).toBeUndefined();
  });

  it('refuses an SDK client holding a token for the resource API, and one sent from a page on another origin', async () => {
    const me = await owner();
    const staticClient = async (headers: Record<string, string>) => {
      const other = new Client({ name: 'static-header-agent', version: '1.0.0' });
      await other.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers } }));
      return other;
    };
    const apiToken = await me.agentToken(['tweet.read']);
    await expect(staticClient({ authorization: `Bearer ${apiToken}` })).rejects.toMatchObject({
      code: 401,
      message: expect.stringContaining('invalid_token'),
    });
    const mcpToken = await me.agentToken(['tweet.read'], 1, 'mcp');
    await expect(staticClient({ authorization: `Bearer ${mcpToken}`, origin: 'http://evil.example' })).rejects.toMatchObject({
      code: 403,
      message: expect.stringContaining('origin_not_allowed'),
    });
    const working = await staticClient({ authorization: `Bearer ${mcpToken}` });
    expect((await working.listTools()).tools.map((tool) => tool.name)).toContain('get_me');
    await working.close();
  });

  it('is refused on its next call once the owner revokes it in Connected apps', async () => {
    const me = await owner();
    const { apps } = (await (await me.api.get('/console/api/apps')).json()) as { apps: { grant_id: string; client_id: string }[] };
    const agent = apps.find((app) => app.client_id === docs.url)!;
    expect((await me.api.send('DELETE', `/console/api/apps/${agent.grant_id}`)).status).toBe(200);
    const before = auth.requests.length;
    // The SDK meets the 401 and starts authorizing again: the old token is dead.
    await expect(client.callTool({ name: 'get_me', arguments: {} })).rejects.toThrow(UnauthorizedError);
    expect(auth.requests.length).toBe(before + 1);
  });
});
