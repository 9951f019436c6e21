import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface FakeXUser {
  id: string;
  username: string;
  name: string;
}

export type XCredential = { auth_token: string; ct0: string } | { access_token: string };

/** A post as the fake received it, with the credential it came with (what the tests compare to the owner's). */
export interface ReceivedPost {
  id: string;
  text: string;
  userId: string;
  via: 'web' | 'api';
  credential: XCredential;
  reply_to?: string;
  quote?: string;
}

/** How the next matching request is answered instead of normally. */
export type Failure =
  | { status: number; body?: unknown; headers?: Record<string, string> }
  | 'garbage' // 200 with HTML where JSON belongs
  | 'hang' // never answers
  | 'reset'; // drops the connection

interface Rule {
  failure: Failure;
  path: RegExp;
  times: number;
}

export interface OAuthClient {
  secret?: string;
}

const id = () => String(BigInt(1_800_000_000_000_000_000n) + BigInt(Math.floor(Math.random() * 1e15)));
const token = (n = 32) => randomBytes(n).toString('base64url');
export const FAKE_WEB_BEARER = `AAAAfakewebbearer${'x'.repeat(40)}`;

/** The variables of the web app's GraphQL calls, as the fake reads them. */
interface GraphqlVariables {
  tweet_text?: string;
  attachment_url?: unknown;
  reply?: { in_reply_to_tweet_id?: string };
  tweet_id?: string;
  userId?: string;
  count?: number;
}

/**
 * A fake X on 127.0.0.1 for the tests: the web app's GraphQL and 1.1 calls (checking the web bearer, the cookie and
 * that x-csrf-token equals ct0, as X does, and handing a fresh ct0 in Set-Cookie to a request without a matching one,
 * as X does for a browser holding only auth_token), API v2 with OAuth user tokens, and the OAuth 2.0 authorize (auto-approve)
 * and token endpoints (PKCE S256, refresh-token rotation). `fail()` makes it answer errors, garbage, or hang.
 */
export class FakeX {
  readonly posts: ReceivedPost[] = [];
  readonly deleted: { id: string; via: 'web' | 'api'; credential: XCredential }[] = [];
  /** Every request: method, path and headers, for tests that check what reached X. */
  readonly requests: { method: string; path: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
  readonly oauthClients = new Map<string, OAuthClient>();
  /** Who the authorize endpoint approves as. */
  approveAs?: FakeXUser;
  /** Lifetime of issued access tokens, in seconds. */
  accessTokenTtl = 7200;
  /** Every token pair issued, newest last, for tests that compare what reached X with what X gave out. */
  readonly issued: { access_token: string; refresh_token: string; userId: string }[] = [];
  /** Refresh grants served (successful ones), for the one-refresh-at-a-time tests. */
  refreshes = 0;
  /** Delay before answering a refresh, so that concurrent refreshes overlap. */
  refreshDelayMs = 0;

  /** Each signed-in session's auth_token, the ct0 values X handed it (the pasted one first), and its user. */
  private readonly cookies = new Map<string, { ct0s: string[]; user: FakeXUser }>();
  /** Every ct0 X handed out in a Set-Cookie, newest last, with the auth_token it was for. */
  readonly handedCt0: { auth_token: string; ct0: string }[] = [];
  private readonly accessTokens = new Map<string, { user: FakeXUser; expiresAt: number; scope: string }>();
  private readonly refreshTokens = new Map<string, { user: FakeXUser; clientId: string; scope: string }>();
  private readonly codes = new Map<string, { user: FakeXUser; clientId: string; redirectUri: string; challenge: string; scope: string }>();
  private readonly rules: Rule[] = [];
  private readonly sockets = new Set<Socket>();
  private server!: http.Server;
  url = '';

  constructor(readonly webBearer = FAKE_WEB_BEARER) {}

  static async start(): Promise<FakeX> {
    const fake = new FakeX();
    fake.server = http.createServer((req, res) => void fake.handle(req, res));
    fake.server.on('connection', (socket) => {
      fake.sockets.add(socket);
      socket.on('close', () => fake.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    fake.url = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
    return fake;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The env a test server needs to use this fake for everything X. */
  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      X_API_URL: this.url,
      X_WEB_URL: this.url,
      X_OAUTH_AUTHORIZE_URL: `${this.url}/i/oauth2/authorize`,
      X_OAUTH_TOKEN_URL: `${this.url}/2/oauth2/token`,
      X_WEB_BEARER: this.webBearer,
      ...extra,
    };
  }

  user(username = `user${randomBytes(3).toString('hex')}`): FakeXUser {
    return { id: id(), username, name: `Name of ${username}` };
  }

  /** A signed-in browser session for `user`: the two cookies an owner would paste. */
  signIn(user: FakeXUser = this.user()): { auth_token: string; ct0: string; user: FakeXUser } {
    const cookie = { auth_token: randomBytes(20).toString('hex'), ct0: randomBytes(80).toString('hex') };
    this.cookies.set(cookie.auth_token, { ct0s: [cookie.ct0], user });
    return { ...cookie, user };
  }

  /** Signs a browser session out: X stops accepting its cookie. */
  signOut(authToken: string): void {
    this.cookies.delete(authToken);
  }

  /** An access + refresh token pair for `user`, as if an OAuth flow had completed. */
  issueTokens(
    user: FakeXUser,
    clientId = 'x-client',
    ttl = this.accessTokenTtl,
    scope = 'tweet.read tweet.write users.read offline.access',
  ) {
    const access_token = token();
    const refresh_token = token();
    this.accessTokens.set(access_token, { user, expiresAt: Date.now() + ttl * 1000, scope });
    this.refreshTokens.set(refresh_token, { user, clientId, scope });
    this.issued.push({ access_token, refresh_token, userId: user.id });
    return { token_type: 'bearer', expires_in: ttl, access_token, refresh_token, scope };
  }

  revokeAccessToken(accessToken: string): void {
    this.accessTokens.delete(accessToken);
  }

  /** The next `times` requests whose path matches are answered with `failure`. */
  fail(failure: Failure, options: { path?: RegExp; times?: number } = {}): void {
    this.rules.push({ failure, path: options.path ?? /./, times: options.times ?? 1 });
  }

  clearFailures(): void {
    this.rules.length = 0;
  }

  tweetsOf(userId: string): ReceivedPost[] {
    return this.posts.filter((p) => p.userId === userId && !this.deleted.some((d) => d.id === p.id));
  }

  // ---- dispatch -------------------------------------------------------------------------------------------------

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', this.url);
    this.requests.push({ method: req.method ?? 'GET', path: url.pathname, headers: req.headers, body });

    const rule = this.rules.find((r) => r.path.test(url.pathname));
    if (rule) {
      if (--rule.times <= 0) this.rules.splice(this.rules.indexOf(rule), 1);
      if (rule.failure === 'hang') return;
      if (rule.failure === 'reset') return void req.socket.destroy();
      if (rule.failure === 'garbage')
        return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>Something went wrong</html>');
      return send(res, rule.failure.status, rule.failure.body ?? {}, rule.failure.headers);
    }

    const route = `${req.method} ${url.pathname}`;
    try {
      if (route === 'GET /i/api/1.1/account/verify_credentials.json') return this.verifyCredentials(req, res);
      if (route === 'GET /') return this.frontPage(req, res);
      const graphql = /^\/i\/api\/graphql\/([\w-]+)\/(CreateTweet|DeleteTweet|UserTweets)$/.exec(url.pathname);
      if (graphql) return this.graphql(req, res, graphql[2]!, graphql[1]!, url, body);
      if (route === 'GET /i/oauth2/authorize') return this.authorize(url, res);
      if (route === 'POST /2/oauth2/token') return await this.token(req, res, body);
      if (route === 'POST /2/oauth2/revoke') return this.revoke(res, body);
      if (url.pathname.startsWith('/2/')) return this.v2(req, res, url, body);
      send(res, 404, { errors: [{ code: 34, message: 'Sorry, that page does not exist.' }] });
    } catch (error) {
      send(res, 500, { errors: [{ message: String(error) }] });
    }
  }

  // ---- web app (cookie) -----------------------------------------------------------------------------------------

  /**
   * X's checks on a web call: its bearer, then the CSRF pair, then the session. As X does, a request whose ct0 cookie
   * and x-csrf-token header do not match a ct0 of the session is answered 403 (code 353) with a fresh
   * `Set-Cookie: ct0=…`, the way a browser holding only auth_token gets its CSRF token. X checks the CSRF pair before
   * the session, so an unknown auth_token gets a ct0 too, and is refused (401, code 32) once it comes with it.
   */
  private webUser(req: http.IncomingMessage, res: http.ServerResponse): { user: FakeXUser; credential: XCredential } | undefined {
    const cookies = Object.fromEntries(
      String(req.headers.cookie ?? '')
        .split(/;\s*/)
        .map((c) => c.split('=') as [string, string]),
    );
    const authToken = cookies.auth_token ?? '';
    const session = authToken ? this.cookies.get(authToken) : undefined;
    if (req.headers.authorization !== `Bearer ${this.webBearer}`)
      return void send(res, 401, { errors: [{ code: 215, message: 'Bad Authentication data.' }] });
    const ct0 = cookies.ct0 ?? '';
    const knownCt0 = session ? session.ct0s.includes(ct0) : ct0.length > 0;
    if (!knownCt0 || req.headers['x-csrf-token'] !== ct0) {
      const fresh = randomBytes(80).toString('hex');
      session?.ct0s.push(fresh);
      this.handedCt0.push({ auth_token: authToken, ct0: fresh });
      return void send(
        res,
        403,
        { errors: [{ code: 353, message: 'This request requires a matching csrf cookie and header.' }] },
        { 'set-cookie': `ct0=${fresh}; Max-Age=157680000; Path=/; Domain=.x.com; Secure; SameSite=Lax` },
      );
    }
    if (!session) return void send(res, 401, { errors: [{ code: 32, message: 'Could not authenticate you.' }] });
    return { user: session.user, credential: { auth_token: authToken, ct0 } };
  }

  /** x.com's front page: a browser holding only auth_token is sent on to /home with a fresh ct0, as X does. */
  private frontPage(req: http.IncomingMessage, res: http.ServerResponse): void {
    const authToken = /(?:^|;\s*)auth_token=([^;]*)/.exec(String(req.headers.cookie ?? ''))?.[1] ?? '';
    const fresh = randomBytes(80).toString('hex');
    this.cookies.get(authToken)?.ct0s.push(fresh);
    this.handedCt0.push({ auth_token: authToken, ct0: fresh });
    res
      .writeHead(302, { location: '/home', 'set-cookie': `ct0=${fresh}; Max-Age=157680000; Path=/; Domain=.x.com; Secure; SameSite=Lax` })
      .end();
  }

  /** The ct0 X handed out last for `authToken` (what oauth3 stores when the owner pasted auth_token alone). */
  ct0For(authToken: string): string | undefined {
    return this.handedCt0.filter((h) => h.auth_token === authToken).at(-1)?.ct0;
  }

  private verifyCredentials(req: http.IncomingMessage, res: http.ServerResponse): void {
    const who = this.webUser(req, res);
    if (who) send(res, 200, { id_str: who.user.id, id: Number(who.user.id), screen_name: who.user.username, name: who.user.name });
  }

  private graphql(req: http.IncomingMessage, res: http.ServerResponse, operation: string, queryId: string, url: URL, body: string): void {
    const who = this.webUser(req, res);
    if (!who) return;
    const input = (
      req.method === 'GET'
        ? {
            variables: JSON.parse(url.searchParams.get('variables') ?? '{}') as unknown,
            features: JSON.parse(url.searchParams.get('features') ?? '{}') as unknown,
          }
        : (JSON.parse(body) as unknown)
    ) as { variables: GraphqlVariables; features?: unknown; queryId?: string };
    if (!input.features || (req.method === 'POST' && input.queryId !== queryId))
      return send(res, 400, { errors: [{ code: 336, message: 'features or queryId missing' }] });
    const v = input.variables;
    if (operation === 'CreateTweet') {
      const text = String(v.tweet_text ?? '');
      if (this.tweetsOf(who.user.id).some((p) => p.text === text))
        return send(res, 200, { errors: [{ code: 187, message: 'Status is a duplicate. (187)' }], data: {} });
      const quote = typeof v.attachment_url === 'string' ? /\/status\/(\d+)$/.exec(v.attachment_url)?.[1] : undefined;
      const post = this.record(who, 'web', text, v.reply?.in_reply_to_tweet_id, quote);
      return send(res, 200, {
        data: { create_tweet: { tweet_results: { result: { __typename: 'Tweet', rest_id: post.id, legacy: { full_text: text } } } } },
      });
    }
    if (operation === 'DeleteTweet') {
      const target = this.tweetsOf(who.user.id).find((p) => p.id === v.tweet_id);
      if (!target) return send(res, 200, { errors: [{ code: 144, message: 'No status found with that ID.' }], data: {} });
      this.deleted.push({ id: target.id, via: 'web', credential: who.credential });
      return send(res, 200, { data: { delete_tweet: { tweet_results: {} } } });
    }
    const entries = this.tweetsOf(String(v.userId))
      .reverse()
      .slice(0, Number(v.count ?? 20))
      .map((p) => ({
        entryId: `tweet-${p.id}`,
        content: {
          entryType: 'TimelineTimelineItem',
          itemContent: {
            itemType: 'TimelineTweet',
            tweet_results: { result: { __typename: 'Tweet', rest_id: p.id, legacy: { full_text: p.text } } },
          },
        },
      }));
    send(res, 200, {
      data: {
        user: { result: { __typename: 'User', timeline_v2: { timeline: { instructions: [{ type: 'TimelineAddEntries', entries }] } } } },
      },
    });
  }

  private record(
    who: { user: FakeXUser; credential: XCredential },
    via: 'web' | 'api',
    text: string,
    replyTo?: string,
    quote?: string,
  ): ReceivedPost {
    const post: ReceivedPost = {
      id: id(),
      text,
      userId: who.user.id,
      via,
      credential: who.credential,
      ...(replyTo ? { reply_to: String(replyTo) } : {}),
      ...(quote ? { quote: String(quote) } : {}),
    };
    this.posts.push(post);
    return post;
  }

  // ---- API v2 (OAuth user token) ----------------------------------------------------------------------------------

  private v2(req: http.IncomingMessage, res: http.ServerResponse, url: URL, body: string): void {
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const grant = bearer ? this.accessTokens.get(bearer) : undefined;
    if (!grant || grant.expiresAt <= Date.now())
      return send(res, 401, { title: 'Unauthorized', type: 'about:blank', status: 401, detail: 'Unauthorized' });
    const who = { user: grant.user, credential: { access_token: bearer! } };
    const route = `${req.method} ${url.pathname}`;
    if (route === 'GET /2/users/me') return send(res, 200, { data: who.user });
    if (route === 'POST /2/tweets') {
      const input = JSON.parse(body) as { text: string; reply?: { in_reply_to_tweet_id?: string }; quote_tweet_id?: string };
      if (this.tweetsOf(who.user.id).some((p) => p.text === input.text)) {
        return send(res, 403, {
          detail: 'You are not allowed to create a Tweet with duplicate content.',
          type: 'about:blank',
          title: 'Forbidden',
          status: 403,
        });
      }
      const post = this.record(who, 'api', input.text, input.reply?.in_reply_to_tweet_id, input.quote_tweet_id);
      return send(res, 201, { data: { id: post.id, text: post.text, edit_history_tweet_ids: [post.id] } });
    }
    const del = /^DELETE \/2\/tweets\/(\d+)$/.exec(route);
    if (del) {
      const target = this.tweetsOf(who.user.id).find((p) => p.id === del[1]);
      if (!target)
        return send(res, 404, {
          title: 'Not Found Error',
          type: 'https://api.twitter.com/2/problems/resource-not-found',
          detail: `Could not find tweet with id: [${del[1]}].`,
          status: 404,
        });
      this.deleted.push({ id: target.id, via: 'api', credential: who.credential });
      return send(res, 200, { data: { deleted: true } });
    }
    const timeline = /^GET \/2\/users\/(\d+)\/tweets$/.exec(route);
    if (timeline) {
      const max = Number(url.searchParams.get('max_results') ?? 10);
      if (!(max >= 5 && max <= 100))
        return send(res, 400, { title: 'Invalid Request', detail: 'max_results must be between 5 and 100', status: 400 });
      const tweets = this.tweetsOf(timeline[1]!)
        .reverse()
        .slice(0, max)
        .map((p) => ({ id: p.id, text: p.text, edit_history_tweet_ids: [p.id] }));
      return send(
        res,
        200,
        tweets.length
          ? { data: tweets, meta: { result_count: tweets.length, newest_id: tweets[0]!.id, oldest_id: tweets.at(-1)!.id } }
          : { meta: { result_count: 0 } },
      );
    }
    send(res, 404, { title: 'Not Found Error', status: 404, detail: 'no such endpoint' });
  }

  // ---- OAuth 2.0 ----------------------------------------------------------------------------------------------------

  /** Auto-approves as `approveAs` (the owner clicking "Authorize app" on x.com). */
  private authorize(url: URL, res: http.ServerResponse): void {
    const q = Object.fromEntries(url.searchParams);
    const client = q.client_id ? this.oauthClients.get(q.client_id) : undefined;
    if (!client || q.response_type !== 'code' || !q.redirect_uri || !q.state) return send(res, 400, { error: 'invalid_request' });
    if (q.code_challenge_method !== 'S256' || !/^[\w-]{43}$/.test(q.code_challenge ?? ''))
      return send(res, 400, { error: 'invalid_request', error_description: 'PKCE S256 required' });
    const user = this.approveAs ?? this.user();
    const code = token();
    this.codes.set(code, { user, clientId: q.client_id!, redirectUri: q.redirect_uri, challenge: q.code_challenge!, scope: q.scope ?? '' });
    const back = new URL(q.redirect_uri);
    back.searchParams.set('state', q.state);
    back.searchParams.set('code', code);
    res.writeHead(302, { location: back.href }).end();
  }

  private clientOf(req: http.IncomingMessage, form: URLSearchParams): string | undefined {
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (basic) {
      const [rawId, rawSecret] = Buffer.from(basic, 'base64')
        .toString('utf8')
        .split(':')
        .map((s) => decodeURIComponent(s ?? ''));
      const client = this.oauthClients.get(rawId ?? '');
      return client?.secret && client.secret === rawSecret ? rawId : undefined;
    }
    const clientId = form.get('client_id') ?? '';
    const client = this.oauthClients.get(clientId);
    return client && !client.secret ? clientId : undefined;
  }

  private async token(req: http.IncomingMessage, res: http.ServerResponse, body: string): Promise<void> {
    const form = new URLSearchParams(body);
    const clientId = this.clientOf(req, form);
    if (!clientId) return send(res, 401, { error: 'unauthorized_client', error_description: 'Missing valid authorization header' });
    if (form.get('grant_type') === 'authorization_code') {
      const code = this.codes.get(form.get('code') ?? '');
      this.codes.delete(form.get('code') ?? '');
      const verifier = form.get('code_verifier') ?? '';
      const challenge = createHash('sha256').update(verifier).digest('base64url');
      if (!code || code.clientId !== clientId || code.redirectUri !== form.get('redirect_uri') || code.challenge !== challenge) {
        return send(res, 400, { error: 'invalid_request', error_description: 'Value passed for the authorization code was invalid.' });
      }
      return send(res, 200, this.issueTokens(code.user, clientId, this.accessTokenTtl, code.scope));
    }
    if (form.get('grant_type') === 'refresh_token') {
      const old = form.get('refresh_token') ?? '';
      const grant = this.refreshTokens.get(old);
      if (this.refreshDelayMs) await new Promise((r) => setTimeout(r, this.refreshDelayMs));
      if (!grant || grant.clientId !== clientId || !this.refreshTokens.delete(old)) {
        return send(res, 400, { error: 'invalid_request', error_description: 'Value passed for the token was invalid.' });
      }
      this.refreshes += 1;
      return send(res, 200, this.issueTokens(grant.user, clientId, this.accessTokenTtl, grant.scope));
    }
    send(res, 400, { error: 'unsupported_grant_type' });
  }

  private revoke(res: http.ServerResponse, body: string): void {
    const value = new URLSearchParams(body).get('token') ?? '';
    this.accessTokens.delete(value);
    this.refreshTokens.delete(value);
    send(res, 200, { revoked: true });
  }
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers }).end(JSON.stringify(body));
}
