import { expect } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import type { TestServer } from './server.js';
import { TestBrowser, authorize } from './browser.js';

/** The redirect URI the security tests register their apps with, and the one codes are asked for and redeemed with. */
export const redirectUri = 'https://app.example.com/callback';

export interface Client {
  clientId: string;
  clientSecret?: string;
}

export interface Reply {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

export interface Grant {
  code: string;
  verifier: string;
  redirectUri: string;
}

export interface Tokens {
  accessToken: string;
  refreshToken: string;
}

const issuedKinds = ['access_token', 'refresh_token', 'id_token'] as const;

/** `Authorization: Basic` as RFC 6749 §2.3.1 builds it: each part form-urlencoded, then base64. */
export const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/**
 * An owner's browser and an app's back channel against one server. It remembers every code, verifier and token it
 * handles in `secrets`, so a test can check none of them reached the logs (threat model B8).
 */
/**
 * The authorization endpoint's address for `clientId` asking `scope`, with a fresh state and PKCE (S256) verifier,
 * as a well-behaved app would send an owner's browser there.
 */
export function authorizationUrl(
  issuer: string,
  clientId: string,
  scope: string,
  { redirect = redirectUri, extra = {} }: { redirect?: string; extra?: Record<string, string> } = {},
): { url: string; verifier: string } {
  const verifier = randomBytes(32).toString('base64url');
  const query = new URLSearchParams({
    client_id: clientId,
    response_type: 'code',
    redirect_uri: redirect,
    scope,
    state: randomBytes(8).toString('hex'),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    ...extra,
  });
  return { url: `${issuer}/auth?${query}`, verifier };
}

export class TokenFlow {
  readonly secrets = new Set<string>();
  private readonly browser: TestBrowser;
  private signedUp = false;

  constructor(private readonly server: TestServer) {
    this.browser = new TestBrowser(server.url);
  }

  /** A fresh code + PKCE verifier through the real pages; `offline` asks for a refresh token (needs prompt=consent). */
  async code(client: Client, { scope = 'openid tweet.read', offline = false, redirectUri: redirect = redirectUri } = {}): Promise<Grant> {
    const { url, verifier } = authorizationUrl(this.server.url, client.clientId, offline ? `${scope} offline_access` : scope, {
      redirect,
      extra: offline ? { prompt: 'consent' } : {},
    });
    const callback = new URL(await authorize(this.browser, url, { passkey: this.signedUp ? 'none' : 'signup' }));
    this.signedUp = true;
    const code = callback.searchParams.get('code');
    if (!code) throw new Error(`no code in ${callback.href}`);
    this.secrets.add(code).add(verifier);
    return { code, verifier, redirectUri: redirect };
  }

  /** An offline code (openid tweet.read offline_access) exchanged at once: the access and refresh token it gives. */
  async tokens(client: Client): Promise<Tokens> {
    const reply = await this.redeem(await this.code(client, { offline: true }), client);
    expect(reply.status).toBe(200);
    return issued(reply);
  }

  /** A form POST; `auth` is a client (HTTP Basic with its secret, or client_id in the body if public), a raw header, or none. */
  async post(path: string, form: Record<string, string>, auth?: Client | string): Promise<Reply> {
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    const body = new URLSearchParams(form);
    if (typeof auth === 'string') headers.authorization = auth;
    else if (auth?.clientSecret) headers.authorization = basic(auth.clientId, auth.clientSecret);
    else if (auth) body.set('client_id', auth.clientId);
    const res = await fetch(`${this.server.url}${path}`, { method: 'POST', headers, body });
    const text = await res.text();
    const json = (text ? JSON.parse(text) : {}) as Record<string, unknown>;
    for (const key of issuedKinds) if (typeof json[key] === 'string') this.secrets.add(json[key]);
    return { status: res.status, headers: res.headers, body: json };
  }

  token(form: Record<string, string>, auth?: Client | string): Promise<Reply> {
    return this.post('/token', form, auth);
  }

  /** The authorization_code grant; without a verifier none is sent, and `extra` overrides any field. */
  redeem(
    grant: { code: string; verifier?: string; redirectUri?: string },
    auth?: Client | string,
    extra: Record<string, string> = {},
  ): Promise<Reply> {
    return this.token(
      {
        grant_type: 'authorization_code',
        code: grant.code,
        redirect_uri: grant.redirectUri ?? redirectUri,
        ...(grant.verifier === undefined ? {} : { code_verifier: grant.verifier }),
        ...extra,
      },
      auth,
    );
  }

  refresh(refreshToken: string, auth?: Client | string, extra: Record<string, string> = {}): Promise<Reply> {
    return this.token({ grant_type: 'refresh_token', refresh_token: refreshToken, ...extra }, auth);
  }

  /** RFC 7662 introspection with the client's own credentials; the call itself must succeed. */
  async active(client: Client, token: string): Promise<boolean> {
    const reply = await this.post('/token/introspection', { token }, client);
    expect(reply.status).toBe(200);
    return reply.body.active === true;
  }
}

/** The access and refresh token of a successful token response, which must hold both. */
export function issued(reply: Reply): Tokens {
  expect(reply.body).toMatchObject({ access_token: expect.any(String), refresh_token: expect.any(String) });
  return { accessToken: String(reply.body.access_token), refreshToken: String(reply.body.refresh_token) };
}

/** An OAuth error response: this status and `error` code, and no token of any kind issued alongside it. */
export const expectOAuthError = (reply: Reply, status: number, error: string) => {
  expect({ status: reply.status, error: reply.body.error }).toEqual({ status, error });
  for (const kind of issuedKinds) expect(reply.body).not.toHaveProperty(kind);
};
