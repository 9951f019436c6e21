import type { Config } from '../../config.js';
import { AppError } from '../../errors.js';
import type { UpstreamAccess } from '../plugin.js';
import { lazy } from '../../lazy.js';
import { XWebClient, type XCookie } from './web-client.js';
import { DEFAULT_QUERY_IDS, type NewPost } from './web-graphql.js';
import type { XUser } from './web-client.js';

/** What the routes and actions do with an owner's X account, whichever way it was connected. */
export interface XAccount {
  me(): Promise<XUser>;
  post(post: NewPost): Promise<{ id: string; text: string }>;
  remove(id: string): Promise<void>;
  tweets(limit: number): Promise<{ id: string; text: string }[]>;
}

/** X API v2's client (twitter-api-v2), loaded when an OAuth-connected X account is first used. */
const apiClient = lazy(() => import('./api-client.js'));

/**
 * Opens the right client for a connection: a pasted cookie talks to X's web API, an OAuth connection to API v2
 * with the fresh access token the kit handed over. The upstream user id saved at connect time saves a call.
 */
export function xAccount(config: Config, access: UpstreamAccess): XAccount {
  const { connection } = access;
  const timeoutMs = config.UPSTREAM_TIMEOUT_MS;
  const opening =
    connection.kind === 'x.cookie'
      ? new XWebClient(
          {
            baseUrl: config.X_WEB_URL,
            bearer: config.X_WEB_BEARER,
            queryIds: { ...DEFAULT_QUERY_IDS, ...config.X_WEB_QUERY_IDS },
            timeoutMs,
          },
          cookieOf(access),
          connection,
        )
      : connection.kind === 'oauth2' && access.accessToken
        ? apiClient().then(({ XApiClient }) => new XApiClient({ baseUrl: config.X_API_URL, timeoutMs }, access.accessToken!, connection))
        : undefined;
  // Only the kinds this plugin defines reach here; anything else is a programming error, not the caller's.
  if (!opening) throw new AppError('server_error', 500, `no X client for connection kind ${connection.kind}`, { expose: false });
  const client = Promise.resolve(opening);

  const userId = async () => (typeof connection.meta.user_id === 'string' ? connection.meta.user_id : (await (await client).me()).id);
  return {
    me: async () => (await client).me(),
    post: async (post) => (await client).post(post),
    remove: async (id) => (await client).remove(id),
    tweets: async (limit) => (await client).tweets(await userId(), limit),
  };
}

function cookieOf(access: UpstreamAccess): XCookie {
  const { auth_token, ct0 } = access.secret;
  if (typeof auth_token !== 'string' || typeof ct0 !== 'string') {
    throw new AppError('server_error', 500, 'stored X cookie is incomplete', { expose: false });
  }
  return { auth_token, ct0 };
}
