import { createHash, randomBytes } from 'node:crypto';
import {
  CODE_SCOPE,
  MCP_HEADERS,
  MCP_POST_BODY,
  POST_BODY,
  TOKEN_BODY,
  isToolSuccess,
  type BenchFixtures,
  type LoadOptions,
  type Scenario,
  type Seed,
  type TargetName,
} from './protocol.js';

/**
 * Before each row's load, one real exchange with the target proves it answers what the scenario expects (a token, a
 * code, an active introspection, a post that reached the upstream); then this says what the load generator sends.
 */
export interface Ready {
  url: string;
  seed: Seed;
}

type Timing = Pick<LoadOptions, 'connections' | 'warmupSeconds' | 'durationSeconds'>;

/** RFC 6749 §2.3.1: client id and secret are form-encoded before Basic encoding. */
export const basic = (id: string, secret: string) =>
  'Basic ' + Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64');

const FORM = 'application/x-www-form-urlencoded';

async function json(response: Response): Promise<Record<string, unknown>> {
  const text = await response.text();
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { unparsable: text.slice(0, 200) };
  }
}

function fail(what: string, status: number, body: Record<string, unknown>): never {
  // Only names and statuses: bodies here hold no secrets of anyone's, but keep tokens out of the output anyway.
  const { access_token: _a, refresh_token: _r, id_token: _i, ...rest } = body;
  throw new Error(`${what}: HTTP ${status} ${JSON.stringify(rest)}`);
}

/** One authorization-code round trip through the seeded session, as the load generator makes it: the access token. */
async function roundTrip(ready: Ready, fixtures: BenchFixtures): Promise<string> {
  if (!ready.seed.cookie) throw new Error('the target seeded no session');
  const verifier = randomBytes(32).toString('base64url');
  const query = new URLSearchParams({
    client_id: fixtures.web.clientId,
    response_type: 'code',
    redirect_uri: fixtures.web.redirectUri,
    scope: CODE_SCOPE,
    state: 'preflight',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  });
  const auth = await fetch(`${ready.url}/auth?${query}`, { headers: { cookie: ready.seed.cookie }, redirect: 'manual' });
  const location = auth.headers.get('location');
  const code = location && URL.canParse(location) ? new URL(location).searchParams.get('code') : null;
  if (![302, 303].includes(auth.status) || !code)
    throw new Error(`GET /auth gave no code: HTTP ${auth.status}, redirected to ${location?.split('?')[0] ?? 'nowhere'}`);
  const token = await fetch(`${ready.url}/token`, {
    method: 'POST',
    headers: { authorization: basic(fixtures.web.clientId, fixtures.web.clientSecret), 'content-type': FORM },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: fixtures.web.redirectUri, code_verifier: verifier }),
  });
  const body = await json(token);
  if (token.status !== 200 || typeof body.access_token !== 'string' || typeof body.id_token !== 'string')
    fail('code exchange', token.status, body);
  return body.access_token;
}

export async function prepareLoad(
  scenario: Scenario,
  target: TargetName,
  ready: Ready,
  fixtures: BenchFixtures,
  timing: Timing,
): Promise<LoadOptions> {
  const webAuth = basic(fixtures.web.clientId, fixtures.web.clientSecret);
  switch (scenario) {
    case 'discovery': {
      const response = await fetch(`${ready.url}/.well-known/openid-configuration`);
      const body = await json(response);
      if (response.status !== 200 || body.issuer !== ready.url) fail('discovery', response.status, body);
      return { ...timing, kind: 'simple', method: 'GET', url: `${ready.url}/.well-known/openid-configuration`, headers: {} };
    }
    case 'client-credentials':
    case 'workers': {
      const authorization = basic(fixtures.credentials.clientId, fixtures.credentials.clientSecret);
      const headers = { authorization, 'content-type': FORM };
      const response = await fetch(`${ready.url}/token`, { method: 'POST', headers, body: TOKEN_BODY });
      const body = await json(response);
      if (response.status !== 200 || typeof body.access_token !== 'string' || body.token_type !== 'Bearer' || body.scope !== 'tweet.read') {
        fail('client credentials', response.status, body);
      }
      return { ...timing, kind: 'simple', method: 'POST', url: `${ready.url}/token`, headers, body: TOKEN_BODY };
    }
    case 'authorization-code':
      await roundTrip(ready, fixtures);
      return {
        ...timing,
        kind: 'round-trip',
        url: ready.url,
        cookie: ready.seed.cookie!,
        clientId: fixtures.web.clientId,
        authorization: webAuth,
        redirectUri: fixtures.web.redirectUri,
        scope: CODE_SCOPE,
      };
    case 'refresh':
    case 'refresh-one-client': {
      const tokens = ready.seed.refreshTokens ?? [];
      if (tokens.length <= timing.connections)
        throw new Error(`the target seeded ${tokens.length} refresh tokens for ${timing.connections} connections`);
      // The spare one, beyond the connections' chains.
      const response = await fetch(`${ready.url}/token`, {
        method: 'POST',
        headers: { authorization: webAuth, 'content-type': FORM },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens[timing.connections]! }),
      });
      const body = await json(response);
      if (response.status !== 200 || typeof body.refresh_token !== 'string' || body.refresh_token === tokens[timing.connections])
        fail('refresh', response.status, body);
      return { ...timing, kind: 'refresh', url: ready.url, authorization: webAuth, refreshTokens: tokens.slice(0, timing.connections) };
    }
    case 'introspection': {
      const token = await roundTrip(ready, fixtures);
      const form = new URLSearchParams({ token }).toString();
      const headers = { authorization: webAuth, 'content-type': FORM };
      const response = await fetch(`${ready.url}/token/introspection`, { method: 'POST', headers, body: form });
      const body = await json(response);
      if (response.status !== 200 || body.active !== true) fail('introspection', response.status, body);
      return { ...timing, kind: 'simple', method: 'POST', url: `${ready.url}/token/introspection`, headers, body: form };
    }
    case 'resource':
    case 'mcp':
      return target === 'mcp' ? mcpLoad(ready, timing) : postLoad(target, ready, timing);
  }
}

/** The resource API's post (or the bare proxy's): a 200 with the upstream's post id. */
async function postLoad(target: TargetName, ready: Ready, timing: Timing): Promise<LoadOptions> {
  const url = target === 'resource' ? `${ready.url}/api/bench/posts` : `${ready.url}/posts`;
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    ...(ready.seed.token ? { authorization: `Bearer ${ready.seed.token}` } : {}),
  };
  const response = await fetch(url, { method: 'POST', headers, body: POST_BODY });
  const body = await json(response);
  if (response.status !== 200 || typeof body.id !== 'string') fail(`post through ${url}`, response.status, body);
  return { ...timing, kind: 'simple', method: 'POST', url, headers, body: POST_BODY };
}

interface ToolCallAnswer {
  result?: { isError?: boolean; structuredContent?: { status?: unknown; result?: { id?: unknown } } };
}

/**
 * The MCP server's `tools/call` of `post_tweet`: a 200 whose JSON-RPC result is a successful tool result holding the
 * upstream's post id, which the load generator's check on every body (isToolSuccess) must accept too.
 */
async function mcpLoad(ready: Ready, timing: Timing): Promise<LoadOptions> {
  const url = `${ready.url}/mcp`;
  const headers = { ...MCP_HEADERS, authorization: `Bearer ${ready.seed.token}` };
  const response = await fetch(url, { method: 'POST', headers, body: MCP_POST_BODY });
  const text = await response.text();
  let answer: ToolCallAnswer & Record<string, unknown>;
  try {
    answer = JSON.parse(text) as ToolCallAnswer & Record<string, unknown>;
  } catch {
    answer = { unparsable: text.slice(0, 200) };
  }
  const result = answer.result;
  if (
    response.status !== 200 ||
    !result ||
    result.isError === true ||
    result.structuredContent?.status !== 'done' ||
    typeof result.structuredContent.result?.id !== 'string' ||
    !isToolSuccess(text)
  )
    fail('tools/call post_tweet', response.status, answer);
  return { ...timing, kind: 'simple', method: 'POST', url, headers, body: MCP_POST_BODY, verify: 'tool-result' };
}
