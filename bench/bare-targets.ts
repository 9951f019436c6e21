import http from 'node:http';
import { randomBytes } from 'node:crypto';
import Koa from 'koa';
import type { TargetSetup } from './protocol.js';
import { listen, type RunningTarget } from './listen.js';

/**
 * The floors: Koa alone, importing nothing of oauth3 (and so nothing of oidc-provider, pg or PGlite), so that their
 * process's memory and CPU are those of HTTP, Koa and JSON.
 */

/** What the bare Koa target answers at discovery: a document of the same shape as oidc-provider's, built once. */
function discoveryDocument(issuer: string): Record<string, unknown> {
  return {
    issuer,
    authorization_endpoint: `${issuer}/auth`,
    token_endpoint: `${issuer}/token`,
    jwks_uri: `${issuer}/jwks`,
    userinfo_endpoint: `${issuer}/me`,
    introspection_endpoint: `${issuer}/token/introspection`,
    revocation_endpoint: `${issuer}/token/revocation`,
    end_session_endpoint: `${issuer}/session/end`,
    device_authorization_endpoint: `${issuer}/device/auth`,
    response_types_supported: ['code'],
    response_modes_supported: ['form_post', 'fragment', 'query'],
    grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code'],
    code_challenge_methods_supported: ['S256'],
    scopes_supported: ['openid', 'offline_access', 'profile', 'tweet.read', 'tweet.post'],
    claims_supported: ['sub', 'name', 'sid', 'auth_time', 'iss'],
    subject_types_supported: ['public'],
    token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    id_token_signing_alg_values_supported: ['ES256', 'RS256'],
    authorization_response_iss_parameter_supported: true,
    claims_parameter_supported: false,
    request_parameter_supported: false,
  };
}

/** (c) A bare Koa endpoint: the cost of HTTP, Koa and JSON alone, for discovery (GET) and the token endpoint (POST). */
export async function bareKoa(setup: TargetSetup): Promise<RunningTarget> {
  const discovery = discoveryDocument(`http://127.0.0.1:${setup.port}`);
  const koa = new Koa();
  koa.use((ctx) => {
    if (ctx.method === 'GET' && ctx.path === '/.well-known/openid-configuration') {
      ctx.body = discovery;
      return;
    }
    if (ctx.method !== 'POST') {
      ctx.status = 405;
      return;
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { access_token: randomBytes(32).toString('base64url'), token_type: 'Bearer', expires_in: 3600, scope: 'tweet.read' };
  });
  const handle = koa.callback();
  return listen(
    http.createServer((req, res) => void handle(req, res)),
    setup.port,
    async () => {},
  );
}

/** (e) A bare proxy: Koa reads the post and forwards it to the same fake upstream, with no checks at all. */
export async function bareProxy(setup: TargetSetup): Promise<RunningTarget> {
  const koa = new Koa();
  koa.use(async (ctx) => {
    const chunks: Buffer[] = [];
    for await (const chunk of ctx.req as AsyncIterable<Buffer>) chunks.push(chunk);
    const res = await fetch(`${setup.upstreamUrl}/posts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: Buffer.concat(chunks),
    });
    ctx.status = res.status;
    ctx.body = (await res.json()) as unknown;
  });
  const handle = koa.callback();
  return listen(
    http.createServer((req, res) => void handle(req, res)),
    setup.port,
    async () => {},
  );
}
