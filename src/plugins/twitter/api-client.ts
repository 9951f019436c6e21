import http from 'node:http';
import { ApiPartialResponseError, ApiRequestError, ApiResponseError, TwitterApi, TwitterApiv2 } from 'twitter-api-v2';
import { z } from 'zod';
import { fromXFailure, retryAfterFrom, type XError, type XFailure } from './errors.js';
import type { NewPost } from './web-graphql.js';
import type { XUser } from './web-client.js';
import type { Connection } from '../plugin.js';

export interface ApiClientOptions {
  /** X_API_URL: https://api.x.com, or a fake X in the tests. */
  baseUrl: string;
  timeoutMs: number;
}

/**
 * twitter-api-v2 always sends through node:https. For a plain-http base (a fake X on 127.0.0.1, an egress proxy)
 * an http.Agent makes the same request speak HTTP: node checks the URL's scheme against the agent's protocol.
 */
const plainHttp = new http.Agent({ keepAlive: true });

/**
 * The v2 client with its base URL moved to X_API_URL. twitter-api-v2 keeps the prefix protected, and its public
 * `cloneWithPrefix` calls the class constructor without `new` (a TypeError), so a subclass sets it.
 */
class RebasedV2 extends TwitterApiv2 {
  constructor(client: TwitterApi, prefix: string) {
    super(client);
    this.setPrefix(prefix);
  }
}

const Tweet = z.object({ id: z.string().regex(/^\d+$/), text: z.string() });
const User = z.object({ id: z.string().regex(/^\d+$/), username: z.string(), name: z.string().default('') });

/**
 * X API v2 with the owner's OAuth 2.0 user token, through the twitter-api-v2 library. Its v2 client
 * takes its base from a prefix, which we point at X_API_URL (RebasedV2); a request-config plugin sets the socket timeout, and a
 * deadline bounds the whole call. Failures leave as XErrors from errors.ts, without the token.
 */
export class XApiClient {
  private readonly v2: TwitterApiv2;

  constructor(
    private readonly options: ApiClientOptions,
    accessToken: string,
    private readonly connection?: Connection,
  ) {
    const timeout = options.timeoutMs;
    const client = new TwitterApi(accessToken, {
      ...(options.baseUrl.startsWith('http:') ? { httpAgent: plainHttp } : {}),
      plugins: [{ onBeforeRequestConfig: ({ params }) => void (params.timeout = timeout) }],
    });
    this.v2 = new RebasedV2(client, `${options.baseUrl}/2/`);
  }

  async me(): Promise<XUser> {
    const reply = await this.run(() => this.v2.me());
    return this.shape(User, reply.data);
  }

  async post(post: NewPost): Promise<{ id: string; text: string }> {
    const reply = await this.run(() =>
      this.v2.tweet({
        text: post.text,
        ...(post.reply_to ? { reply: { in_reply_to_tweet_id: post.reply_to } } : {}),
        ...(post.quote ? { quote_tweet_id: post.quote } : {}),
      }),
    );
    return this.shape(Tweet, reply.data);
  }

  async remove(id: string): Promise<void> {
    const reply = await this.run(() => this.v2.deleteTweet(id));
    if (reply.data?.deleted !== true) throw this.fail({ kind: 'malformed', detail: 'delete not confirmed' });
  }

  async tweets(userId: string, limit: number): Promise<{ id: string; text: string }[]> {
    // X accepts max_results from 5 to 100; fewer are cut here.
    const page = await this.run(() => this.v2.userTimeline(userId, { max_results: Math.max(5, limit), exclude: ['retweets'] }));
    return this.shape(z.array(Tweet), page.tweets ?? []).slice(0, limit);
  }

  private shape<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
    const parsed = schema.safeParse(value);
    if (!parsed.success) throw this.fail({ kind: 'malformed', detail: 'unexpected X API reply' });
    return parsed.data;
  }

  private async run<T>(call: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(this.fail({ kind: 'timeout' })), this.options.timeoutMs + 50);
    });
    try {
      return await Promise.race([call(), deadline]);
    } catch (error) {
      throw this.translate(error);
    } finally {
      clearTimeout(timer);
    }
  }

  /** twitter-api-v2's errors keep the request (with our bearer token) and X's headers: only a summary goes on. */
  private translate(error: unknown): unknown {
    if (error instanceof ApiResponseError) {
      const data = error.data as { errors?: { code?: unknown }[]; detail?: unknown } | undefined;
      const codes = (data?.errors ?? []).flatMap((e) => (typeof e?.code === 'number' ? [e.code] : []));
      const detail = typeof data?.detail === 'string' ? data.detail : undefined;
      const headers = { get: (name: string) => String(error.headers?.[name] ?? '') || null };
      return this.fail({
        kind: 'status',
        status: error.code,
        codes,
        ...(detail ? { detail } : {}),
        ...(error.code === 429 ? { retryAfter: retryAfterFrom(headers) } : {}),
      });
    }
    if (error instanceof ApiRequestError) {
      const inner = (error as unknown as { _options?: { error?: Error } })._options?.error;
      return this.fail(inner?.message === 'Request timeout.' ? { kind: 'timeout' } : { kind: 'network' });
    }
    if (error instanceof ApiPartialResponseError) return this.fail({ kind: 'malformed', detail: 'unreadable X API reply' });
    return error;
  }

  private fail(failure: XFailure): XError {
    return fromXFailure(failure, 'oauth', this.connection);
  }
}
