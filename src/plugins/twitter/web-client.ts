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
