import { randomBytes } from 'node:crypto';
import type { TestServer } from './server.js';
import { TestBrowser, authorize } from './browser.js';
import { signInToConsole } from './console.js';
import { consoleApi, type ConsoleApi } from './console-api.js';
import { authorizationUrl, redirectUri, type Client } from './token-flow.js';

/**
 * An owner signed in to the console of one server: their browser (passkey and session), the console API, and the
 * two ways a caller of the resource API gets a token for them, minted for an agent or through an app's consent.
 */
export class Owner {
  private constructor(
    readonly server: TestServer,
    readonly browser: TestBrowser,
    readonly api: ConsoleApi,
    readonly csrf: string,
    readonly accountId: string,
  ) {}

  /** A new owner: a fresh browser and a new passkey. */
  static signUp(server: TestServer): Promise<Owner> {
    return Owner.signIn(server);
  }

  /**
   * Signs `browser` in to the console: with its authenticator's passkey when it holds one (the same owner on another
   * browser, or again), else by signing up a new owner.
   */
  static async signIn(server: TestServer, browser = new TestBrowser(server.url)): Promise<Owner> {
    const { csrf } = await signInToConsole(browser, browser.authenticator.credentials.length ? 'signin' : 'signup');
    return new Owner(server, browser, consoleApi(browser, csrf), csrf, browser.authenticator.credentials[0]!.userHandle);
  }

  /** An agent token with these scopes (console, Tokens), for the resource API or, with `resource: 'mcp'`, the MCP server. */
  async agentToken(scopes: string[], lifetimeHours = 1, resource: 'api' | 'mcp' = 'api'): Promise<string> {
    const res = await this.api.send('POST', '/console/api/tokens', {
      name: `agent ${randomBytes(3).toString('hex')}`,
      scopes,
      lifetime_hours: lifetimeHours,
      resource,
    });
    if (res.status !== 201) throw new Error(`minting an agent token failed: ${res.status} ${await res.text()}`);
    return ((await res.json()) as { token: string }).token;
  }

  /**
   * An app's access token through the real authorize → consent → token exchange, in this owner's browser. `client`
   * must be registered with `redirectUri` (test/helpers/token-flow.ts). `tokenHeaders` go with the code's redemption
   * (a DPoP proof, which binds the token to its key).
   */
  async appToken(
    client: Client,
    scope: string,
    tokenHeaders: Record<string, string> = {},
  ): Promise<{ accessToken: string; refreshToken?: string; body: Record<string, unknown> }> {
    const { url, verifier } = authorizationUrl(this.server.url, client.clientId, scope, {
      extra: scope.split(' ').includes('offline_access') ? { prompt: 'consent' } : {},
    });
    const callback = new URL(await authorize(this.browser, url, { passkey: 'none' }));
    const code = callback.searchParams.get('code');
    if (!code) throw new Error(`no code in ${callback.href}`);
    const form = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier });
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', ...tokenHeaders };
    if (client.clientSecret)
      headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`).toString('base64')}`;
    else form.set('client_id', client.clientId);
    const res = await fetch(`${this.server.url}/token`, { method: 'POST', headers, body: form });
    const body = (await res.json()) as Record<string, unknown>;
    if (res.status !== 200) throw new Error(`token exchange failed: ${res.status} ${JSON.stringify(body)}`);
    return {
      accessToken: String(body.access_token),
      ...(typeof body.refresh_token === 'string' && body.refresh_token ? { refreshToken: body.refresh_token } : {}),
      body,
    };
  }
}

/** A call to the resource API with a bearer token. */
export async function callApi(
  server: TestServer,
  path: string,
  token: string | undefined,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
) {
  const res = await fetch(`${server.url}/api${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: {
      accept: 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...init.headers,
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  let json: Record<string, unknown>;
  try {
    json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    json = { raw: text };
  }
  return { status: res.status, headers: res.headers, body: json, text };
}
