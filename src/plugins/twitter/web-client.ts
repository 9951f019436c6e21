import type { z } from 'zod';
import { fromXFailure, retryAfterFrom, type XError, type XFailure } from './errors.js';
import {
  CreateTweetReply,
  DeleteTweetReply,
  TWEET_FEATURES,
  UserTweetsReply,
  VerifyCredentialsReply,
  XErrors,
  createTweetVariables,
  createdTweet,
  timelineTweets,
  userTweetsVariables,
  type NewPost,
  type Operation,
  type QueryIds,
} from './web-graphql.js';
import type { Connection } from '../plugin.js';

/** The owner's browser session on x.com, as pasted: the session cookie and its CSRF twin. */
export interface XCookie {
  auth_token: string;
  ct0: string;
}

export interface WebClientOptions {
  /** X_WEB_URL: https://x.com, or a fake X in the tests. */
  baseUrl: string;
  /** X_WEB_BEARER: the web app's public bearer token. */
  bearer: string;
  queryIds: QueryIds;
  timeoutMs: number;
}

export interface XUser {
  id: string;
  username: string;
  name: string;
}

/**
 * A small client for X's web API with a pasted cookie: the calls x.com makes for the signed-in user. No maintained
 * library fits (agent-twitter-client logs in with a password and hard-codes its hosts, so it cannot be pointed at a
 * test server). Errors come out as XErrors from errors.ts; nothing here logs, and no error carries the cookie.
 */
export class XWebClient {
  constructor(
    private readonly options: WebClientOptions,
    private readonly cookie: XCookie,
    /** The connection the cookie belongs to, so a refused cookie can be marked for re-linking. */
    private readonly connection?: Connection,
  ) {}

  /** Who the cookie signs in as; also the check run before a pasted cookie is saved. */
  async me(): Promise<XUser> {
    const reply = await this.call(
      'GET',
      '/i/api/1.1/account/verify_credentials.json?include_entities=false&skip_status=true',
      undefined,
      VerifyCredentialsReply,
    );
    return { id: reply.id_str, username: reply.screen_name, name: reply.name };
  }

  async post(post: NewPost): Promise<{ id: string; text: string }> {
    const reply = await this.graphql('CreateTweet', createTweetVariables(post), CreateTweetReply);
    const tweet = createdTweet(reply);
    if (!tweet) throw this.fail({ kind: 'malformed', detail: 'CreateTweet without a tweet id' });
    return { id: tweet.id, text: tweet.text || post.text };
  }

  async remove(id: string): Promise<void> {
    await this.graphql('DeleteTweet', { tweet_id: id, dark_request: false }, DeleteTweetReply);
  }

  async tweets(userId: string, limit: number): Promise<{ id: string; text: string }[]> {
    const query = new URLSearchParams({
      variables: JSON.stringify(userTweetsVariables(userId, limit)),
      features: JSON.stringify(TWEET_FEATURES),
    });
    const reply = await this.call(
      'GET',
      `/i/api/graphql/${this.options.queryIds.UserTweets}/UserTweets?${query}`,
      undefined,
      UserTweetsReply,
    );
    return timelineTweets(reply).slice(0, limit);
  }

  private graphql<T extends z.ZodType>(operation: Operation, variables: Record<string, unknown>, schema: T): Promise<z.output<T>> {
    const queryId = this.options.queryIds[operation];
    return this.call('POST', `/i/api/graphql/${queryId}/${operation}`, { variables, features: TWEET_FEATURES, queryId }, schema);
  }

  private async call<T extends z.ZodType>(method: 'GET' | 'POST', path: string, body: unknown, schema: T): Promise<z.output<T>> {
    let res: Response;
    try {
      res = await fetch(`${this.options.baseUrl}${path}`, {
        method,
        headers: this.headers(body !== undefined),
        body: body === undefined ? undefined : JSON.stringify(body),
        redirect: 'manual',
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch (error) {
      throw this.fail(isTimeout(error) ? { kind: 'timeout' } : { kind: 'network' });
    }
    let text: string;
    try {
      text = await res.text();
    } catch (error) {
      throw this.fail(isTimeout(error) ? { kind: 'timeout' } : { kind: 'network' });
    }
    const json = parseJson(text);
    const errors = XErrors.safeParse(json);
    const codes = errors.success ? (errors.data.errors ?? []).flatMap((e) => (e.code === undefined ? [] : [e.code])) : [];
    const detail = errors.success ? (errors.data.detail ?? errors.data.errors?.[0]?.message) : undefined;
    if (!res.ok) {
      throw this.fail({
        kind: 'status',
        status: res.status,
        codes,
        ...(detail ? { detail } : {}),
        ...(res.status === 429 ? { retryAfter: retryAfterFrom(res.headers) } : {}),
      });
    }
    const parsed = schema.safeParse(json);
    if (parsed.success) return parsed.data;
    // X reports failed mutations (duplicate, not found, signed out) as errors in a 200 reply.
    if (codes.length) throw this.fail({ kind: 'status', status: res.status, codes, ...(detail ? { detail } : {}) });
    throw this.fail({ kind: 'malformed', detail: `unexpected reply to ${method} ${path.split('?')[0]}` });
  }

  /** Headers as x.com's web app sends them for a signed-in user (the CSRF header must equal the ct0 cookie). */
  private headers(json: boolean): Record<string, string> {
    return {
      authorization: `Bearer ${this.options.bearer}`,
      cookie: `auth_token=${this.cookie.auth_token}; ct0=${this.cookie.ct0}`,
      'x-csrf-token': this.cookie.ct0,
      'x-twitter-auth-type': 'OAuth2Session',
      'x-twitter-active-user': 'yes',
      'x-twitter-client-language': 'en',
      accept: 'application/json',
      ...(json ? { 'content-type': 'application/json' } : {}),
    };
  }

  private fail(failure: XFailure): XError {
    return fromXFailure(failure, 'cookie', this.connection);
  }
}

/** A ct0 as X sets it (hex today); anything else in its place is not used. */
const CT0 = /^[A-Za-z0-9]{20,400}$/;

/**
 * Gets a CSRF token (ct0) for a session from X itself, so an owner pastes only auth_token. X answers a web API
 * request that carries the auth_token cookie without a matching ct0 with 403 (code 353) and `Set-Cookie: ct0=…`,
 * exactly as it gives a browser that holds only auth_token its ct0; should the API not set one, x.com's front page
 * does (a browser opening x.com gets it there). The ct0 says nothing about whether X accepts the auth_token (X checks
 * the CSRF pair first): the caller checks the pair with `me()` next. Errors are XErrors whose descriptions and causes
 * never hold the cookie.
 */
export async function obtainCt0(options: WebClientOptions, authToken: string): Promise<string> {
  const api = await ct0From(options, '/i/api/1.1/account/verify_credentials.json?include_entities=false&skip_status=true', authToken);
  if (api.ct0) return api.ct0;
  // No ct0 and a refusal: X does not know the session (signed out, expired).
  if (api.status === 401 || api.status === 403) throw fromXFailure({ kind: 'status', status: api.status, codes: [32] }, 'cookie');
  const page = await ct0From(options, '/', authToken);
  if (page.ct0) return page.ct0;
  throw fromXFailure({ kind: 'malformed', detail: `no ct0 cookie in X's answers (HTTP ${api.status}, ${page.status})` }, 'cookie');
}

/** One request with the auth_token cookie alone: its status, and the ct0 X set, if it set one that looks like one. */
async function ct0From(options: WebClientOptions, path: string, authToken: string): Promise<{ status: number; ct0?: string }> {
  let res: Response;
  try {
    res = await fetch(`${options.baseUrl}${path}`, {
      method: 'GET',
      headers: {
        ...(path.startsWith('/i/api/') ? { authorization: `Bearer ${options.bearer}`, accept: 'application/json' } : {}),
        cookie: `auth_token=${authToken}`,
        'x-twitter-active-user': 'yes',
        'x-twitter-client-language': 'en',
      },
      redirect: 'manual',
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    await res.arrayBuffer();
  } catch (error) {
    throw fromXFailure(isTimeout(error) ? { kind: 'timeout' } : { kind: 'network' }, 'cookie');
  }
  const ct0 = res.headers
    .getSetCookie()
    .map((line) => /^\s*ct0=([^;]*)/.exec(line)?.[1])
    .find((value): value is string => value !== undefined && CT0.test(value));
  return { status: res.status, ...(ct0 ? { ct0 } : {}) };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** AbortSignal.timeout rejects with a DOMException named TimeoutError (not always `instanceof Error` across realms). */
function isTimeout(error: unknown): boolean {
  const { name, cause } = (error ?? {}) as { name?: unknown; cause?: { name?: unknown } };
  return name === 'TimeoutError' || cause?.name === 'TimeoutError';
}
