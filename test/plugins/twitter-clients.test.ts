import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { inspect } from 'node:util';
import { ZodError } from 'zod';
import { loadConfig } from '../../src/config.js';
import { AppError } from '../../src/errors.js';
import { XWebClient, type XCookie } from '../../src/plugins/twitter/web-client.js';
import { XApiClient } from '../../src/plugins/twitter/api-client.js';
import { XError } from '../../src/plugins/twitter/errors.js';
import { verifyXCookie } from '../../src/plugins/twitter/credentials.js';
import { xProvider } from '../../src/plugins/twitter/provider.js';
import { DEFAULT_QUERY_IDS } from '../../src/plugins/twitter/web-graphql.js';
import { FakeX, type FakeXUser } from '../fakes/x.js';

/**
 * The two X clients of the plugin against a fake X: the web client a pasted cookie uses, and twitter-api-v2 for OAuth
 * tokens. What reaches X, and how each failure of X is answered, without a server around them.
 */
let x: FakeX;
/** For the cases where X never answers: short, so they end quickly. */
const TIMEOUT_MS = 400;
/** For the cases where X answers: long, so a busy machine (CI running other suites) never turns an answer into a timeout. */
const ANSWER_MS = 10_000;

beforeAll(async () => {
  x = await FakeX.start();
});
afterAll(() => x?.close());
beforeEach(() => x.clearFailures());

/** Rejects with an XError of `code`; its message, JSON and log form never include any of `secrets`. */
async function expectXError(promise: Promise<unknown>, code: string, secrets: string[]): Promise<XError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(XError);
  const xError = error as XError;
  expect(xError.code).toBe(code);
  const shown = [xError.message, JSON.stringify(xError), inspect(xError, { depth: 5 }), String(xError.cause)].join('\n');
  for (const secret of secrets) expect(shown).not.toContain(secret);
  return xError;
}

/** Posts `<label> first`, a reply to it and a quote of it; X must have recorded the reply and the quote as such. */
async function postReplyAndQuote(client: XWebClient | XApiClient, label: string) {
  const first = await client.post({ text: `${label} first` });
  const reply = await client.post({ text: `${label} reply`, reply_to: first.id });
  const quote = await client.post({ text: `${label} quote`, quote: first.id });
  expect(x.posts.find((p) => p.id === reply.id)).toMatchObject({ reply_to: first.id });
  expect(x.posts.find((p) => p.id === quote.id)).toMatchObject({ quote: first.id });
  return { first, reply, quote };
}

describe('the web client (a pasted cookie)', () => {
  let owner: { auth_token: string; ct0: string; user: FakeXUser };
  let cookie: XCookie;
  let client: XWebClient;
  const webClient = (c: XCookie, timeoutMs = ANSWER_MS) =>
    new XWebClient({ baseUrl: x.url, bearer: x.webBearer, queryIds: DEFAULT_QUERY_IDS, timeoutMs }, c);

  beforeAll(() => {
    owner = x.signIn(x.user('alice_x'));
    cookie = { auth_token: owner.auth_token, ct0: owner.ct0 };
    client = webClient(cookie);
  });

  it('learns who the cookie signs in as', async () => {
    expect(await client.me()).toEqual({ id: owner.user.id, username: 'alice_x', name: owner.user.name });
  });

  it("sends X's web headers: the web bearer, both cookies, and the CSRF header equal to ct0", async () => {
    await client.me();
    const { headers } = x.requests.at(-1)!;
    expect(headers.authorization).toBe(`Bearer ${x.webBearer}`);
    expect(headers.cookie).toBe(`auth_token=${owner.auth_token}; ct0=${owner.ct0}`);
    expect(headers['x-csrf-token']).toBe(owner.ct0);
    expect(headers['x-twitter-auth-type']).toBe('OAuth2Session');
  });

  it("posts through CreateTweet, and X receives exactly that text with exactly the owner's cookie", async () => {
    const before = x.posts.length;
    const posted = await client.post({ text: 'hello from the web client 🌍' });
    expect(x.posts.slice(before)).toEqual([
      { id: posted.id, text: 'hello from the web client 🌍', userId: owner.user.id, via: 'web', credential: cookie },
    ]);
    expect(posted.text).toBe('hello from the web client 🌍');
    const request = x.requests.at(-1)!;
    expect(request.path).toBe(`/i/api/graphql/${DEFAULT_QUERY_IDS.CreateTweet}/CreateTweet`);
    expect(JSON.parse(request.body)).toMatchObject({
      queryId: DEFAULT_QUERY_IDS.CreateTweet,
      variables: { tweet_text: 'hello from the web client 🌍' },
      features: expect.any(Object),
    });
  });

  it('posts replies and quotes the way x.com does', async () => {
    await postReplyAndQuote(client, 'web');
  });

  it('lists recent posts, newest first, and deletes one', async () => {
    const made = await client.post({ text: `recent ${Date.now()}` });
    const recent = await client.tweets(owner.user.id, 2);
    expect(recent).toHaveLength(2);
    expect(recent[0]).toEqual({ id: made.id, text: made.text });
    await client.remove(made.id);
    expect(x.deleted.at(-1)).toEqual({ id: made.id, via: 'web', credential: cookie });
    expect((await client.tweets(owner.user.id, 100)).map((t) => t.id)).not.toContain(made.id);
  });

  const secrets = () => [owner.auth_token, owner.ct0];

  it('answers a signed-out cookie with reconnect_required and asks for re-linking', async () => {
    const gone = x.signIn();
    const goneClient = webClient({ auth_token: gone.auth_token, ct0: gone.ct0 });
    x.signOut(gone.auth_token);
    const error = await expectXError(goneClient.post({ text: 'x' }), 'reconnect_required', [gone.auth_token, gone.ct0]);
    expect(error.status).toBe(409);
    expect(error.code).toBe('reconnect_required');
  });

  it('answers a CSRF mismatch (X 403) with reconnect_required', async () => {
    await expectXError(webClient({ auth_token: owner.auth_token, ct0: 'f'.repeat(160) }).me(), 'reconnect_required', secrets());
  });

  it("answers X 429 with upstream_rate_limited and X's wait", async () => {
    x.fail({ status: 429, body: { errors: [{ code: 88, message: 'Rate limit exceeded' }] }, headers: { 'retry-after': '17' } });
    const error = await expectXError(client.post({ text: 'limited' }), 'upstream_rate_limited', secrets());
    expect(error.status).toBe(429);
    expect(error.retryAfter).toBe('17');
  });

  it('reads the wait from x-rate-limit-reset when X sends no Retry-After', async () => {
    x.fail({ status: 429, body: {}, headers: { 'x-rate-limit-reset': String(Math.floor(Date.now() / 1000) + 120) } });
    const error = await expectXError(client.me(), 'upstream_rate_limited', secrets());
    expect(Number(error.retryAfter)).toBeGreaterThanOrEqual(119);
  });

  it('answers a duplicate post (X code 187, in a 200 reply) with duplicate_post', async () => {
    await client.post({ text: 'only once' });
    const error = await expectXError(client.post({ text: 'only once' }), 'duplicate_post', secrets());
    expect(error.status).toBe(409);
  });

  it('answers deleting an unknown post (X code 144) with tweet_not_found', async () => {
    const error = await expectXError(client.remove('123456789'), 'tweet_not_found', secrets());
    expect(error.status).toBe(404);
  });

  it.each([
    ['X 503', 'upstream_error', 502, { status: 503, body: { errors: [{ message: 'Over capacity' }] } }],
    ['HTML instead of JSON', 'upstream_error', 502, 'garbage' as const],
    ['a dropped connection', 'upstream_error', 502, 'reset' as const],
    ['a JSON reply of the wrong shape', 'upstream_error', 502, { status: 200, body: { data: { something: 'else' } } }],
    ['no answer in time', 'upstream_timeout', 504, 'hang' as const],
  ])('answers %s with %s (%s)', async (_what, code, status, failure) => {
    x.fail(failure);
    const using = failure === 'hang' ? webClient(cookie, TIMEOUT_MS) : client;
    const error = await expectXError(using.post({ text: `fails ${code} ${Math.random()}` }), code, secrets());
    expect(error.status).toBe(status);
    expect(error.code).not.toBe('reconnect_required');
  });

  it('answers an unknown query id (X changed its web app) with upstream_error', async () => {
    const stale = new XWebClient(
      { baseUrl: x.url, bearer: x.webBearer, queryIds: { ...DEFAULT_QUERY_IDS, CreateTweet: 'stale-query-id' }, timeoutMs: ANSWER_MS },
      cookie,
    );
    x.fail({ status: 404, body: {} }, { path: /stale-query-id/ });
    const error = await expectXError(stale.post({ text: 'stale' }), 'upstream_error', secrets());
    expect(error.description).toMatch(/query ids/);
  });
});

describe('checking a pasted cookie before it is saved', () => {
  const config = (timeoutMs = ANSWER_MS) => loadConfig({ NODE_ENV: 'test', ...x.env(), UPSTREAM_TIMEOUT_MS: String(timeoutMs) });

  it('accepts a cookie X signs in with, labelled with the handle', async () => {
    const owner = x.signIn(x.user('bob_x'));
    const verified = await verifyXCookie({ auth_token: owner.auth_token, ct0: owner.ct0 }, { config: config() });
    expect(verified).toEqual({
      label: '@bob_x',
      secret: { auth_token: owner.auth_token, ct0: owner.ct0 },
      meta: { user_id: owner.user.id, handle: 'bob_x' },
    });
  });

  it('gets ct0 from X for an auth_token pasted alone, then checks the pair and stores both', async () => {
    const owner = x.signIn(x.user('erin_x'));
    const calls = x.requests.length;
    const verified = await verifyXCookie({ auth_token: owner.auth_token }, { config: config() });
    const handed = x.ct0For(owner.auth_token);
    expect(handed).toMatch(/^[0-9a-f]{160}$/);
    expect(handed).not.toBe(owner.ct0);
    expect(verified).toEqual({
      label: '@erin_x',
      secret: { auth_token: owner.auth_token, ct0: handed },
      meta: { user_id: owner.user.id, handle: 'erin_x' },
    });
    // First only auth_token (X answers with Set-Cookie: ct0), then the pair, as a browser sends it.
    const [first, second] = x.requests.slice(calls);
    expect(x.requests.length - calls).toBe(2);
    expect(first!.headers.cookie).toBe(`auth_token=${owner.auth_token}`);
    expect(first!.headers['x-csrf-token']).toBeUndefined();
    expect(second!.headers.cookie).toBe(`auth_token=${owner.auth_token}; ct0=${handed}`);
    expect(second!.headers['x-csrf-token']).toBe(handed);
    // The pair works for posting afterwards.
    const client = new XWebClient(
      { baseUrl: x.url, bearer: x.webBearer, queryIds: DEFAULT_QUERY_IDS, timeoutMs: ANSWER_MS },
      verified.secret as unknown as XCookie,
    );
    expect((await client.post({ text: 'posted with the ct0 X handed out' })).text).toBe('posted with the ct0 X handed out');
  });

  it('refuses an auth_token X does not know, pasted alone, with a plain 400 that never echoes it', async () => {
    const stranger = 'e'.repeat(40);
    const error = await verifyXCookie({ auth_token: stranger }, { config: config() }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'invalid_credential', status: 400 });
    expect((error as AppError).description).toMatch(/X did not accept this auth_token: it has expired, you signed out of x\.com/);
    const handed = x.ct0For(stranger)!;
    expect(handed).toBeDefined();
    const shown = [JSON.stringify(error), (error as Error).message, (error as AppError).description, inspect(error, { depth: 5 })].join();
    expect(shown).not.toContain(stranger);
    expect(shown).not.toContain(handed);
  });

  it.each([
    [
      'refuses outright (401, no ct0)',
      { status: 401, body: { errors: [{ code: 32, message: 'Could not authenticate you.' }] } },
      'invalid_credential',
      400,
    ],
    ['fails (503, no ct0) twice', { status: 503, body: {} }, 'upstream_error', 502],
    ['answers 200 without a ct0 twice', { status: 200, body: {} }, 'upstream_error', 502],
    ['sends a malformed ct0 twice', { status: 200, body: {}, headers: { 'set-cookie': 'ct0=not&valid; Path=/' } }, 'upstream_error', 502],
  ])('when X %s for an auth_token alone, answers %s', async (_what, failure, code, status) => {
    const owner = x.signIn();
    // The API and then x.com's front page, both.
    x.fail(failure, { times: 2 });
    await expect(verifyXCookie({ auth_token: owner.auth_token }, { config: config() })).rejects.toMatchObject({ code, status });
  });

  it("falls back to x.com's front page for the ct0 when the API sets none", async () => {
    const owner = x.signIn(x.user('gina_x'));
    x.fail({ status: 200, body: {} }, { path: /verify_credentials/ });
    const calls = x.requests.length;
    const verified = await verifyXCookie({ auth_token: owner.auth_token }, { config: config() });
    expect(x.requests.slice(calls).map((r) => r.path)).toEqual([
      '/i/api/1.1/account/verify_credentials.json',
      '/',
      '/i/api/1.1/account/verify_credentials.json',
    ]);
    expect(x.requests[calls + 1]!.headers.cookie).toBe(`auth_token=${owner.auth_token}`);
    expect(verified).toMatchObject({ label: '@gina_x', secret: { auth_token: owner.auth_token, ct0: x.ct0For(owner.auth_token) } });
  });

  it.each([
    ['an auth_token alone', (o: { auth_token: string; ct0: string }) => ({ auth_token: o.auth_token })],
    ['auth_token and ct0', (o: { auth_token: string; ct0: string }) => ({ auth_token: o.auth_token, ct0: o.ct0 })],
  ])('says X could not be reached (502) or did not answer (504), for %s', async (_, cookie) => {
    const owner = x.signIn();
    const unreachable = loadConfig({
      NODE_ENV: 'test',
      ...x.env(),
      X_WEB_URL: 'http://127.0.0.1:9',
      UPSTREAM_TIMEOUT_MS: String(TIMEOUT_MS),
    });
    await expect(verifyXCookie(cookie(owner), { config: unreachable })).rejects.toMatchObject({
      code: 'upstream_error',
      status: 502,
      description: 'X could not be reached. Try again later.',
    });
    x.fail('hang');
    await expect(verifyXCookie(cookie(owner), { config: config(TIMEOUT_MS) })).rejects.toMatchObject({
      code: 'upstream_timeout',
      status: 504,
      description: 'X did not answer in time. Try again later.',
    });
  });

  it('refuses a cookie X does not accept with 400 invalid_credential, without echoing it', async () => {
    const stranger = { auth_token: 'a'.repeat(40), ct0: 'b'.repeat(160) };
    const error = await verifyXCookie(stranger, { config: config() }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: 'invalid_credential', status: 400 });
    expect(JSON.stringify(error) + (error as Error).message).not.toContain(stranger.auth_token);
  });

  it('refuses values that are not cookie-shaped before calling X', async () => {
    const calls = x.requests.length;
    await expect(verifyXCookie({ auth_token: 'short', ct0: 'b'.repeat(160) }, { config: config() })).rejects.toBeInstanceOf(ZodError);
    await expect(
      verifyXCookie({ auth_token: `${'a'.repeat(40)}; evil=1`, ct0: 'b'.repeat(160) }, { config: config() }),
    ).rejects.toBeInstanceOf(ZodError);
    expect(x.requests.length).toBe(calls);
  });
});

describe('the API v2 client (an OAuth token, through twitter-api-v2)', () => {
  let user: FakeXUser;
  let accessToken: string;
  let client: XApiClient;
  const apiClient = (token: string, timeoutMs = ANSWER_MS) => new XApiClient({ baseUrl: x.url, timeoutMs }, token);

  beforeAll(() => {
    user = x.user('carol_x');
    accessToken = x.issueTokens(user).access_token;
    client = apiClient(accessToken);
  });

  it('reads the account and posts with the bearer token at X_API_URL', async () => {
    expect(await client.me()).toEqual(user);
    const posted = await client.post({ text: 'hello from twitter-api-v2' });
    expect(x.posts.at(-1)).toEqual({
      id: posted.id,
      text: 'hello from twitter-api-v2',
      userId: user.id,
      via: 'api',
      credential: { access_token: accessToken },
    });
    expect(x.requests.at(-1)).toMatchObject({ method: 'POST', path: '/2/tweets' });
    expect(x.requests.at(-1)!.headers.authorization).toBe(`Bearer ${accessToken}`);
  });

  it('posts replies and quotes, lists recent posts and deletes', async () => {
    const { first, reply, quote } = await postReplyAndQuote(client, 'v2');
    // X wants max_results of at least 5: the client asks for 5 and keeps 2.
    expect(await client.tweets(user.id, 2)).toEqual([
      { id: quote.id, text: 'v2 quote' },
      { id: reply.id, text: 'v2 reply' },
    ]);
    await client.remove(first.id);
    expect(x.deleted.at(-1)).toEqual({ id: first.id, via: 'api', credential: { access_token: accessToken } });
  });

  it('answers a token X refuses with reconnect_required', async () => {
    const other = x.issueTokens(x.user()).access_token;
    x.revokeAccessToken(other);
    const error = await expectXError(apiClient(other).post({ text: 'x' }), 'reconnect_required', [other]);
    expect(error.code).toBe('reconnect_required');
  });

  it('answers a duplicate (X 403 "duplicate content") with duplicate_post', async () => {
    await client.post({ text: 'v2 only once' });
    await expectXError(client.post({ text: 'v2 only once' }), 'duplicate_post', [accessToken]);
  });

  it('answers deleting an unknown post with tweet_not_found', async () => {
    await expectXError(client.remove('42'), 'tweet_not_found', [accessToken]);
  });

  it('answers X 429 with upstream_rate_limited and the wait from x-rate-limit-reset', async () => {
    x.fail({
      status: 429,
      body: { title: 'Too Many Requests', status: 429 },
      headers: { 'x-rate-limit-reset': String(Math.floor(Date.now() / 1000) + 30) },
    });
    const error = await expectXError(client.post({ text: 'limited' }), 'upstream_rate_limited', [accessToken]);
    expect(Number(error.retryAfter)).toBeGreaterThanOrEqual(29);
  });

  it.each([
    ['X 500', 'upstream_error', { status: 500, body: { title: 'Internal Error' } }],
    ['HTML instead of JSON', 'upstream_error', 'garbage' as const],
    ['a dropped connection', 'upstream_error', 'reset' as const],
    ['no answer in time', 'upstream_timeout', 'hang' as const],
  ])('answers %s with %s', async (_what, code, failure) => {
    x.fail(failure);
    const using = failure === 'hang' ? apiClient(accessToken, TIMEOUT_MS) : client;
    await expectXError(using.post({ text: `v2 fails ${Math.random()}` }), code, [accessToken]);
  });
});

describe('X as an upstream OAuth provider', () => {
  it('is offered only with an X client id, with PKCE, offline.access and the right client authentication', () => {
    expect(xProvider(loadConfig({ NODE_ENV: 'test', ...x.env() }))).toEqual([]);
    const [pub] = xProvider(loadConfig({ NODE_ENV: 'test', ...x.env(), X_CLIENT_ID: 'public-app' }));
    expect(pub).toMatchObject({
      id: 'x',
      authorizationUrl: `${x.url}/i/oauth2/authorize`,
      tokenUrl: `${x.url}/2/oauth2/token`,
      clientId: 'public-app',
      usePkce: true,
      tokenAuthMethod: 'post',
      scopes: ['tweet.read', 'tweet.write', 'users.read', 'offline.access'],
      profileUrl: `${x.url}/2/users/me`,
    });
    const [confidential] = xProvider(loadConfig({ NODE_ENV: 'test', ...x.env(), X_CLIENT_ID: 'app', X_CLIENT_SECRET: 'shh' }));
    expect(confidential).toMatchObject({ clientSecret: 'shh', tokenAuthMethod: 'basic' });
  });

  it('takes rotated web query ids from X_WEB_QUERY_IDS and refuses malformed ones', () => {
    expect(loadConfig({ NODE_ENV: 'test', X_WEB_QUERY_IDS: '{"CreateTweet":"abcDEF123_-xyz"}' }).X_WEB_QUERY_IDS).toEqual({
      CreateTweet: 'abcDEF123_-xyz',
    });
    expect(() => loadConfig({ NODE_ENV: 'test', X_WEB_QUERY_IDS: '{"CreateTweet":"../../evil"}' })).toThrow(/X_WEB_QUERY_IDS/);
    expect(() => loadConfig({ NODE_ENV: 'test', X_WEB_QUERY_IDS: 'not json' })).toThrow(/X_WEB_QUERY_IDS/);
  });
});
