import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { closeServer, listenLocally } from './local-server.js';

/**
 * A generic OAuth 2.0 provider on 127.0.0.1 for the upstream client's tests: /authorize auto-approves (or denies),
 * /token checks client authentication and PKCE and rotates refresh tokens, /api/* echoes the bearer it received,
 * /me is the profile. Every request path is recorded, so a test can prove a path never reached it (G3).
 */
export interface FakeProviderOptions {
  clientId?: string;
  clientSecret?: string;
  /** How the fake expects the client to authenticate at /token. */
  authMethod?: 'basic' | 'post' | 'none';
  /** Lifetime of issued access tokens, in seconds. */
  expiresIn?: number;
}

type TokenMode = 'ok' | 'invalid_grant' | 'fail' | 'slow' | 'not_json' | 'no_refresh_token';

export class FakeOAuthProvider {
  url = '';
  /** Every request as received: method and raw path with query. */
  readonly requests: { method: string; path: string; authorization?: string }[] = [];
  refreshCount = 0;
  tokenMode: TokenMode = 'ok';
  authorizeMode: 'approve' | 'deny' = 'approve';
  /** /api answers 401 to every token while set (a revoked grant). */
  apiRejectsAll = false;
  slowMs = 3000;
  readonly accessTokens = new Set<string>();
  readonly refreshTokens = new Set<string>();
  /** Every token and the client secret this fake ever handed out or holds, for the leak checks (G2). */
  readonly secrets = new Set<string>();
  private readonly codes = new Map<string, { challenge?: string; redirectUri: string }>();
  private server?: http.Server;
  readonly clientId: string;
  readonly clientSecret: string | undefined;
  readonly authMethod: 'basic' | 'post' | 'none';

  constructor(readonly options: FakeProviderOptions = {}) {
    this.clientId = options.clientId ?? 'oauth3-client';
    this.clientSecret = options.authMethod === 'none' ? undefined : (options.clientSecret ?? `cs_${randomBytes(16).toString('hex')}`);
    this.authMethod = options.authMethod ?? 'basic';
    if (this.clientSecret) this.secrets.add(this.clientSecret);
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.url = await listenLocally(this.server);
    return this;
  }

  async stop(): Promise<void> {
    await closeServer(this.server);
  }

  /** Tokens as if a connect had happened, for tests that start from a stored connection. */
  issue(): { access_token: string; refresh_token: string } {
    const access = `at_${randomBytes(16).toString('hex')}`;
    const refresh = `rt_${randomBytes(16).toString('hex')}`;
    this.accessTokens.add(access);
    this.refreshTokens.add(refresh);
    this.secrets.add(access).add(refresh);
    return { access_token: access, refresh_token: refresh };
  }

  /** The provider config oauth3 needs for this fake (UPSTREAM_PROVIDERS entry). */
  config(id = 'fakeoauth', extra: Record<string, unknown> = {}) {
    return {
      id,
      title: 'Fake OAuth',
      authorizationUrl: `${this.url}/authorize`,
      tokenUrl: `${this.url}/token`,
      clientId: this.clientId,
      ...(this.clientSecret ? { clientSecret: this.clientSecret } : {}),
      tokenAuthMethod: this.authMethod === 'post' ? 'post' : 'basic',
      scopes: ['read', 'write'],
      apiBaseUrl: `${this.url}/api`,
      allowedPaths: ['/v1'],
      profileUrl: `${this.url}/me`,
      profileLabelField: 'data.username',
      ...extra,
    };
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    this.requests.push({
      method: req.method ?? 'GET',
      path: req.url ?? '',
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    });
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', this.url);
    const json = (status: number, value: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    if (url.pathname === '/authorize') return this.authorize(url, res);
    if (url.pathname === '/token' && req.method === 'POST') return this.token(req, new URLSearchParams(body), json, res);
    if (url.pathname === '/revoke' && req.method === 'POST') {
      const token = new URLSearchParams(body).get('token') ?? '';
      this.accessTokens.delete(token);
      this.refreshTokens.delete(token);
      return json(200, {});
    }
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const current = bearer !== undefined && this.accessTokens.has(bearer) && !this.apiRejectsAll;
    if (url.pathname === '/me') return current ? json(200, { data: { username: 'ada_upstream' } }) : json(401, { error: 'invalid_token' });
    if (url.pathname.startsWith('/api/')) {
      if (!current) return json(401, { error: 'invalid_token' });
      // Echoes what it received, the bearer included: oauth3 must not pass our token back to its caller (G2).
      return json(200, {
        path: url.pathname,
        query: url.search,
        method: req.method,
        bearer,
        body,
        contentType: req.headers['content-type'] ?? null,
      });
    }
    json(404, { error: 'not_found' });
  }

  private authorize(url: URL, res: http.ServerResponse): void {
    const redirectUri = url.searchParams.get('redirect_uri') ?? '';
    const back = new URL(redirectUri);
    back.searchParams.set('state', url.searchParams.get('state') ?? '');
    if (this.authorizeMode === 'deny' || url.searchParams.get('client_id') !== this.clientId)
      back.searchParams.set('error', 'access_denied');
    else {
      const code = `code_${randomBytes(12).toString('hex')}`;
      const challenge = url.searchParams.get('code_challenge') ?? undefined;
      this.codes.set(code, { redirectUri, ...(challenge ? { challenge } : {}) });
      this.secrets.add(code);
      back.searchParams.set('code', code);
    }
    res.writeHead(302, { location: back.toString() });
    res.end();
  }

  /** RFC 6749 §2.3.1: Basic with form-urlencoded parts, or the secret in the body, as the fake is configured. */
  private clientAuthenticated(req: http.IncomingMessage, form: URLSearchParams): boolean {
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (this.authMethod === 'basic') {
      if (!basic || form.has('client_secret')) return false;
      const [id, secret] = Buffer.from(basic, 'base64').toString('utf8').split(':').map(decodeURIComponent);
      return id === this.clientId && secret === this.clientSecret;
    }
    if (basic) return false;
    if (form.get('client_id') !== this.clientId) return false;
    return this.authMethod === 'none' ? !form.has('client_secret') : form.get('client_secret') === this.clientSecret;
  }

  private async token(
    req: http.IncomingMessage,
    form: URLSearchParams,
    json: (s: number, v: unknown) => void,
    res: http.ServerResponse,
  ): Promise<void> {
    if (!this.clientAuthenticated(req, form)) return json(401, { error: 'invalid_client' });
    const grant = form.get('grant_type');
    if (grant === 'authorization_code') {
      const code = this.codes.get(form.get('code') ?? '');
      this.codes.delete(form.get('code') ?? '');
      if (!code || code.redirectUri !== form.get('redirect_uri')) return json(400, { error: 'invalid_grant' });
      const verifier = form.get('code_verifier');
      if (code.challenge && (!verifier || createHash('sha256').update(verifier).digest('base64url') !== code.challenge))
        return json(400, { error: 'invalid_grant' });
      return json(200, { ...this.issue(), token_type: 'bearer', expires_in: this.options.expiresIn ?? 3600, scope: 'read write' });
    }
    if (grant === 'refresh_token') {
      this.refreshCount++;
      if (this.tokenMode === 'fail') return json(503, { error: 'temporarily_unavailable' });
      if (this.tokenMode === 'not_json') {
        res.writeHead(200, { 'content-type': 'text/html' });
        return void res.end(`<html>oops ${form.get('refresh_token')}</html>`);
      }
      if (this.tokenMode === 'slow') await new Promise((r) => setTimeout(r, this.slowMs));
      const old = form.get('refresh_token') ?? '';
      if (this.tokenMode === 'invalid_grant' || !this.refreshTokens.has(old))
        return json(400, { error: 'invalid_grant', error_description: `refresh token ${old} is revoked` });
      this.refreshTokens.delete(old); // rotation: the old refresh token is spent
      const issued = this.issue();
      if (this.tokenMode === 'no_refresh_token') {
        this.refreshTokens.add(old);
        this.refreshTokens.delete(issued.refresh_token);
        return json(200, { access_token: issued.access_token, token_type: 'bearer', expires_in: this.options.expiresIn ?? 3600 });
      }
      return json(200, { ...issued, token_type: 'bearer', expires_in: this.options.expiresIn ?? 3600 });
    }
    json(400, { error: 'unsupported_grant_type' });
  }
}
